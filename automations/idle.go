package automations

import (
	"context"
	"sync"
	"sync/atomic"
)

// idle counts the engine's busy tasks: runs and branches that are running
// rather than waiting on the clock, on a state change or on another run. A
// what-if run (and a test) waits for zero before it moves the virtual
// clock, so that everything due at one instant has happened before the next.
//
// The rule that keeps the count exact: whoever wakes a waiting task counts
// it busy before waking it (gate.open), and the task counts itself idle
// before it waits. A task's start is counted by whoever starts it.
type idle struct {
	n       atomic.Int64
	waiting atomic.Int32
	mu      sync.Mutex
	zero    chan struct{} // closed when n reaches zero; made by a waiter
}

func (i *idle) add(d int) {
	if i.n.Add(int64(d)) == 0 && i.waiting.Load() > 0 {
		i.mu.Lock()
		if i.zero != nil {
			close(i.zero)
			i.zero = nil
		}
		i.mu.Unlock()
	}
}

// wait returns once no task is busy.
func (i *idle) wait(ctx context.Context) error {
	i.waiting.Add(1)
	defer i.waiting.Add(-1)
	for {
		i.mu.Lock()
		if i.n.Load() == 0 {
			i.mu.Unlock()
			return nil
		}
		if i.zero == nil {
			i.zero = make(chan struct{})
		}
		ch := i.zero
		i.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// gate is one wait of a task: opened once, by the timer that fires, the
// state change that may end a wait, the run it queued behind, or the
// cancelling of its run.
type gate struct {
	ch   chan struct{}
	once sync.Once
	idle *idle
}

func (e *Engine) newGate() *gate { return &gate{ch: make(chan struct{}), idle: &e.idle} }

// open counts the waiting task busy and wakes it; later calls do nothing.
func (g *gate) open() {
	g.once.Do(func() {
		g.idle.add(1)
		close(g.ch)
	})
}
