package main

import (
	"net/http"
	"testing"
)

func TestPprofIsServedOnlyWhenAsked(t *testing.T) {
	t.Run("without --pprof the hub serves no profiles", func(t *testing.T) {
		app, _ := startHub(t, "")
		if app.pprof != nil {
			t.Fatal("a profiler runs without --pprof")
		}
		resp, err := http.Get("http://" + app.HTTPAddr().String() + "/debug/pprof/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the web server serves the profiles")
		}
	})
	t.Run("with --pprof the profiles are served on that address", func(t *testing.T) {
		app, _ := startHubWith(t, "", func(c *Config) { c.Pprof = "127.0.0.1:0" })
		if app.pprof == nil {
			t.Fatal("no profiler")
		}
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/mutex"} {
			resp, err := http.Get("http://" + app.pprof.Addr().String() + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %s", path, resp.Status)
			}
		}
	})
}

func TestPprofFlagWantsAnAddress(t *testing.T) {
	if _, err := parseFlags([]string{"--pprof", "6060"}, nil); err == nil {
		t.Fatal("--pprof 6060 accepted")
	}
	cfg, err := parseFlags([]string{"--pprof", "127.0.0.1:6060"}, nil)
	if err != nil || cfg.Pprof != "127.0.0.1:6060" {
		t.Fatalf("--pprof 127.0.0.1:6060: %v, %q", err, cfg.Pprof)
	}
}
