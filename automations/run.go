package automations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"hearth"
)

// runner is the engine's state for one automation: its runs going and
// waiting, which the mode consults when a trigger fires.
type runner struct {
	auto      *Automation
	seq       *atomic.Uint64 // run numbers; shared with the same id's runner after Replace
	lastEvent uint64         // scope.gen of the last event that fired it (consumer only)

	mu     sync.Mutex
	active int  // runs started and not ended, waiting ones included
	last   *run // the newest run not ended
}

// run is one execution of an automation's actions, in a goroutine of its own.
type run struct {
	id     string
	auto   *Automation
	eng    *Engine
	cause  hearth.Cause
	ctx    context.Context
	cancel context.CancelFunc
	after  *run          // a run to wait for before starting (queued, restart)
	done   chan struct{} // closed when the run has ended
}

// start applies the automation's mode to a trigger and, unless the mode
// drops it, starts a run caused by the event with sequence number seq.
func (e *Engine) start(rn *runner, seq uint64) {
	a := rn.auto
	rn.mu.Lock()
	defer rn.mu.Unlock()
	var after *run
	switch a.Mode {
	case ModeSingle:
		if rn.active > 0 {
			e.log.Debug("trigger ignored: automation is running (mode single)", "automation", a.ID, "seq", seq, "running", rn.last.id)
			return
		}
	case ModeRestart:
		if rn.last != nil {
			e.log.Debug("restarting automation: cancelling its run", "automation", a.ID, "seq", seq, "cancelled", rn.last.id)
			rn.last.cancel()
			after = rn.last
		}
	case ModeQueued:
		if rn.active >= a.Max {
			e.log.Warn("trigger dropped: run queue is full (mode queued)", "automation", a.ID, "seq", seq, "max", a.Max)
			return
		}
		after = rn.last
	case ModeParallel:
		if rn.active >= a.Max {
			e.log.Warn("trigger dropped: too many runs (mode parallel)", "automation", a.ID, "seq", seq, "max", a.Max)
			return
		}
	}

	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.wg.Add(1)
	e.mu.Unlock()

	id := a.ID + "#" + strconv.FormatUint(rn.seq.Add(1), 10)
	ctx, cancel := context.WithCancel(e.ctx)
	r := &run{
		id:     id,
		auto:   a,
		eng:    e,
		cause:  hearth.Cause{Seq: seq, Run: id, Source: "automation"},
		ctx:    ctx,
		cancel: cancel,
		after:  after,
		done:   make(chan struct{}),
	}
	rn.active++
	rn.last = r
	go r.exec(rn)
}

// exec runs the actions in order, after the run it waits for has ended.
func (r *run) exec(rn *runner) {
	e := r.eng
	defer e.wg.Done()
	defer func() {
		rn.mu.Lock()
		rn.active--
		if rn.last == r {
			rn.last = nil
		}
		rn.mu.Unlock()
		r.cancel()
		close(r.done)
	}()
	if r.after != nil {
		select {
		case <-r.after.done:
		case <-r.ctx.Done():
			e.log.Debug("run cancelled before it started", "automation", r.auto.ID, "run", r.id)
			return
		}
	}
	debug := e.log.Enabled(context.Background(), slog.LevelDebug)
	if debug {
		e.log.Debug("run started", "automation", r.auto.ID, "run", r.id, "seq", r.cause.Seq)
	}
	for i, act := range r.auto.actions {
		err := r.ctx.Err()
		if err == nil {
			err = act.do(r.ctx, r)
		}
		if err != nil {
			if r.ctx.Err() != nil {
				e.log.Debug("run cancelled", "automation", r.auto.ID, "run", r.id, "action", i+1)
			} else {
				e.log.Warn("run failed", "automation", r.auto.ID, "run", r.id, "action", i+1, "err", err)
			}
			return
		}
	}
	if debug {
		e.log.Debug("run finished", "automation", r.auto.ID, "run", r.id)
	}
}

// command sends c with the run as its cause.
func (r *run) command(ctx context.Context, c hearth.Command) error {
	if r.eng.cmd == nil {
		return errors.New("no commander configured")
	}
	c.Cause = r.cause
	ev, err := r.eng.cmd.Command(ctx, c)
	if err != nil {
		return fmt.Errorf("command to %s: %w", c.Topic, err)
	}
	// One line per command at info: the house's story as it happens.
	r.eng.log.Info("command sent", "run", r.id, "topic", c.Topic, "payload", string(c.Payload), "seq", ev.Seq, "cause", r.cause.Seq)
	return nil
}
