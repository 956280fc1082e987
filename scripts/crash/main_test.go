package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"hearth/internal/crashtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestBadCommandLinesExit2(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"a delay shorter than the kill window", []string{"-delay", "1s", "-kill-within", "2s"}},
		{"an argument that is not a flag", []string{"100"}},
		{"an unknown flag", []string{"-cycle", "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(tc.args, &out, &errOut); code != 2 {
				t.Errorf("exit %d, want 2; stderr %s", code, errOut.String())
			}
		})
	}
}

func TestTheReportShowsViolations(t *testing.T) {
	var out bytes.Buffer
	r := newReport(&out)
	ok := crashtest.CycleResult{Cycle: 1, TimerPending: true, TimerFired: true, Restart: 120 * time.Millisecond}
	ok.Published, ok.Acked, ok.Logged = 10, 8, 9
	bad := crashtest.CycleResult{Cycle: 2, TimerPending: true, Integrity: errors.New("page 3 is never used"),
		Problems: []string{"page 3 is never used", "1 acknowledged messages missing from the log: c0-9"}}
	bad.Lost = []string{"c0-9"}
	r.cycle(ok)
	r.cycle(bad)
	final := crashtest.CycleResult{Final: true}
	r.cycle(final)
	r.summary(crashtest.Summary{Cycles: []crashtest.CycleResult{ok, bad}, Final: final}, time.Minute)
	for _, want := range []string{
		"VIOLATION: page 3 is never used; 1 acknowledged messages missing",
		"FAILED", "LOST", "120ms",
		"acknowledged but missing after a kill: 1",
		"delays pending at the kill 2, fired after the restart 1",
		"result: 1 checks with violations",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report does not say %q:\n%s", want, out.String())
		}
	}
}

func TestOneCycleAgainstAReleaseBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the hub and kills it once")
	}
	var out, errOut bytes.Buffer
	code := run([]string{"-cycles", "1", "-clients", "2", "-delay", "2s", "-kill-within", "500ms", "-dir", t.TempDir()}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "result: every promise held") {
		t.Errorf("no verdict in the report:\n%s", out.String())
	}
}
