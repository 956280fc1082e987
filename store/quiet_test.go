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

func TestAcknowledgedMessagesShareACommitWhenTheyComeFast(t *testing.T) {
	for _, c := range []struct {
		name    string
		clients []string
		serial  bool // each publisher waits for its acknowledgement first
		commits uint64
		held    uint64
	}{
		// The first message finds nobody before it and goes at once; the
		// second comes soon after from another client and waits for the
		// third, which shares its commit.
		{"messages from several clients share a commit", []string{"a", "b", "c"}, false, 2, 1},
		// A lone client waiting for each acknowledgement would only be
		// slowed down by a wait: nothing else can come.
		{"a lone client's messages never wait", []string{"a", "a", "a"}, true, 3, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := openStore(t)
			// Long, so that the test does not depend on the machine's pace.
			st.ackDelay = 200 * time.Millisecond
			bus := hearth.NewBus(hearth.BusOptions{Durable: true, NextSeq: 1})
			startRunOn(t, st, bus)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var last uint64
			for i, client := range c.clients {
				ev, err := bus.Publish(hearth.Event{Kind: hearth.KindMessage, Topic: "home/lock", Client: client, QoS: 1, Payload: []byte(`{"locked":true}`)})
				if err != nil {
					t.Fatal(err)
				}
				last = ev.Seq
				if i == 0 || c.serial {
					if err := bus.WaitDurable(ctx, ev.Seq); err != nil {
						t.Fatal(err)
					}
				} else if i == 1 {
					// The next comes while this one's batch waits for more.
					for st.held.Load() == 0 && ctx.Err() == nil {
						time.Sleep(time.Millisecond)
					}
				}
			}
			if err := bus.WaitDurable(ctx, last); err != nil {
				t.Fatal(err)
			}
			if n := st.batches.Load(); n != c.commits {
				t.Errorf("%d commits, want %d", n, c.commits)
			}
			if n := st.held.Load(); n != c.held {
				t.Errorf("%d batches held for the ack delay, want %d", n, c.held)
			}
		})
	}
}
