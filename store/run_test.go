package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth"
)

func TestRunRoundTrip(t *testing.T) {
	st := openStore(t)
	r := startRun(t, st)
	utc := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)
	published := r.publish(t,
		hearth.Event{Kind: hearth.KindMessage, Topic: "home/hall_motion", Client: "z2m", Payload: []byte(`{"occupancy":true}`), QoS: 1},
		hearth.Event{Kind: hearth.KindState, Device: "hall_motion", Payload: []byte(`{"occupancy":true}`), Prev: []byte(`{"occupancy":false}`), Cause: hearth.Cause{Seq: 1}},
		hearth.Event{Kind: hearth.KindRun, Payload: []byte(`{"automation":"hall"}`), Cause: hearth.Cause{Seq: 2, Run: "hall#1", Source: "automation"}},
		hearth.Event{Kind: hearth.KindCommand, Topic: "home/hall_light/set", Device: "hall_light", Payload: []byte(`{"state":"ON"}`), QoS: 2, Retain: true, Cause: hearth.Cause{Seq: 2, Run: "hall#1", Source: "automation"}},
		hearth.Event{Kind: hearth.KindAvailability, Topic: "home/hall_light/availability", Device: "hall_light", Payload: []byte("offline"), Retain: true},
		hearth.Event{Kind: hearth.KindMessage, Topic: "bin", Payload: []byte{0, 0xff, 0xfe, '\n'}, Time: utc},
		hearth.Event{Kind: hearth.KindMessage, Topic: "empty"},
	)
	r.waitDurable(t, published[len(published)-1].Seq)
	sameEvents(t, replayAll(t, st), published)

	t.Run("Replay starts at from and stops at fn's error", func(t *testing.T) {
		var got []hearth.Event
		stop := errors.New("enough")
		err := st.Replay(context.Background(), 3, func(e hearth.Event) error {
			got = append(got, e)
			if len(got) == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) {
			t.Fatalf("Replay returned %v, want fn's error", err)
		}
		sameEvents(t, got, published[2:4])
	})

	t.Run("Event returns one event and ErrNotFound past the end", func(t *testing.T) {
		e, err := st.Event(context.Background(), 4)
		if err != nil {
			t.Fatal(err)
		}
		if d := eventDiff(e, published[3]); d != "" {
			t.Fatal(d)
		}
		_, err = st.Event(context.Background(), 99)
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Event(99) = %v, want ErrNotFound", err)
		}
		var nf interface{ NotFound() bool }
		if !errors.As(err, &nf) || !nf.NotFound() {
			t.Fatalf("Event(99) error %v does not say NotFound()", err)
		}
	})
}

