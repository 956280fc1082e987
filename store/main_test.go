package store

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"hearth"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger logs warnings and errors into the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// openStore opens a store in a new temporary folder, closed at cleanup.
func openStore(t testing.TB) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "hearth.db"))
}

func openAt(t testing.TB, path string) *Store {
	t.Helper()
	st, err := Open(path, testLogger(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	// Commit every batch at once; TestQuietBatchesShareACommit covers the delay.
	st.SetQuietDelay(0)
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return st
}

// running is a store's Run on a durable bus, in a goroutine the test owns.
type running struct {
	bus    *hearth.Bus
	cancel context.CancelFunc
	done   chan error
}

// startRun starts st.Run on a new durable bus whose first event follows the
// log's last. Cleanup closes the bus and waits for Run.
func startRun(t testing.TB, st *Store) *running {
	t.Helper()
	last, err := st.LastSeq(context.Background())
	if err != nil {
		t.Fatalf("last seq: %v", err)
	}
	b := hearth.NewBus(hearth.BusOptions{NextSeq: last + 1, Durable: true})
	return startRunOn(t, st, b)
}

func startRunOn(t testing.TB, st *Store, b *hearth.Bus) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{bus: b, cancel: cancel, done: make(chan error, 1)}
	sub := b.Subscribe("store", hearth.MustNotMiss)
	go func() { r.done <- st.Run(ctx, sub, b) }()
	t.Cleanup(func() {
		b.Close()
		cancel()
		<-r.done
	})
	return r
}

// stop closes the bus and returns what Run returned.
func (r *running) stop() error {
	r.bus.Close()
	err := <-r.done
	r.done <- err // for the cleanup
	return err
}

// publish publishes events in order and returns them as published.
func (r *running) publish(t testing.TB, events ...hearth.Event) []hearth.Event {
	t.Helper()
	out := make([]hearth.Event, 0, len(events))
	for _, e := range events {
		p, err := r.bus.Publish(e)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		out = append(out, p)
	}
	return out
}

// waitDurable waits until seq is committed.
func (r *running) waitDurable(t testing.TB, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.bus.WaitDurable(ctx, seq); err != nil {
		t.Fatalf("wait durable %d: %v", seq, err)
	}
}

// replayAll returns the whole log.
func replayAll(t testing.TB, st *Store) []hearth.Event {
	t.Helper()
	var out []hearth.Event
	if err := st.Replay(context.Background(), 0, func(e hearth.Event) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatalf("replay: %v", err)
	}
	return out
}

// eventDiff describes how got differs from want, field by field, or "".
func eventDiff(got, want hearth.Event) string {
	var d []string
	check := func(field string, same bool, g, w any) {
		if !same {
			d = append(d, fmt.Sprintf("%s: got %v, want %v", field, g, w))
		}
	}
	check("Seq", got.Seq == want.Seq, got.Seq, want.Seq)
	check("Time", got.Time.Equal(want.Time), got.Time, want.Time)
	check("Kind", got.Kind == want.Kind, got.Kind, want.Kind)
	check("Topic", got.Topic == want.Topic, got.Topic, want.Topic)
	check("Device", got.Device == want.Device, got.Device, want.Device)
	check("Payload", bytes.Equal(got.Payload, want.Payload), got.Payload, want.Payload)
	check("Prev", bytes.Equal(got.Prev, want.Prev), got.Prev, want.Prev)
	check("Client", got.Client == want.Client, got.Client, want.Client)
	check("QoS", got.QoS == want.QoS, got.QoS, want.QoS)
	check("Retain", got.Retain == want.Retain, got.Retain, want.Retain)
	check("Cause", got.Cause == want.Cause, got.Cause, want.Cause)
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

// sameEvents fails the test unless got and want hold the same events.
func sameEvents(t testing.TB, got, want []hearth.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if d := eventDiff(got[i], want[i]); d != "" {
			t.Fatalf("event %d (seq %d): %s", i, want[i].Seq, d)
		}
	}
}

// commitDirect writes events as one group commit without a bus, numbering
// them from the log's last seq + 1 when their Seq is 0.
func commitDirect(t testing.TB, st *Store, events []hearth.Event) []hearth.Event {
	t.Helper()
	ctx := context.Background()
	last, err := st.LastSeq(ctx)
	if err != nil {
		t.Fatalf("last seq: %v", err)
	}
	base := time.Unix(1_700_000_000, 0)
	for i := range events {
		if events[i].Seq == 0 {
			events[i].Seq = last + uint64(i) + 1
		}
		if events[i].Time.IsZero() {
			events[i].Time = base.Add(time.Duration(events[i].Seq) * time.Millisecond)
		}
	}
	if err := st.commit(ctx, newBatchWriter(), events); err != nil {
		t.Fatalf("commit: %v", err)
	}
	// As Run does when it stops: the devices table reflects the log.
	if err := st.snapshotDevices(ctx); err != nil {
		t.Fatalf("snapshot devices: %v", err)
	}
	return events
}

// messages makes n message events on a few topics.
func messages(n int) []hearth.Event {
	out := make([]hearth.Event, n)
	for i := range out {
		out[i] = hearth.Event{Kind: hearth.KindMessage, Topic: fmt.Sprintf("home/d%d", i%3), Payload: fmt.Appendf(nil, `{"i":%d}`, i)}
	}
	return out
}
