package automations

import (
	"context"
	"time"
)

// delayAction waits on the engine's clock; cancelling the run (restart
// mode, Close) stops the wait.
type delayAction struct {
	d time.Duration
}

func (l *loader) delayAction(fs fieldList) action {
	l.unknown(fs, "a delay action", "delay")
	f, _ := fs.get("delay")
	d, ok := l.duration(f, "delay")
	if !ok {
		return nil
	}
	return &delayAction{d: d}
}

func (a *delayAction) do(ctx context.Context, r *run) error {
	due := make(chan struct{})
	t := r.eng.clock.AfterFunc(a.d, func() { close(due) })
	select {
	case <-due:
		// A run cancelled as the timer fired must not go on to its next action.
		return ctx.Err()
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	}
}
