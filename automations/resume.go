package automations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"hearth"
)

// Resume restores what the engine keeps across restarts, once, before the
// first event: the automations people disabled, the run numbers and last
// runs (from the log), the stored timers, and then fires the `event:
// started` triggers. Consume calls it when it was not called.
//
// A stored delay or wait resumes its run at the stored place (see
// timerState.Path) with the same run id, cause and trigger variables: it
// fires at its stored time, or at once when that time passed while the hub
// was down and the automation says `missed: fire` (the default); with
// `missed: skip` the run is dropped. A stored `for:` window is reconciled
// against the device's current state: it is dropped when its `when` no
// longer holds, re-armed for the rest of its window when it still does, and
// fired at once (missed: fire) or dropped (missed: skip) when its window
// ended while the hub was down. A timer whose automation was removed or
// changed since it was stored is dropped: its resume point would not fit.
func (e *Engine) Resume(ctx context.Context) error {
	e.handleMu.Lock()
	defer e.handleMu.Unlock()
	if e.resumed.Swap(true) {
		return nil
	}
	if !e.seeded {
		e.seed()
	}
	l := e.active.Load()
	var errs []error
	if e.eventLog != nil {
		e.loadRunNumbers(ctx, l.runners)
	}
	if e.persist != nil {
		ids, err := e.persist.Disabled(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("read disabled automations: %w", err))
		}
		e.ctlMu.Lock()
		for _, id := range ids {
			e.disabled[id] = true
		}
		e.ctlMu.Unlock()
		for _, rn := range l.runners {
			rn.disabled.Store(e.isDisabled(rn.def().ID))
		}
		timers, err := e.persist.Timers(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("read pending timers: %w", err))
		}
		now := e.clock.Now()
		for _, pt := range timers {
			e.restore(l, pt, now)
		}
	}
	for _, t := range l.set.index.started {
		rn := l.runners[t.auto.pos]
		vars := t.vars()
		vars.Payload = "started"
		env := &runEnv{helpers: e.helpers, States: e.states, Trigger: vars, Now: e.clock.Now(), This: thisVars{ID: t.auto.ID, Description: t.auto.Description}}
		e.tryStart(rn, &t.triggerBase, &e.scope.ev, env, 0, "", time.Time{})
	}
	return errors.Join(errs...)
}

// restore resumes or reconciles one stored timer.
func (e *Engine) restore(l *loaded, pt hearth.PendingTimer, now time.Time) {
	drop := func(why string) {
		e.log.Info("pending timer dropped at start", "timer", pt.ID, "automation", pt.Automation, "due", pt.Due, "why", why)
		e.deleteTimer(pt.ID)
	}
	var st timerState
	if err := json.Unmarshal(pt.State, &st); err != nil {
		drop("its state is unreadable: " + err.Error())
		return
	}
	var rn *runner
	for _, r := range l.runners {
		if r.def().ID == pt.Automation {
			rn = r
		}
	}
	switch {
	case rn == nil:
		drop("the automation is no longer loaded")
		return
	case rn.def().Hash != st.Hash:
		drop("the automation changed since the timer was armed")
		return
	case rn.disabled.Load():
		drop("the automation is disabled")
		return
	}
	a := rn.def()
	missed := !pt.Due.After(now)
	switch st.Kind {
	case timerDelay, timerWait:
		if missed && a.Missed == MissedSkip {
			drop("it came due while the hub was down (missed: skip)")
			return
		}
		if n, ok := runNumber(st.Run); ok && rn.seq.Load() < n {
			rn.seq.Store(n)
		}
		st.Cause.Run = st.Run
		desc := fmt.Sprintf("resumed after a restart: %s due %s", st.Kind, pt.Due.Format(time.RFC3339))
		if missed {
			desc += " (came due while the hub was down)"
		}
		_, err := e.start(startReq{rn: rn, cause: st.Cause, vars: st.Vars, trig: desc, id: st.Run,
			resume: st.Path, due: pt.Due, seq: st.Cause.Seq, depth: 1})
		if err != nil {
			drop("the run cannot start: " + err.Error())
			return
		}
		e.log.Info("run resumed after a restart", "run", st.Run, "timer", pt.ID, "due", pt.Due)
	case timerFor:
		if st.Trigger < 0 || st.Trigger >= len(a.triggers) {
			drop("its trigger is gone")
			return
		}
		t, ok := a.triggers[st.Trigger].(*deviceTrigger)
		if !ok || t.hold <= 0 {
			drop("its trigger is not a for: trigger")
			return
		}
		if !e.windowHolds(t) {
			drop("its condition no longer holds")
			return
		}
		due := pt.Due
		if ns, ok := e.changed[t.device]; ok && t.when == nil && time.Unix(0, ns).After(st.Armed) {
			due = time.Unix(0, ns).Add(t.hold) // the state changed since: the window starts again
			missed = !due.After(now)
		}
		w := rn.windowFor(t.idx)
		if missed {
			if a.Missed == MissedSkip {
				drop("its window ended while the hub was down (missed: skip)")
				return
			}
			e.deleteTimer(pt.ID)
			w.vars, w.seq, w.fired = st.Vars, st.Cause.Seq, true
			e.log.Info("for window fired at start: it ended while the hub was down", "automation", a.ID, "timer", pt.ID)
			e.fireWindow(rn, w)
			return
		}
		e.arm(rn, t, w, due, st.Cause.Seq, time.Time{}, st.Vars, due != pt.Due)
		e.log.Info("for window restored", "automation", a.ID, "timer", pt.ID, "due", due)
	default:
		drop("unknown kind " + string(st.Kind))
	}
}

// runNumber reads the number of a run id ("hall#12" → 12).
func runNumber(id string) (uint64, bool) {
	i := strings.LastIndexByte(id, '#')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(id[i+1:], 10, 64)
	return n, err == nil
}

// loadRunNumbers reads each automation's newest trace from the log, so run
// numbers go on from where they were and the list shows the last run.
func (e *Engine) loadRunNumbers(ctx context.Context, runners []*runner) {
	for _, rn := range runners {
		evs, err := e.eventLog.Events(ctx, hearth.EventQuery{Kind: hearth.KindRun, Topic: traceTopic(rn.def().ID), Limit: 1})
		if err != nil {
			e.log.Warn("last run not read from the log", "automation", rn.def().ID, "err", err)
			continue
		}
		if len(evs) == 0 {
			continue
		}
		var tr hearth.Trace
		if json.Unmarshal(evs[0].Payload, &tr) != nil {
			continue
		}
		if n, ok := runNumber(tr.Run); ok && rn.seq.Load() < n {
			rn.seq.Store(n)
		}
		if rn.stats.lastRun() == nil {
			rn.stats.started(tr.RunSummary)
		}
	}
}