func TestRunGroupCommit(t *testing.T) {
	ctx := context.Background()

	t.Run("events waiting on the bus are committed in batches of up to batchSize", func(t *testing.T) {
		st := openStore(t)
		b := hearth.NewBus(hearth.BusOptions{Durable: true})
		sub := b.Subscribe("store", hearth.MustNotMiss)
		const n = 2*batchSize + 10
		var want []hearth.Event
		for i := range n {
			e, err := b.Publish(hearth.Event{Kind: hearth.KindMessage, Topic: fmt.Sprintf("home/d%d", i%7), Payload: fmt.Appendf(nil, `{"i":%d}`, i)})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, e)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- st.Run(runCtx, sub, b) }()
		defer func() { b.Close(); cancel(); <-done }()

		waitCtx, stop := context.WithTimeout(ctx, time.Minute)
		defer stop()
		if err := b.WaitDurable(waitCtx, n); err != nil {
			t.Fatal(err)
		}
		if got := st.batches.Load(); got != 3 {
			t.Fatalf("%d events took %d commits, want 3", n, got)
		}
		sameEvents(t, replayAll(t, st), want) // also crosses Replay's chunks
	})

	t.Run("concurrent publishers waiting for durability all get it and share commits", func(t *testing.T) {
		st := openStore(t)
		r := startRun(t, st)
		const publishers, each = 4, 50
		var wg sync.WaitGroup
		errs := make(chan error, publishers)
		for p := range publishers {
			wg.Go(func() {
				for i := range each {
					e, err := r.bus.Publish(hearth.Event{Kind: hearth.KindMessage, Client: fmt.Sprint(p), QoS: byte(i % 2)})
					if err == nil && e.QoS == 1 {
						err = r.bus.WaitDurable(ctx, e.Seq)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		last := r.bus.NextSeq() - 1
		r.waitDurable(t, last)
		commits := st.batches.Load()
		t.Logf("%d events in %d commits", last, commits)
		if commits == 0 || commits > last {
			t.Fatalf("%d commits for %d events", commits, last)
		}
		if got, err := st.LastSeq(ctx); err != nil || got != publishers*each {
			t.Fatalf("LastSeq = %d, %v; want %d", got, err, publishers*each)
		}
	})
}

func TestRunStops(t *testing.T) {
	ctx := context.Background()

	t.Run("after bus.Close Run commits everything and returns nil", func(t *testing.T) {
		st := openStore(t)
		r := startRun(t, st)
		const publishers, each = 3, 60
		var wg sync.WaitGroup
		for p := range publishers {
			wg.Go(func() {
				for range each {
					if _, err := r.bus.Publish(hearth.Event{Kind: hearth.KindMessage, Client: fmt.Sprint(p)}); err != nil {
						t.Errorf("publish: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err := r.stop(); err != nil {
			t.Fatalf("Run returned %v after Close, want nil", err)
		}
		events := replayAll(t, st)
		if len(events) != publishers*each {
			t.Fatalf("log holds %d events, want %d", len(events), publishers*each)
		}
		for i, e := range events {
			if e.Seq != uint64(i+1) {
				t.Fatalf("event %d has seq %d", i, e.Seq)
			}
		}
		if d := r.bus.Durable(); d != publishers*each {
			t.Fatalf("bus Durable = %d after the drain, want %d", d, publishers*each)
		}
	})

	t.Run("a cancelled Run returns ctx.Err with every committed batch marked and nothing half-written", func(t *testing.T) {
		st := openStore(t)
		b := hearth.NewBus(hearth.BusOptions{Durable: true, Size: 256})
		r := startRunOn(t, st, b)
		published := make(chan struct{})
		go func() {
			defer close(published)
			for i := 0; ; i++ {
				_, err := b.Publish(hearth.Event{Kind: hearth.KindState, Device: fmt.Sprint("d", i%3), Payload: fmt.Appendf(nil, `{"i":%d}`, i)})
				if err != nil {
					return // closed by the cleanup
				}
			}
		}()
		r.waitDurable(t, 100)
		r.cancel()
		if err := <-r.done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
		r.done <- nil
		b.Close()
		<-published

		last, err := st.LastSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, stateSeq, err := st.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := b.Durable(); last != d || stateSeq != last {
			t.Fatalf("log ends at %d, bus durable at %d, devices at %d: want all equal", last, d, stateSeq)
		}
	})

	t.Run("a write error fails durability, returns the error and leaves the batch out", func(t *testing.T) {
		st := openStore(t)
		commitDirect(t, st, messages(5))
		// A bus that restarts numbering at 5 collides with the log.
		b := hearth.NewBus(hearth.BusOptions{NextSeq: 5, Durable: true})
		sub := b.Subscribe("store", hearth.MustNotMiss)
		for range 3 {
			if _, err := b.Publish(hearth.Event{Kind: hearth.KindMessage, Topic: "again"}); err != nil {
				t.Fatal(err)
			}
		}
		var fd failRecorder
		err := st.Run(ctx, sub, &fd)
		if err == nil || fd.err == nil || fd.marked != 0 {
			t.Fatalf("Run = %v, FailDurable(%v), marked %d; want an error, reported, nothing marked", err, fd.err, fd.marked)
		}
		b.FailDurable(fd.err)
		if err := b.WaitDurable(ctx, 5); err == nil || errors.Is(err, hearth.ErrClosed) {
			t.Fatalf("WaitDurable = %v, want the write error", err)
		}
		b.Close()
		if last, err := st.LastSeq(ctx); err != nil || last != 5 {
			t.Fatalf("LastSeq = %d, %v; want 5", last, err)
		}
		if _, err := st.Event(ctx, 6); !errors.Is(err, ErrNotFound) {
			t.Fatalf("event 6 of the failed batch: %v, want ErrNotFound", err)
		}
	})
}

func TestRunGap(t *testing.T) {
	t.Run("a subscription that skipped events fails durability instead of logging a gap", func(t *testing.T) {
		st := openStore(t)
		b := hearth.NewBus(hearth.BusOptions{Durable: true, Size: 64})
		sub := b.Subscribe("store", hearth.MayLag) // wrong on purpose
		for range 100 {
			if _, err := b.Publish(hearth.Event{Kind: hearth.KindMessage}); err != nil {
				t.Fatal(err)
			}
		}
		var fd failRecorder
		if err := st.Run(context.Background(), sub, &fd); !errors.Is(err, hearth.ErrGap) || !errors.Is(fd.err, hearth.ErrGap) {
			t.Fatalf("Run = %v, FailDurable(%v); want ErrGap for both", err, fd.err)
		}
		b.Close()
		if last, err := st.LastSeq(context.Background()); err != nil || last != 0 {
			t.Fatalf("LastSeq = %d, %v; want an empty log", last, err)
		}
	})
}

func TestCommit(t *testing.T) {
	ctx := context.Background()
	msg := func(seq uint64) hearth.Event {
		return hearth.Event{Seq: seq, Kind: hearth.KindMessage, Topic: "home/hall", Payload: []byte(`{"n":1}`), QoS: 1}
	}

	t.Run("a batch that fails halfway leaves none of its events, names the event, and the next one goes in", func(t *testing.T) {
		st := openStore(t)
		commitDirect(t, st, []hearth.Event{msg(1), msg(3)})
		err := st.commit(ctx, newBatchWriter(), []hearth.Event{msg(2), msg(3), msg(4)})
		if err == nil || !strings.Contains(err.Error(), "insert event 3: ") {
			t.Fatalf("commit = %v, want the error of inserting event 3", err)
		}
		if got := seqs(replayAll(t, st)); !slices.Equal(got, []uint64{1, 3}) {
			t.Fatalf("after the failed batch the log holds %v, want [1 3]", got)
		}
		if got, err := st.Events(ctx, Query{Topic: "home/hall"}); err != nil || len(got) != 2 {
			t.Fatalf("after the failed batch Events finds %d, %v; want the 2 committed", len(got), err)
		}
		// The failed transaction is gone from the writer connection, or
		// this one could not begin.
		commitDirect(t, st, []hearth.Event{msg(2), msg(4)})
		if got := seqs(replayAll(t, st)); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
			t.Fatalf("after the next batch the log holds %v, want [1 2 3 4]", got)
		}
	})
}

// failRecorder is a Durability that records what it is told.
type failRecorder struct {
	marked uint64
	err    error
}

func (f *failRecorder) MarkDurable(seq uint64) { f.marked = seq }
func (f *failRecorder) FailDurable(err error)  { f.err = err }
func (f *failRecorder) Publish(e hearth.Event) (hearth.Event, error) {
	return e, errors.New("failRecorder publishes nothing")
}
