package broker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// throttle holds each client to its publish rate (Limits.PublishRate and
// PublishBurst): a token bucket per client id, which a client's reconnect
// does not refill. A message that finds its client's bucket empty waits, in
// the OnPublish hook, on that client's own read goroutine: mochi reads the
// client's next packet only once this one is through, so the client's
// unread bytes fill the socket and TCP slows it down. Nothing is dropped,
// and no other client waits: each has its own goroutine and its own bucket.
//
// A client publishes one message at a time, so it owes at most one token:
// a wait lasts at most 1/rate (a second at the slowest rate allowed). It
// ends at once when the broker closes the client's connection (a takeover,
// a slow-consumer cut) or when the broker closes. A client that merely goes
// away is noticed when the wait is over and its socket is read again: TCP
// delivers its unread messages first, and its goodbye after them.
type throttle struct {
	now   func() time.Time
	log   *slog.Logger
	notes *notes

	mu      sync.Mutex
	buckets buckets[string] // by client id

	episodes atomic.Int64 // times a client began to be held to the rate
	waiting  atomic.Int64 // messages waiting now
	waited   atomic.Int64 // nanoseconds waited, in all
}

// errThrottleStopped ends a wait for a client whose connection, or the
// broker, closed meanwhile.
var errThrottleStopped = errors.New("publish rate wait: connection closed")

// newThrottle returns the throttle for limits, nil when there is no limit.
func newThrottle(l Limits, now func() time.Time, log *slog.Logger, n *notes) *throttle {
	if l.PublishRate == 0 {
		return nil
	}
	return &throttle{
		now:     now,
		log:     log,
		notes:   n,
		buckets: newBuckets[string](l.PublishRate, float64(l.PublishBurst)),
	}
}

// take takes a token for one message of client, and says how long the
// message must wait for it (0: it has one). first is true when the client
// begins to be held to the rate: its bucket was full since it was last held.
func (t *throttle) take(client string) (wait time.Duration, first bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buckets.refill(client, now)
	if b.tokens >= t.buckets.burst {
		b.held = false
	}
	b.tokens--
	if b.tokens >= 0 {
		return 0, false
	}
	first = !b.held
	b.held = true
	return time.Duration(-b.tokens / t.buckets.rate * float64(time.Second)), first
}

// wait holds a message of client for its token, until the token is there,
// closed is closed (the client's connection) or ctx ends (the broker).
func (t *throttle) wait(ctx context.Context, closed <-chan struct{}, client, remote string) error {
	d, first := t.take(client)
	if d <= 0 {
		return nil
	}
	if first {
		t.episodes.Add(1)
		if ok, suppressed := t.notes.allow("publish rate " + client); ok {
			t.log.Warn("client publishes faster than its limit: reading from it only as fast as the limit allows",
				"client", client, "remote", remote, "publish_rate_per_client", t.buckets.rate,
				"publish_burst_per_client", t.buckets.burst, "held_before", suppressed)
		}
	}
	t.waiting.Add(1)
	began := t.now()
	defer func() {
		t.waited.Add(int64(t.now().Sub(began)))
		t.waiting.Add(-1)
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-closed:
		return errThrottleStopped
	case <-ctx.Done():
		return errThrottleStopped
	}
}

// stats returns the counters; zero without a limit.
func (t *throttle) stats() PublishRateStats {
	if t == nil {
		return PublishRateStats{}
	}
	return PublishRateStats{Held: t.episodes.Load(), Waiting: t.waiting.Load(), Waited: time.Duration(t.waited.Load())}
}
