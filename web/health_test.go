package web

import (
	"errors"
	"strings"
	"testing"
)

func TestHealthzSaysWhenTheLogCannotBeWritten(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.bus.FailDurable(errors.New("database or disk is full"))
	var body map[string]any
	code := get(t, s.http.URL+"/healthz", &body)
	msg, _ := body["log_error"].(string)
	if code != 503 || body["status"] != "degraded" || !strings.Contains(msg, "disk is full") {
		t.Fatalf("while the disk is full: %d %v; want 503, degraded and why", code, body)
	}

	s.bus.FailDurable(nil)
	body = nil
	if code := get(t, s.http.URL+"/healthz", &body); code != 200 || body["status"] != "ok" || body["log_error"] != nil {
		t.Fatalf("once the disk takes the log again: %d %v; want 200 ok", code, body)
	}
}
