package automations

import (
	"context"
	"time"
)

// waitAction waits until its conditions hold, re-checking on every state
// change, at most for its timeout; on a timeout the run goes on (on_timeout:
// continue, the default) or stops (on_timeout: stop). A wait is stored, so
// a restart resumes it: with the rest of its timeout, or, without one,
// waiting again on the same conditions.
type waitAction struct {
	conds   []condition
	timeout time.Duration // 0: no timeout
	stop    bool
	desc    string
}

func (l *loader) waitAction(fs fieldList) action {
	l.unknown(fs, "a wait action", "wait", "timeout", "on_timeout")
	f, _ := fs.get("wait")
	a := &waitAction{conds: l.conditions(f.value, "wait")}
	ok := len(a.conds) > 0
	if tf, has := fs.get("timeout"); has {
		d, good := l.duration(tf, "timeout")
		a.timeout = d
		ok = ok && good
	}
	if of, has := fs.get("on_timeout"); has {
		s, good := l.str(of, "on_timeout")
		switch {
		case !good:
			ok = false
		case s == "stop":
			a.stop = true
		case s == "continue":
		default:
			l.errorf(of.value, "on_timeout must be continue or stop, got %q", s)
			ok = false
		}
		if a.timeout == 0 && good {
			l.errorf(of.keyNd, "on_timeout needs a timeout")
			ok = false
		}
	}
	if !ok {
		return nil
	}
	a.desc = "wait " + describeConditions(a.conds)
	if a.timeout > 0 {
		a.desc += " (timeout " + a.timeout.String() + ")"
	}
	return a
}

func (a *waitAction) describe() string { return a.desc }

func (a *waitAction) do(ctx context.Context, t *task) error {
	var deadline time.Time
	if a.timeout > 0 {
		deadline = t.r.eng.clock.Now().Add(a.timeout)
	}
	return t.waitFor(ctx, a, deadline, false)
}

func (a *waitAction) resume(ctx context.Context, t *task) error {
	return t.waitFor(ctx, a, t.resumeDue, true)
}
