package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"hearth/internal/crashtest"
)

// crashHub is a hub child process as crashtest drives it.
type crashHub struct{ p *hubProcess }

func (h crashHub) MQTTAddr() string { return h.p.mqttAddr }
func (h crashHub) HTTPAddr() string { return h.p.httpAddr }

func (h crashHub) Kill() error {
	if err := h.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	_ = h.p.cmd.Wait() // "signal: killed"
	return nil
}

func (h crashHub) Stop() error {
	if err := h.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	return h.p.cmd.Wait()
}

// TestCrashCycles kills the hub with SIGKILL while four clients publish
// QoS 1 messages, restarts it on the same folder, and checks each time that
// every acknowledged message is in the log (exactly once unless a crash
// made its client send it again), that SQLite's integrity check passes,
// that the persisted device state equals the fold of the log and what the
// restarted hub serves, and that the delay pending at the kill fires after
// the restart. scripts/crash runs the same cycles many times on a release
// build; docs/reliability.md has the rule and the figures.
func TestCrashCycles(t *testing.T) {
	cycles := 3
	if testing.Short() {
		cycles = 1
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	sum, err := crashtest.Run(context.Background(), crashtest.Config{
		Dir:     t.TempDir(),
		Cycles:  cycles,
		Clients: 4,
		Seed:    seed,
		Start: func(_ context.Context, data, automations string) (crashtest.Hub, error) {
			return crashHub{startHubProcess(t, data, "--automations", automations, "--log-level", "warn")}, nil
		},
		Report: func(r crashtest.CycleResult) {
			name := fmt.Sprintf("cycle %d", r.Cycle)
			if r.Final {
				name = "after a clean stop"
			}
			t.Logf("%s: published %d, acked %d, in flight %d, logged %d, duplicates %d, lost %d, timer pending %t fired %t, restart %v",
				name, r.Published, r.Acked, r.InFlight, r.Logged, r.Duplicates, len(r.Lost), r.TimerPending, r.TimerFired, r.Restart)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range sum.Problems() {
		t.Error(p)
	}
	exercised := 0
	for _, c := range sum.Cycles {
		if c.TimerPending {
			exercised++
		}
	}
	if exercised == 0 {
		t.Error("no cycle killed the hub while its delay was pending")
	}
	if sum.Final.Acked != sum.Final.Published {
		t.Errorf("%d of %d messages acknowledged in the end", sum.Final.Acked, sum.Final.Published)
	}
}
