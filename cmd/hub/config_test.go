package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFileAndFlags(t *testing.T) {
	file := writeFile(t, "hub.yaml", `
mqtt: 127.0.0.1:1884
http: :9090
data: /var/lib/hearth
base_topic: house
log_level: debug
location: {latitude: 52.37, longitude: 4.89}
`)
	t.Run("the file sets what no flag sets", func(t *testing.T) {
		c, err := parseFlags([]string{"--config", file}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if c.MQTTAddr != "127.0.0.1:1884" || c.HTTPAddr != ":9090" || c.DataDir != "/var/lib/hearth" ||
			c.BaseTopic != "house" || c.LogLevel != slog.LevelDebug || c.Location.Latitude != 52.37 {
			t.Fatalf("config %+v", c)
		}
	})
	t.Run("a flag overrides the file", func(t *testing.T) {
		c, err := parseFlags([]string{"--config", file, "--http", ":8081", "--log-level", "warn"}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if c.HTTPAddr != ":8081" || c.LogLevel != slog.LevelWarn || c.MQTTAddr != "127.0.0.1:1884" {
			t.Fatalf("config %+v", c)
		}
	})
	t.Run("without a file the defaults hold", func(t *testing.T) {
		c, err := parseFlags(nil, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if c.MQTTAddr != ":1883" || c.HTTPAddr != ":8080" || c.DataDir != "./data" || c.BaseTopic != "home" {
			t.Fatalf("config %+v", c)
		}
	})
	t.Run("hub config prints the effective configuration", func(t *testing.T) {
		var out, errs bytes.Buffer
		if code := run([]string{"config", "--config", file, "--mqtt", ":2883"}, &out, &errs); code != 0 {
			t.Fatalf("exit %d: %s", code, errs.String())
		}
		for _, want := range []string{"mqtt: :2883", "http: :9090", "base_topic: house", "latitude: 52.37"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("hub config output lacks %q:\n%s", want, out.String())
			}
		}
	})
}

func TestBadConfigFilesNameTheLine(t *testing.T) {
	cases := map[string]struct{ body, want string }{
		"an unknown key":       {"mqtt: :1883\ncolour: red\n", ":2:"},
		"a wrong type":         {"demo: maybe\n", ":1:"},
		"a bad latitude":       {"location: {latitude: 123, longitude: 0}\n", "latitude"},
		"a bad listen address": {"http: nowhere\n", "http"},
	}
	for name, tc := range cases {
		t.Run(name+" is refused", func(t *testing.T) {
			file := writeFile(t, "hub.yaml", tc.body)
			var out, errs bytes.Buffer
			if code := run([]string{"--config", file}, &out, &errs); code != 2 {
				t.Fatalf("exit %d, want 2; stderr %s", code, errs.String())
			}
			if !strings.Contains(errs.String(), tc.want) {
				t.Fatalf("stderr %q does not mention %q", errs.String(), tc.want)
			}
		})
	}
	t.Run("a missing file is refused", func(t *testing.T) {
		var out, errs bytes.Buffer
		if code := run([]string{"--config", "/nonexistent/hub.yaml"}, &out, &errs); code != 2 || !strings.Contains(errs.String(), "nonexistent") {
			t.Fatalf("exit %d, stderr %s", code, errs.String())
		}
	})
}
