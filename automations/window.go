package automations

import (
	"strconv"
	"time"
)

// window is a device trigger's `for:` window on one runner: armed when the
// trigger's `when` starts to hold, fired when it has held for the whole
// window, forgotten when it stops holding. It is stored while armed, so a
// restart reconciles it against the device's state, and once fired, so a
// restart does not fire the same hold again. Windows belong to the runner
// (by trigger position), so a reload that keeps the automation keeps them.
type window struct {
	trig   int
	armed  bool
	fired  bool // fired during the current hold: not again until it stops holding
	due    time.Time
	timer  Timer
	gen    uint64 // which arming a firing timer belongs to
	seq    uint64 // the event that armed it
	evTime time.Time
	vars   triggerVars
	stored string // the id of what is stored of it (armed or fired), "" when nothing is
}

// windowFor returns the runner's window for trigger idx.
func (rn *runner) windowFor(idx int) *window {
	if rn.windows == nil {
		rn.windows = make([]*window, len(rn.def().triggers))
	}
	if rn.windows[idx] == nil {
		rn.windows[idx] = &window{trig: idx}
	}
	return rn.windows[idx]
}

// windowID names the stored timer of a window.
func windowID(auto string, trig int) string { return auto + "/for/" + strconv.Itoa(trig) }

// windowEvent applies a state event to a `for:` trigger. The caller holds handleMu.
func (e *Engine) windowEvent(rn *runner, t *deviceTrigger, s *scope, v verdict, err error) {
	w := rn.windowFor(t.idx)
	switch {
	case v == verdictFalse:
		if w.armed {
			e.log.Debug("for window reset: the condition stopped holding", "automation", rn.def().ID, "trigger", t.desc, "seq", s.event.Seq)
		}
		w.forget(e)
		e.missWhen(rn, &t.triggerBase, t.when, s.newEnv(t.when), s, err)
	case t.when == nil && v == verdictEdge:
		// Without a when, the window waits for the state to stop changing.
		w.forget(e)
		e.arm(rn, w, s.time().Add(t.hold), s.event.Seq, s.event.Time, e.eventVars(t, s), true)
	case t.when == nil:
	case !w.armed && !w.fired:
		e.arm(rn, w, s.time().Add(t.hold), s.event.Seq, s.event.Time, e.eventVars(t, s), true)
	}
}

// eventVars are the trigger variables of a state event for trigger t.
func (e *Engine) eventVars(t *deviceTrigger, s *scope) triggerVars {
	v := t.vars()
	v.Device, v.Topic = s.event.Device, s.event.Topic
	v.Payload, v.State, v.Prev = s.attrs, s.attrs, s.prevAttrs()
	return v
}

// arm starts a window due at due; store says to store it (a restored
// window is stored already).
func (e *Engine) arm(rn *runner, w *window, due time.Time, seq uint64, evTime time.Time, vars triggerVars, store bool) {
	w.armed, w.due, w.seq, w.evTime, w.vars = true, due, seq, evTime, vars
	w.gen++
	gen := w.gen
	if store {
		e.saveWindow(rn, w)
	}
	d := due.Sub(e.clock.Now())
	w.timer = e.clock.AfterFunc(max(d, 0), func() { e.windowFire(rn, w, gen) })
}

// stop stops a window's timer, and leaves what is stored of it: at Close,
// the next start reconciles it.
func (w *window) stop() {
	if !w.armed {
		return
	}
	w.armed = false
	w.gen++
	w.timer.Stop()
}

// forget ends a window's hold: its timer, its firing and what is stored of it.
func (w *window) forget(e *Engine) {
	w.stop()
	w.fired = false
	if w.stored != "" {
		e.deleteTimer(w.stored)
		w.stored = ""
	}
}

// windowFire fires a window that held for its whole length.
func (e *Engine) windowFire(rn *runner, w *window, gen uint64) {
	e.handleMu.Lock()
	defer e.handleMu.Unlock()
	if !w.armed || w.gen != gen || e.stopping() {
		return
	}
	e.markFired(rn, w)
	e.fireWindow(rn, w)
}

// markFired notes that a window's hold has fired, and stores that in place
// of its timer: until the `when` stops holding it does not fire again,
// restart or not.
func (e *Engine) markFired(rn *runner, w *window) {
	w.armed, w.fired = false, true
	e.saveWindow(rn, w)
}

// fireWindow starts a run for a window; the caller holds handleMu.
func (e *Engine) fireWindow(rn *runner, w *window) {
	if w.trig >= len(rn.def().triggers) {
		return
	}
	tb := rn.def().triggers[w.trig].base()
	vars := w.vars
	if st, ok := e.states[vars.Device]; ok {
		vars.State = st // what holds now, at the end of the window
	}
	env := &runEnv{helpers: e.helpers, States: e.states, Trigger: vars, Now: e.clock.Now(), This: thisVars{ID: rn.def().ID, Description: rn.def().Description}}
	e.tryStart(rn, tb, &e.scope.ev, env, w.seq, "", w.evTime)
}

// windowHolds evaluates a `for:` trigger's when against the device's
// current state, for a window restored at start.
func (e *Engine) windowHolds(t *deviceTrigger) bool {
	if t.when == nil {
		return true
	}
	attrs, ok := e.states[t.device]
	if !ok {
		return false
	}
	env := make(map[string]any, len(attrs)+8)
	for k, v := range attrs {
		env[k] = v
	}
	env[varPrev], env[varDevice], env[varStates], env[varNow] = map[string]any{}, t.device, e.states, e.clock.Now()
	addHelpers(env, e.helpers)
	env[varThis] = thisVars{ID: t.auto.ID, Description: t.auto.Description}
	ok, err := t.when.eval(&e.scope.ev.vm, env)
	return err == nil && ok
}
