package hearth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// readN reads exactly n events from sub, failing the test on any error.
func readN(t *testing.T, sub *Subscription, n int) []Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	buf := make([]Event, 32)
	var out []Event
	for len(out) < n {
		got, err := sub.Read(ctx, buf[:min(len(buf), n-len(out))])
		if err != nil {
			t.Fatalf("read after %d of %d events: %v", len(out), n, err)
		}
		out = append(out, got...)
	}
	return out
}

// waitFor polls cond (a goroutine's progress that nothing signals) until it
// holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// publishersWaiting reports how many publishers wait for room in the ring.
func publishersWaiting(b *Bus) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spaceWait
}

func mustPublish(t *testing.T, b *Bus, e Event) Event {
	t.Helper()
	out, err := b.Publish(e)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return out
}

func TestBusOrdering(t *testing.T) {
	t.Run("concurrent publishers make one gapless stream that keeps each publisher's order", func(t *testing.T) {
		const publishers, each, first = 4, 150, 100
		b := NewBus(BusOptions{NextSeq: first, Size: 64})
		sub := b.Subscribe("log", MustNotMiss)
		var wg sync.WaitGroup
		errs := make(chan error, publishers)
		for p := range publishers {
			wg.Go(func() {
				for i := range each {
					if _, err := b.Publish(Event{Kind: KindMessage, Client: fmt.Sprint(p), Payload: fmt.Append(nil, i)}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		got := readN(t, sub, publishers*each)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("publish: %v", err)
		}
		next := map[string]int{}
		for i, e := range got {
			if e.Seq != uint64(first+i) {
				t.Fatalf("event %d has seq %d, want %d", i, e.Seq, first+i)
			}
			if e.Time.IsZero() {
				t.Fatalf("event %d has no time", e.Seq)
			}
			if want := fmt.Sprint(next[e.Client]); string(e.Payload) != want {
				t.Fatalf("publisher %s: got its event %s, want %s", e.Client, e.Payload, want)
			}
			next[e.Client]++
		}
		if n := b.NextSeq(); n != first+publishers*each {
			t.Fatalf("NextSeq = %d, want %d", n, first+publishers*each)
		}
	})

	t.Run("a time set by the publisher is kept", func(t *testing.T) {
		at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
		b := NewBus(BusOptions{})
		if e := mustPublish(t, b, Event{Kind: KindMessage, Time: at}); !e.Time.Equal(at) || e.Seq != 1 {
			t.Fatalf("published %v seq %d, want %v seq 1", e.Time, e.Seq, at)
		}
	})
}

func TestBusMustNotMiss(t *testing.T) {
	// With a ring of 64, a publisher is admitted while the slowest
	// must-not-miss subscriber is less than 64-reserve events behind.
	const size, total = 64, 150
	const admitted = size - reserve

	t.Run("a publisher blocks a ring behind a subscriber and resumes when it reads", func(t *testing.T) {
		b := NewBus(BusOptions{Size: size})
		sub := b.Subscribe("log", MustNotMiss)
		done := make(chan error, 1)
		go func() {
			for i := range total {
				if _, err := b.Publish(Event{Kind: KindMessage, Payload: fmt.Append(nil, i)}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		waitFor(t, "the publisher waits for room", func() bool { return publishersWaiting(b) == 1 })
		if n := b.NextSeq() - 1; n != admitted {
			t.Fatalf("published %d events before blocking, want %d", n, admitted)
		}
		got := readN(t, sub, total)
		if err := <-done; err != nil {
			t.Fatalf("publish: %v", err)
		}
		for i, e := range got {
			if e.Seq != uint64(i+1) || string(e.Payload) != fmt.Sprint(i) {
				t.Fatalf("event %d: seq %d payload %s", i, e.Seq, e.Payload)
			}
		}
	})

	t.Run("closing the slow subscriber releases the publisher", func(t *testing.T) {
		b := NewBus(BusOptions{Size: size})
		sub := b.Subscribe("automations", MustNotMiss)
		done := make(chan error, 1)
		go func() {
			for range total {
				if _, err := b.Publish(Event{Kind: KindMessage}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		waitFor(t, "the publisher waits for room", func() bool { return publishersWaiting(b) == 1 })
		sub.Close()
		if err := <-done; err != nil {
			t.Fatalf("publish: %v", err)
		}
		if _, err := sub.Read(context.Background(), make([]Event, 1)); !errors.Is(err, ErrClosed) {
			t.Fatalf("read on a closed subscription: %v, want ErrClosed", err)
		}
	})
}

func TestBusMayLag(t *testing.T) {
	t.Run("an overrun subscriber gets ErrGap and continues from the oldest event held", func(t *testing.T) {
		const size, total = 64, 200
		b := NewBus(BusOptions{Size: size})
		page := b.Subscribe("page", MayLag)
		log := b.Subscribe("log", MustNotMiss)
		for i := range total {
			mustPublish(t, b, Event{Kind: KindMessage})
			if i%16 == 15 {
				readN(t, log, 16) // the log keeps up; the page never reads
			}
		}
		buf := make([]Event, 2*size)
		got, err := page.Read(context.Background(), buf)
		if !errors.Is(err, ErrGap) || len(got) != 0 {
			t.Fatalf("first read: %d events, %v; want none and ErrGap", len(got), err)
		}
		got, err = page.Read(context.Background(), buf)
		if err != nil {
			t.Fatalf("read after the gap: %v", err)
		}
		if len(got) != size || got[0].Seq != total-size+1 || got[len(got)-1].Seq != total {
			t.Fatalf("after the gap read %d events %d..%d, want %d..%d",
				len(got), got[0].Seq, got[len(got)-1].Seq, total-size+1, total)
		}
		e := mustPublish(t, b, Event{Kind: KindMessage})
		if got := readN(t, page, 1); got[0].Seq != e.Seq {
			t.Fatalf("next read got seq %d, want %d", got[0].Seq, e.Seq)
		}
	})
}

// twinStage names the device after the topic and emits n state events for
// every message.
type twinStage struct{ n int }

func (s twinStage) Apply(e *Event, emit func(Event)) {
	if e.Kind != KindMessage {
		return
	}
	e.Device = e.Topic
	for i := range s.n {
		emit(Event{Kind: KindState, Device: e.Device, Payload: fmt.Appendf(nil, `{"n":%d}`, i), Cause: Cause{Seq: e.Seq}})
	}
}

func TestBusStages(t *testing.T) {
	t.Run("emitted events get the seqs right after their cause and its time", func(t *testing.T) {
		b := NewBus(BusOptions{NextSeq: 7})
		b.AddStage(twinStage{n: 2})
		sub := b.Subscribe("log", MustNotMiss)
		for _, dev := range []string{"a", "b"} {
			e := mustPublish(t, b, Event{Kind: KindMessage, Topic: dev})
			if e.Device != dev {
				t.Fatalf("Publish returned device %q, want the stage's %q", e.Device, dev)
			}
		}
		got := readN(t, sub, 6)
		want := []struct {
			kind   Kind
			device string
			cause  uint64
		}{
			{KindMessage, "a", 0}, {KindState, "a", 7}, {KindState, "a", 7},
			{KindMessage, "b", 0}, {KindState, "b", 10}, {KindState, "b", 10},
		}
		for i, w := range want {
			e := got[i]
			if e.Seq != uint64(7+i) || e.Kind != w.kind || e.Device != w.device || e.Cause.Seq != w.cause {
				t.Fatalf("event %d = seq %d %s %q cause %d, want seq %d %s %q cause %d",
					i, e.Seq, e.Kind, e.Device, e.Cause.Seq, 7+i, w.kind, w.device, w.cause)
			}
			if cause := got[i/3*3]; !e.Time.Equal(cause.Time) {
				t.Fatalf("event %d has time %v, want its cause's %v", e.Seq, e.Time, cause.Time)
			}
		}
		if n := b.NextSeq(); n != 13 {
			t.Fatalf("NextSeq = %d, want 13", n)
		}
	})

	t.Run("a read that fills its buffer ends before a group it cannot hold whole", func(t *testing.T) {
		b := NewBus(BusOptions{})
		b.AddStage(twinStage{n: 2}) // each message: the message and two states
		sub := b.Subscribe("log", MustNotMiss)
		for _, dev := range []string{"a", "b", "c"} {
			mustPublish(t, b, Event{Kind: KindMessage, Topic: dev})
		}
		buf := make([]Event, 5)
		for _, want := range []string{"a", "b", "c"} {
			got, err := sub.Read(context.Background(), buf)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 || got[0].Kind != KindMessage || got[0].Device != want || got[2].Device != want {
				t.Fatalf("read %d events starting with %s %q, want the 3 of %q's group", len(got), got[0].Kind, got[0].Device, want)
			}
		}
	})

	t.Run("a group larger than the buffer is still read, in pieces", func(t *testing.T) {
		b := NewBus(BusOptions{})
		b.AddStage(twinStage{n: 4})
		sub := b.Subscribe("log", MustNotMiss)
		mustPublish(t, b, Event{Kind: KindMessage, Topic: "a"})
		buf := make([]Event, 2)
		var got []Event
		for len(got) < 5 {
			more, err := sub.Read(context.Background(), buf)
			if err != nil || len(more) == 0 {
				t.Fatalf("read after %d events: %d events, %v", len(got), len(more), err)
			}
			got = append(got, more...)
		}
		if got[0].Kind != KindMessage || got[4].Kind != KindState || got[4].Seq != 5 {
			t.Fatalf("read %s ... %s seq %d, want the message and its four states", got[0].Kind, got[4].Kind, got[4].Seq)
		}
	})

	t.Run("a stage that emits more than the reserve is cut at the reserve", func(t *testing.T) {
		b := NewBus(BusOptions{Size: 64})
		b.AddStage(twinStage{n: reserve + 5})
		sub := b.Subscribe("log", MustNotMiss)
		mustPublish(t, b, Event{Kind: KindMessage, Topic: "x"})
		if n := b.NextSeq(); n != 2+reserve {
			t.Fatalf("NextSeq = %d, want %d", n, 2+reserve)
		}
		readN(t, sub, 1+reserve)
	})
}

func TestBusDurability(t *testing.T) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	t.Run("without a log WaitDurable returns at once", func(t *testing.T) {
		b := NewBus(BusOptions{})
		e := mustPublish(t, b, Event{Kind: KindMessage})
		if err := b.WaitDurable(cancelled, e.Seq); err != nil {
			t.Fatalf("WaitDurable: %v", err)
		}
	})

	t.Run("events before NextSeq are already durable", func(t *testing.T) {
		b := NewBus(BusOptions{NextSeq: 10, Durable: true})
		if err := b.WaitDurable(cancelled, 9); err != nil || b.Durable() != 9 {
			t.Fatalf("WaitDurable(9) = %v, Durable = %d; want nil and 9", err, b.Durable())
		}
	})

	t.Run("WaitDurable returns once MarkDurable reaches its seq", func(t *testing.T) {
		b := NewBus(BusOptions{Durable: true})
		for range 5 {
			mustPublish(t, b, Event{Kind: KindMessage})
		}
		done := make(chan error, 1)
		go func() { done <- b.WaitDurable(ctx, 3) }()
		b.MarkDurable(2)
		if err := b.WaitDurable(cancelled, 3); !errors.Is(err, context.Canceled) {
			t.Fatalf("WaitDurable(3) after MarkDurable(2) = %v, want it to wait", err)
		}
		b.MarkDurable(4)
		if err := <-done; err != nil {
			t.Fatalf("waiter: %v", err)
		}
		b.MarkDurable(3) // late and lower: ignored
		if d := b.Durable(); d != 4 {
			t.Fatalf("Durable = %d, want 4", d)
		}
	})

	t.Run("FailDurable releases waiters with the error and keeps what was durable", func(t *testing.T) {
		b := NewBus(BusOptions{Durable: true})
		for range 3 {
			mustPublish(t, b, Event{Kind: KindMessage})
		}
		b.MarkDurable(1)
		done := make(chan error, 1)
		go func() { done <- b.WaitDurable(ctx, 3) }()
		disk := errors.New("disk full")
		b.FailDurable(disk)
		if err := <-done; !errors.Is(err, disk) {
			t.Fatalf("waiter got %v, want %v", err, disk)
		}
		b.MarkDurable(3)
		if err := b.WaitDurable(ctx, 2); !errors.Is(err, disk) {
			t.Fatalf("WaitDurable(2) after the failure = %v, want %v", err, disk)
		}
		if err := b.WaitDurable(ctx, 1); err != nil {
			t.Fatalf("WaitDurable(1), durable before the failure: %v", err)
		}
	})

	t.Run("a failure is told at once to every waiter until FailDurable(nil) clears it", func(t *testing.T) {
		b := NewBus(BusOptions{Durable: true})
		for range 4 {
			mustPublish(t, b, Event{Kind: KindMessage})
		}
		if err := b.DurableErr(); err != nil {
			t.Fatalf("DurableErr before any failure = %v", err)
		}
		full := errors.New("database or disk is full")
		b.FailDurable(full)
		if err := b.DurableErr(); !errors.Is(err, full) {
			t.Fatalf("DurableErr while failing = %v, want %v", err, full)
		}
		// A context already cancelled: a wait that did not return the
		// failure at once would return context.Canceled.
		if err := b.WaitDurable(cancelled, 2); !errors.Is(err, full) {
			t.Fatalf("WaitDurable while failing = %v, want %v at once", err, full)
		}

		b.FailDurable(nil)
		if err := b.DurableErr(); err != nil {
			t.Fatalf("DurableErr after recovery = %v, want nil", err)
		}
		done := make(chan error, 1)
		go func() { done <- b.WaitDurable(ctx, 3) }()
		b.MarkDurable(3)
		if err := <-done; err != nil {
			t.Fatalf("WaitDurable after recovery: %v", err)
		}
		if d := b.Durable(); d != 3 {
			t.Fatalf("Durable after recovery = %d, want 3", d)
		}
		if err := b.WaitDurable(cancelled, 4); !errors.Is(err, context.Canceled) {
			t.Fatalf("WaitDurable(4) after recovery = %v, want it to wait again", err)
		}
	})

	t.Run("AwaitDurable waits through a failure until the log has the event", func(t *testing.T) {
		b := NewBus(BusOptions{Durable: true})
		e := mustPublish(t, b, Event{Kind: KindMessage, QoS: 1})
		b.FailDurable(errors.New("disk I/O error"))
		done := make(chan error, 1)
		go func() { done <- b.AwaitDurable(ctx, e.Seq) }()
		if err := b.AwaitDurable(cancelled, e.Seq); !errors.Is(err, context.Canceled) {
			t.Fatalf("AwaitDurable while failing = %v, want it to wait", err)
		}
		b.FailDurable(errors.New("database or disk is full")) // a new cause: still waiting
		b.FailDurable(nil)
		b.MarkDurable(e.Seq)
		if err := <-done; err != nil {
			t.Fatalf("AwaitDurable after recovery: %v", err)
		}
	})

	t.Run("AwaitDurable ends when the bus closes during a failure", func(t *testing.T) {
		b := NewBus(BusOptions{Durable: true})
		e := mustPublish(t, b, Event{Kind: KindMessage, QoS: 1})
		ro := errors.New("attempt to write a readonly database")
		b.FailDurable(ro)
		done := make(chan error, 1)
		go func() { done <- b.AwaitDurable(ctx, e.Seq) }()
		b.Close()
		if err := <-done; !errors.Is(err, ro) {
			t.Fatalf("AwaitDurable after Close = %v, want the failure", err)
		}
		b.FailDurable(nil) // after Close: nothing to clear, nothing to wake
		if err := b.DurableErr(); !errors.Is(err, ro) {
			t.Fatalf("DurableErr after Close = %v, want the failure kept", err)
		}
	})

	t.Run("Close releases waiters with ErrClosed, and the drained log still advances Durable", func(t *testing.T) {
		b := NewBus(BusOptions{Durable: true})
		e := mustPublish(t, b, Event{Kind: KindMessage})
		done := make(chan error, 1)
		go func() { done <- b.WaitDurable(ctx, e.Seq) }()
		b.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("waiter got %v, want ErrClosed", err)
		}
		b.MarkDurable(e.Seq) // the log commits what it drained after Close
		if d := b.Durable(); d != e.Seq {
			t.Fatalf("Durable after the drain = %d, want %d", d, e.Seq)
		}
		if err := b.WaitDurable(ctx, e.Seq); err != nil {
			t.Fatalf("WaitDurable after the drain: %v", err)
		}
	})
}

func TestBusClose(t *testing.T) {
	ctx := context.Background()

	t.Run("subscribers read what is left and then get ErrClosed", func(t *testing.T) {
		b := NewBus(BusOptions{})
		sub := b.Subscribe("log", MustNotMiss)
		for range 10 {
			mustPublish(t, b, Event{Kind: KindMessage})
		}
		b.Close()
		if _, err := b.Publish(Event{Kind: KindMessage}); !errors.Is(err, ErrClosed) {
			t.Fatalf("publish after Close: %v, want ErrClosed", err)
		}
		if got := readN(t, sub, 10); got[9].Seq != 10 {
			t.Fatalf("last drained seq %d, want 10", got[9].Seq)
		}
		if _, err := sub.Read(ctx, make([]Event, 4)); !errors.Is(err, ErrClosed) {
			t.Fatalf("read after the drain: %v, want ErrClosed", err)
		}
	})

	t.Run("a reader waiting for events is woken with ErrClosed", func(t *testing.T) {
		b := NewBus(BusOptions{})
		sub := b.Subscribe("log", MustNotMiss)
		done := make(chan error, 1)
		go func() {
			_, err := sub.Read(ctx, make([]Event, 4))
			done <- err
		}()
		waitFor(t, "the reader waits", func() bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.dataWait == 1
		})
		b.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("reader got %v, want ErrClosed", err)
		}
	})

	t.Run("a publisher blocked on a slow subscriber is released with ErrClosed", func(t *testing.T) {
		b := NewBus(BusOptions{Size: 64})
		sub := b.Subscribe("log", MustNotMiss)
		done := make(chan error, 1)
		go func() {
			for {
				if _, err := b.Publish(Event{Kind: KindMessage}); err != nil {
					done <- err
					return
				}
			}
		}()
		waitFor(t, "the publisher waits for room", func() bool { return publishersWaiting(b) == 1 })
		b.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("publisher got %v, want ErrClosed", err)
		}
		readN(t, sub, 64-reserve)
		if _, err := sub.Read(ctx, make([]Event, 4)); !errors.Is(err, ErrClosed) {
			t.Fatalf("read after the drain: %v, want ErrClosed", err)
		}
	})

	t.Run("closing a subscription wakes its waiting reader with ErrClosed", func(t *testing.T) {
		b := NewBus(BusOptions{})
		sub := b.Subscribe("page", MayLag)
		done := make(chan error, 1)
		go func() {
			_, err := sub.Read(ctx, make([]Event, 4))
			done <- err
		}()
		waitFor(t, "the reader waits", func() bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.dataWait == 1
		})
		sub.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("reader got %v, want ErrClosed", err)
		}
	})

	t.Run("Read gives up when its context ends", func(t *testing.T) {
		b := NewBus(BusOptions{})
		sub := b.Subscribe("page", MayLag)
		c, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := sub.Read(c, make([]Event, 1)); !errors.Is(err, context.Canceled) {
			t.Fatalf("read: %v, want context.Canceled", err)
		}
	})
}

func TestLagsSayHowFarEachSubscriberIsBehind(t *testing.T) {
	b := NewBus(BusOptions{Size: 64})
	fast := b.Subscribe("fast", MustNotMiss)
	b.Subscribe("slow", MayLag)
	for i := 0; i < 5; i++ {
		if _, err := b.Publish(Event{Kind: KindMessage}); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]Event, 3)
	if _, err := fast.Read(context.Background(), buf); err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, l := range b.Lags() {
		got[l.Name] = l.Events
	}
	if got["fast"] != 2 || got["slow"] != 5 {
		t.Fatalf("lags %v, want fast 2 and slow 5", got)
	}
}

// noStage is a read model that changes nothing, as most events leave the
// devices' states as they were.
type noStage struct{}

func (noStage) Apply(*Event, func(Event)) {}

// BenchmarkPublish measures a publish onto the bus as the hub makes it: a
// stage runs, and a reader waits for the event (the automations, the log),
// so every publish wakes one. Allocations here happen for every message
// every device sends.
//
//	go test -run '^$' -bench Publish -benchmem .
func BenchmarkPublish(b *testing.B) {
	bus := NewBus(BusOptions{})
	bus.AddStage(noStage{})
	sub := bus.Subscribe("automations", MustNotMiss)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]Event, 256)
		for {
			if _, err := sub.Read(ctx, buf); err != nil {
				return
			}
		}
	}()
	e := Event{Kind: KindMessage, Topic: "home/hall_motion", Device: "hall_motion", Payload: []byte(`{"occupancy":true}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bus.Publish(e); err != nil {
			b.Fatal(err)
		}
	}
	bus.Close()
	cancel()
	<-done
}
