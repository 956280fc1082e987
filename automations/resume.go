package automations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
// longer holds, re-armed for the rest of its window when it still does (or
// kept from firing again when it had fired), and fired at once (missed:
// fire) or dropped (missed: skip) when its window ended while the hub was
// down. A timer whose automation was removed or changed since it was
// stored is dropped: its resume point would not fit.
//
// The stored timers of one run (the branches of a parallel that were still
// waiting, one timer each) resume as one run: each branch at its place, a
// wait without a timeout waiting again on its conditions; the branches
// without a timer had ended. When one of them came due while the hub was
// down and the automation says `missed: skip`, the whole run is dropped.
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
		runs := map[string]*storedRun{}
		var order []*storedRun
		for _, pt := range timers {
			sr := e.restore(l, pt, now)
			if sr == nil {
				continue
			}
			if g := runs[sr.key()]; g != nil {
				g.timers = append(g.timers, sr.timers...)
				g.states = append(g.states, sr.states...)
				continue
			}
			runs[sr.key()] = sr
			order = append(order, sr)
		}
		for _, sr := range order {
			e.resumeRun(sr, now)
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

// storedRun is the stored timers of one run, gathered at start.
type storedRun struct {
	rn     *runner
	timers []hearth.PendingTimer
	states []timerState
}

func (sr *storedRun) key() string { return sr.rn.def().ID + "\x00" + sr.states[0].Run }

// restore reconciles one stored timer, or, for a delay or wait, checks it
// and returns it to be resumed with the others of its run.
func (e *Engine) restore(l *loaded, pt hearth.PendingTimer, now time.Time) *storedRun {
	drop := func(why string) {
		e.log.Info("pending timer dropped at start", "timer", pt.ID, "automation", pt.Automation, "due", pt.Due, "why", why)
		e.deleteTimer(pt.ID)
	}
	var st timerState
	if err := json.Unmarshal(pt.State, &st); err != nil {
		drop("its state is unreadable: " + err.Error())
		return nil
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
		return nil
	case rn.def().Hash != st.Hash:
		drop("the automation changed since the timer was armed")
		return nil
	case rn.disabled.Load():
		drop("the automation is disabled")
		return nil
	}
	a := rn.def()
	missed := !pt.Due.After(now)
	switch st.Kind {
	case timerDelay, timerWait:
		if st.Run == "" || len(st.Path) == 0 {
			drop("it has no run or resume point")
			return nil
		}
		return &storedRun{rn: rn, timers: []hearth.PendingTimer{pt}, states: []timerState{st}}
	case timerFor:
		if st.Trigger < 0 || st.Trigger >= len(a.triggers) {
			drop("its trigger is gone")
			return nil
		}
		t, ok := a.triggers[st.Trigger].(*deviceTrigger)
		if !ok || t.hold <= 0 {
			drop("its trigger is not a for: trigger")
			return nil
		}
		if !e.windowHolds(t) {
			drop("its condition no longer holds")
			return nil
		}
		w := rn.windowFor(t.idx)
		due, changed := pt.Due, false
		if ns, ok := e.changed[t.device]; ok && t.when == nil && time.Unix(0, ns).After(st.Armed) {
			due, changed = time.Unix(0, ns).Add(t.hold), true // the state changed since: the window starts again
			missed = !due.After(now)
		}
		if st.Fired && !changed {
			// The hold fired before the restart and goes on: not again.
			w.fired, w.stored = true, pt.ID
			return nil
		}
		if missed {
			if a.Missed == MissedSkip {
				drop("its window ended while the hub was down (missed: skip)")
				return nil
			}
			w.vars, w.seq = st.Vars, st.Cause.Seq
			e.markFired(rn, w)
			e.log.Info("for window fired at start: it ended while the hub was down", "automation", a.ID, "timer", pt.ID)
			e.fireWindow(rn, w)
			return nil
		}
		w.stored = pt.ID
		e.arm(rn, w, due, st.Cause.Seq, time.Time{}, st.Vars, due != pt.Due)
		e.log.Info("for window restored", "automation", a.ID, "timer", pt.ID, "due", due)
	default:
		drop("unknown kind " + string(st.Kind))
	}
	return nil
}

// resumeRun resumes a run at its stored timers (see Resume).
func (e *Engine) resumeRun(sr *storedRun, now time.Time) {
	rn, a, st := sr.rn, sr.rn.def(), sr.states[0]
	drop := func(why string) {
		for _, pt := range sr.timers {
			e.log.Info("pending timer dropped at start", "timer", pt.ID, "automation", pt.Automation, "due", pt.Due, "why", why)
			e.deleteTimer(pt.ID)
		}
	}
	points := make([]resumePoint, len(sr.timers))
	missed := false
	var descs []string
	for i, pt := range sr.timers {
		s := sr.states[i]
		points[i] = resumePoint{path: s.Path, due: pt.Due, timer: pt.ID}
		if s.Forever {
			points[i].due = time.Time{}
			descs = append(descs, string(s.Kind)+" without a timeout")
			continue
		}
		d := fmt.Sprintf("%s due %s", s.Kind, pt.Due.Format(time.RFC3339))
		if !pt.Due.After(now) {
			missed = true
			d += " (came due while the hub was down)"
		}
		descs = append(descs, d)
	}
	if missed && a.Missed == MissedSkip {
		drop("it came due while the hub was down (missed: skip)")
		return
	}
	if n, ok := runNumber(st.Run); ok && rn.seq.Load() < n {
		rn.seq.Store(n)
	}
	st.Cause.Run = st.Run
	desc := "resumed after a restart: " + strings.Join(descs, ", ")
	_, err := e.start(startReq{rn: rn, cause: st.Cause, vars: st.Vars, trig: desc, id: st.Run,
		resume: points[0].path, due: points[0].due, points: points, seq: st.Cause.Seq, depth: 1})
	if err != nil {
		drop("the run cannot start: " + err.Error())
		return
	}
	for _, pt := range sr.timers {
		e.log.Info("run resumed after a restart", "run", st.Run, "timer", pt.ID, "due", pt.Due)
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

// loadRunNumbers reads each automation's newest trace from the log, all in
// one call, so run numbers go on from where they were and the list shows
// the last run.
func (e *Engine) loadRunNumbers(ctx context.Context, runners []*runner) {
	byTopic := make(map[string]*runner, len(runners))
	topics := make([]string, 0, len(runners))
	for _, rn := range runners {
		t := traceTopic(rn.def().ID)
		byTopic[t] = rn
		topics = append(topics, t)
	}
	evs, err := e.eventLog.NewestOnTopics(ctx, hearth.KindRun, topics)
	if err != nil {
		e.log.Warn("last runs not read from the log: run numbers start again from 1", "automations", len(runners), "err", err)
		return
	}
	for _, ev := range evs {
		rn := byTopic[ev.Topic]
		if rn == nil {
			continue
		}
		// A trace's summary is at the top of its JSON: the steps need not
		// be decoded.
		var sum hearth.RunSummary
		if json.Unmarshal(ev.Payload, &sum) != nil {
			continue
		}
		if n, ok := runNumber(sum.Run); ok && rn.seq.Load() < n {
			rn.seq.Store(n)
		}
		if rn.stats.lastRun() == nil {
			rn.stats.started(sum)
		}
	}
}

// resumePoint is one stored delay or wait of a resumed run.
type resumePoint struct {
	path    []int
	due     time.Time // zero: a wait without a timeout
	timer   string    // the stored timer's id
	claimed bool      // a delay or wait resumed it
}

// branchStart says where a branch of a parallel starts: from its first
// action (resume nil) or from a resume point inside it.
type branchStart struct {
	branch int
	resume []int
}

// claimResume returns the resume point at path, once.
func (r *run) claimResume(path []int) (resumePoint, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.resumes {
		p := &r.resumes[i]
		if !p.claimed && slices.Equal(p.path, path) {
			p.claimed = true
			return *p, true
		}
	}
	return resumePoint{}, false
}

// resumeBranches returns the branches of the parallel at prefix that have
// resume points, in branch order, each with the rest of its first point's
// path (a deeper parallel finds the others by their own prefix).
func (r *run) resumeBranches(prefix []int) []branchStart {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []branchStart
	for _, p := range r.resumes {
		if p.claimed || len(p.path) < len(prefix)+2 || !slices.Equal(p.path[:len(prefix)], prefix) {
			continue
		}
		b := p.path[len(prefix)]
		if slices.ContainsFunc(out, func(s branchStart) bool { return s.branch == b }) {
			continue
		}
		out = append(out, branchStart{branch: b, resume: p.path[len(prefix)+1:]})
	}
	slices.SortFunc(out, func(x, y branchStart) int { return x.branch - y.branch })
	return out
}

// dropUnclaimed forgets the stored timers of a resumed run that no delay
// or wait took up (their places did not fit), unless the hub is stopping.
func (r *run) dropUnclaimed() {
	e := r.eng
	r.mu.Lock()
	var left []string
	for _, p := range r.resumes {
		if !p.claimed {
			left = append(left, p.timer)
		}
	}
	r.mu.Unlock()
	if len(left) == 0 || e.stopping() {
		return
	}
	for _, id := range left {
		e.log.Info("pending timer dropped: the resumed run ended without getting back to it", "timer", id, "run", r.id)
		e.deleteTimer(id)
	}
}
