package main

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

func TestWebUsersGuardTheHub(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	run := func(input string, args ...string) (int, string) {
		t.Helper()
		var out, errs bytes.Buffer
		code := userCommand(append(args, "--data", data, "--web"), strings.NewReader(input), &out, &errs)
		return code, out.String() + errs.String()
	}
	if code, out := run("correct horse\n", "add", "ann"); code != 0 {
		t.Fatalf("add: %d %s", code, out)
	}
	if code, _ := run("short\n", "add", "bob"); code == 0 {
		t.Fatal("a short password was accepted")
	}
	if code, out := run("", "list"); code != 0 || out != "ann\n" {
		t.Fatalf("list: %d %q", code, out)
	}

	app, _ := startHubWith(t, "", func(c *Config) { c.DataDir = data })
	base := "http://" + app.HTTPAddr().String()
	t.Run("the API answers 401 without a login, even on loopback", func(t *testing.T) {
		res, err := http.Get(base + "/api/devices")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%d", res.StatusCode)
		}
	})
	t.Run("the user made with hub user add --web logs in", func(t *testing.T) {
		res, err := http.Post(base+"/api/login", "application/json", strings.NewReader(`{"name":"ann","password":"correct horse"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || len(res.Cookies()) != 1 {
			t.Fatalf("%d %v", res.StatusCode, res.Cookies())
		}
	})
}
