package automations

import (
	"context"
	"slices"
	"sync"
	"time"
)

// FakeClock is a Clock that only moves when told to, for tests of anything
// timed (this package's delays, the hub's end-to-end tests).
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed chan struct{} // closed and replaced whenever timers are armed or stopped
}

type fakeTimer struct {
	c  *FakeClock
	at time.Time
	f  func()
}

var _ Clock = (*FakeClock)(nil)

// NewFakeClock returns a FakeClock that reads start until advanced.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start, changed: make(chan struct{})}
}

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arms f to run when the clock is advanced past now+d; f runs on
// the goroutine that calls Advance.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	c.signalLocked()
	return t
}

// Stop disarms the timer.
func (t *fakeTimer) Stop() bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.timers, t)
	if i < 0 {
		return false
	}
	c.timers = slices.Delete(c.timers, i, i+1)
	c.signalLocked()
	return true
}

// Advance moves the clock forward by d, running every timer that comes due,
// earliest first, each with the clock set to its due time.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		next := -1
		for i, t := range c.timers {
			if !t.at.After(target) && (next < 0 || t.at.Before(c.timers[next].at)) {
				next = i
			}
		}
		if next < 0 {
			if target.After(c.now) {
				c.now = target
			}
			c.mu.Unlock()
			return
		}
		t := c.timers[next]
		c.timers = slices.Delete(c.timers, next, next+1)
		if t.at.After(c.now) {
			c.now = t.at
		}
		c.signalLocked()
		c.mu.Unlock()
		t.f()
	}
}

// Pending returns how many timers are armed.
func (c *FakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// BlockUntil waits until at least n timers are armed, so that a test can
// advance the clock knowing the code under test is waiting on it.
func (c *FakeClock) BlockUntil(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		have, ch := len(c.timers), c.changed
		c.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *FakeClock) signalLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// fireNext runs the earliest timer due at or before target, with the clock
// set to its due time; it reports false when there is none. A what-if run
// steps the clock this way, letting the engine settle between timers.
func (c *FakeClock) fireNext(target time.Time) bool {
	c.mu.Lock()
	next := -1
	for i, t := range c.timers {
		if !t.at.After(target) && (next < 0 || t.at.Before(c.timers[next].at)) {
			next = i
		}
	}
	if next < 0 {
		c.mu.Unlock()
		return false
	}
	t := c.timers[next]
	c.timers = slices.Delete(c.timers, next, next+1)
	if t.at.After(c.now) {
		c.now = t.at
	}
	c.signalLocked()
	c.mu.Unlock()
	t.f()
	return true
}

// moveTo sets the clock to t when t is later, without running timers.
func (c *FakeClock) moveTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}
