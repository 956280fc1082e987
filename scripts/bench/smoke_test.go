package main

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestSmoke drives the hub, and Mosquitto alone when it is installed, with
// the real generator at a low rate for 2 s per QoS: every event must get
// its command, with a latency above zero. It takes about 15 s; -short
// skips it.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the hub and drives it for a few seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := options{Warmup: 200 * time.Millisecond, Drain: 5 * time.Second}
	const pairs = 20

	t.Run("the hub answers every event", func(t *testing.T) {
		dir := t.TempDir()
		auto := dir + "/automations.yaml"
		if err := writeAutomations(auto, pairs); err != nil {
			t.Fatal(err)
		}
		tg, err := newHubTarget(ctx, hubBinary(t), dir, auto, "")
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := tg.Close(); err != nil {
				t.Errorf("stop the hub: %v", err)
			}
		}()
		smoke(ctx, t, o, tg, pairs)
	})

	t.Run("mosquitto alone answers every event", func(t *testing.T) {
		if _, err := os.Stat(mosquittoBin); err != nil {
			t.Skip("mosquitto is not installed")
		}
		tg, err := newEchoTarget(ctx, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := tg.Close(); err != nil {
				t.Errorf("stop mosquitto: %v", err)
			}
		}()
		smoke(ctx, t, o, tg, pairs)
	})
}

func smoke(ctx context.Context, t *testing.T, o options, tg target, pairs int) {
	t.Helper()
	l, err := connectLoad(ctx, loadConfig{Addr: tg.Addr(), Pairs: pairs, Lux: pairs, Clients: pairs / 2, Publishers: 2, CommandTopic: tg.CommandTopic})
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	if err := l.probe(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, qos := range []byte{0, 1} {
		r := measure(ctx, o, tg, l, runSpec{kind: "fixed", rate: 50, qos: qos, duration: 2 * time.Second})
		if r.Sent < 90 {
			t.Errorf("QoS %d: sent %d events in 2 s at 50/s, want about 100", qos, r.Sent)
		}
		if r.Lost != 0 || r.Received != r.Sent {
			t.Errorf("QoS %d: sent %d, received %d, lost %d; want nothing lost", qos, r.Sent, r.Received, r.Lost)
		}
		if r.Latency.P50 <= 0 || r.Latency.Max < r.Latency.P99 || r.Latency.P99 < r.Latency.P50 {
			t.Errorf("QoS %d: latency %+v, want 0 < p50 <= p99 <= max", qos, r.Latency)
		}
		if qos == 1 && (r.PubAck == nil || r.PubAck.Count != r.Sent) {
			t.Errorf("QoS 1: PUBACKs %+v, want one per event sent (%d)", r.PubAck, r.Sent)
		}
		if r.Unexpected != 0 || r.Disconnects != 0 {
			t.Errorf("QoS %d: %d unexpected commands, %d disconnects; want none", qos, r.Unexpected, r.Disconnects)
		}
		if len(r.Procs) == 0 || r.Procs[0].RSS <= 0 {
			t.Errorf("QoS %d: no memory figure for the target: %+v", qos, r.Procs)
		}
	}
}
