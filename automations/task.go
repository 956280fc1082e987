package automations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"hearth"
)

// task is one thread of a run: the run itself, or a branch of a parallel.
// It keeps where it is in the actions (path), which a stored timer records
// so that a restart resumes there.
type task struct {
	r         *run
	path      []int
	durable   bool // its timers are stored (a run's, and its parallel branches')
	repeat    repeatVars
	ev        *evaluator
	resumeDue time.Time // while resuming: when the stored timer fires
}

func (t *task) evaluator() *evaluator {
	if t.ev == nil {
		e := t.r.eng
		t.ev = &evaluator{lock: &e.statesMu, loc: e.where.loc}
	}
	return t.ev
}

// env is what the run's expressions see now.
func (t *task) env() *runEnv {
	e := t.r.eng
	return &runEnv{helpers: e.helpers, States: e.states, Trigger: t.r.vars, Now: e.clock.Now(), This: t.r.this, Repeat: t.repeat}
}

func (t *task) render(p *payload) ([]byte, error) {
	if !p.dynamic() {
		return p.static, nil
	}
	return p.render(t.evaluator(), t.env())
}

// text renders a string that may be a template (a topic, a log line, a
// notification's title or message) as text.
func (t *task) text(v any) (string, error) {
	if tp, ok := v.(*tmpl); ok {
		return tp.text(t.evaluator(), t.env())
	}
	s, _ := v.(string)
	return s, nil
}

// check evaluates conditions and records the step; a condition that fails
// to evaluate counts as not holding.
func (t *task) check(desc string, conds []condition) (bool, error) {
	ev, env := t.evaluator(), t.env()
	failed, err := allHold(ev, env, conds)
	if failed == nil {
		t.step("condition", desc, "true", nil, 0, "")
		return true, nil
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	values := failed.explain(ev, env, map[string]any{})
	readableValues(values) // as a near miss shows them
	t.step("condition", desc, "false", values, 0, msg)
	return false, nil
}

// step records a step in the run's trace.
func (t *task) step(kind, text, result string, values map[string]any, seq uint64, errText string) {
	t.r.step(hearth.TraceStep{Time: t.r.eng.clock.Now(), Kind: kind, Text: text, Result: result, Values: values, Seq: seq, Error: errText})
}

func (t *task) fail(text string, err error) { t.step("action", text, "failed", nil, 0, err.Error()) }

// command sends c with the run as its cause and records it; text says
// what it is in the trace, without its payload unless withPayload.
func (t *task) command(ctx context.Context, text string, withPayload bool, c hearth.Command) error {
	r, e := t.r, t.r.eng
	if e.cmd == nil {
		err := errors.New("no commander configured")
		t.fail(text, err)
		return err
	}
	c.Cause = r.cause
	if !withPayload {
		text += " " + string(c.Payload)
	}
	ev, err := e.cmd.Command(ctx, c)
	if err != nil {
		t.step("command", text, "failed", nil, 0, err.Error())
		if c.Device != "" { // the error names the device; its adapter may use another topic
			return fmt.Errorf("command: %w", err)
		}
		return fmt.Errorf("command to %s: %w", c.Topic, err)
	}
	r.commanded()
	t.step("command", text, "sent", nil, ev.Seq, "")
	// One line per command at info: the house's story as it happens.
	// Attrs rather than key-value pairs, which would box each value.
	if e.log.Enabled(ctx, slog.LevelInfo) {
		e.log.LogAttrs(ctx, slog.LevelInfo, "command sent", slog.String("run", r.id), slog.String("topic", c.Topic),
			slog.String("payload", string(c.Payload)), slog.Uint64("seq", ev.Seq), slog.Uint64("cause", r.cause.Seq))
	}
	return nil
}

// block waits on g, counted idle meanwhile; cancelling the run ends the wait.
func (t *task) block(ctx context.Context, g *gate) error {
	r := t.r
	r.addGate(g)
	r.eng.idle.add(-1)
	select {
	case <-g.ch:
	case <-ctx.Done():
		g.open()
	}
	r.removeGate(g)
	return ctx.Err()
}

// timerID names a stored timer of this task.
func (t *task) timerID() string { return t.r.id + "/" + pathText(t.path) }

// pause waits until due: a delay. The wait is stored when the task is
// durable (resumed ones are stored already) and forgotten when it ends,
// unless it ends because the hub stops.
func (t *task) pause(ctx context.Context, desc string, due time.Time, resumed bool) error {
	r, e := t.r, t.r.eng
	r.reacted()
	id := ""
	if t.durable && e.persist != nil {
		id = t.timerID()
		if !resumed {
			e.saveTimer(id, r, due, timerState{Kind: timerDelay, Path: t.path})
		}
	}
	g := e.newGate()
	var tm Timer
	if d := due.Sub(e.clock.Now()); d > 0 {
		tm = e.clock.AfterFunc(d, g.open)
	} else {
		g.open()
	}
	err := t.block(ctx, g)
	if tm != nil && err != nil {
		tm.Stop()
	}
	if id != "" && (err == nil || !e.stopping()) {
		e.deleteTimer(id)
	}
	result := "done"
	if err != nil {
		result = "cancelled"
	}
	if resumed {
		desc += " (resumed after a restart)"
	}
	t.step("action", desc, result, nil, 0, "")
	return err
}

// waitFor waits until a wait action's conditions hold, re-checking on every
// state change, until deadline (zero: no deadline).
func (t *task) waitFor(ctx context.Context, a *waitAction, deadline time.Time, resumed bool) (err error) {
	r, e := t.r, t.r.eng
	r.reacted()
	id := ""
	if resumed {
		id = t.timerID()
	}
	defer func() {
		if id != "" && (err == nil || !e.stopping()) {
			e.deleteTimer(id)
		}
	}()
	ev := t.evaluator()
	for {
		env := t.env()
		if failed, _ := allHold(ev, env, a.conds); failed == nil {
			t.step("action", a.desc, "true", nil, 0, "")
			return nil
		}
		now := e.clock.Now()
		if !deadline.IsZero() && !now.Before(deadline) {
			t.step("action", a.desc, "timeout", nil, 0, "")
			if a.stop {
				return &errStopped{reason: "wait timed out"}
			}
			return nil
		}
		if id == "" && t.durable && e.persist != nil {
			id = t.timerID()
			if deadline.IsZero() {
				e.saveTimer(id, r, foreverDue, timerState{Kind: timerWait, Path: t.path, Forever: true})
			} else {
				e.saveTimer(id, r, deadline, timerState{Kind: timerWait, Path: t.path})
			}
		}
		g := e.newGate()
		e.addWaiter(g)
		var tm Timer
		if !deadline.IsZero() {
			tm = e.clock.AfterFunc(deadline.Sub(now), g.open)
		}
		err := t.block(ctx, g)
		e.removeWaiter(g)
		if tm != nil {
			tm.Stop()
		}
		if err != nil {
			t.step("action", a.desc, "cancelled", nil, 0, "")
			return err
		}
	}
}
