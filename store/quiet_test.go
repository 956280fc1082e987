package store

import (
	"context"
	"testing"
	"time"

	"hearth"
)

func TestQuietBatchesShareACommit(t *testing.T) {
	st := openStore(t)
	// So long that only a message somebody waits for can end the wait.
	st.SetQuietDelay(time.Hour)
	bus := hearth.NewBus(hearth.BusOptions{Durable: true, NextSeq: 1})
	startRunOn(t, st, bus)

	for i := 0; i < 10; i++ {
		if _, err := bus.Publish(hearth.Event{Kind: hearth.KindMessage, Topic: "home/door", Payload: []byte(`{"contact":true}`)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // one at a time, as a quiet house sends them
	}
	acked, err := bus.Publish(hearth.Event{Kind: hearth.KindMessage, Topic: "home/lock", QoS: 1, Payload: []byte(`{"locked":true}`)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.WaitDurable(ctx, acked.Seq); err != nil {
		t.Fatalf("a QoS 1 message waited for the quiet delay: %v", err)
	}
	if n := st.batches.Load(); n != 1 {
		t.Fatalf("%d commits for 10 quiet events and one acknowledged message, want 1", n)
	}
	if got := len(replayAll(t, st)); got != 11 {
		t.Fatalf("log holds %d events, want 11", got)
	}
}
