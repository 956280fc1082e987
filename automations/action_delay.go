package automations

import (
	"context"
	"time"
)

// delayAction waits on the engine's clock. The wait is stored (when the
// run is durable), so a restart resumes it; cancelling the run (restart
// mode, a reload that changed it, Close) stops it.
type delayAction struct {
	d    time.Duration
	desc string
}

func (l *loader) delayAction(fs fieldList) action {
	l.unknown(fs, "a delay action", "delay")
	f, _ := fs.get("delay")
	d, ok := l.duration(f, "delay")
	if !ok {
		return nil
	}
	return &delayAction{d: d, desc: "delay " + scalarOf(f.value)}
}

func (a *delayAction) describe() string { return a.desc }

func (a *delayAction) do(ctx context.Context, t *task) error {
	return t.pause(ctx, a.desc, t.r.eng.clock.Now().Add(a.d), false)
}

func (a *delayAction) resume(ctx context.Context, t *task) error {
	return t.pause(ctx, a.desc, t.resumeDue, true)
}
