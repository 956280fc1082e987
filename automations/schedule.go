package automations

import (
	"time"
)

// maxSleep bounds how long the scheduler sleeps: a Raspberry Pi without a
// real-time clock may set its clock long after boot, and a timer armed for
// "in ten hours" would then fire at the wrong wall time. Waking every
// minute to compare with the wall clock keeps time triggers on time.
const maxSleep = time.Minute

// scheduler fires the time triggers (at, cron, sun) of the active set:
// one clock timer, armed for the soonest of them. It is rebuilt on every
// swap of automations; it belongs to whoever holds Engine.handleMu.
type scheduler struct {
	entries []schedEntry
	timer   Timer
	gen     uint64
}

type schedEntry struct {
	rn  *runner
	t   timedTrigger
	due time.Time
}

// schedKey names a time trigger across a swap: an automation that did not
// change keeps its runner, and its triggers keep their positions.
type schedKey struct {
	rn  *runner
	idx int
}

// rebuildSchedule lists the time triggers of l. Those of an automation that
// did not change keep their due time (a reload must not restart an `@every
// 20s`); the others are due at their next time after now.
func (e *Engine) rebuildSchedule(l *loaded) {
	e.sched.stop()
	kept := make(map[schedKey]time.Time, len(e.sched.entries))
	for _, en := range e.sched.entries {
		kept[schedKey{en.rn, en.t.base().idx}] = en.due
	}
	e.sched.entries = e.sched.entries[:0]
	now := e.clock.Now()
	if l.set.sunUser != "" && !e.where.known {
		// Said once per load, as for sun triggers: each call fails (and a
		// condition with one does not hold) until the location is given.
		e.log.Warn("sunrise() and sunset() fail: the hub's location (latitude, longitude) is not configured", "automation", l.set.sunUser)
	}
	warned := false
	for _, t := range l.set.index.timed {
		if _, sun := t.(*sunTrigger); sun && !e.where.known && !warned {
			warned = true
			e.log.Warn("sun triggers never fire: the hub's location (latitude, longitude) is not configured", "automation", t.base().auto.ID)
		}
		rn := l.runners[t.base().auto.pos]
		due, ok := kept[schedKey{rn, t.base().idx}]
		if !ok {
			due = t.next(now, &e.where)
		}
		if due.IsZero() {
			continue
		}
		e.sched.entries = append(e.sched.entries, schedEntry{rn: rn, t: t, due: due})
	}
	e.armSchedule()
}

func (s *scheduler) stop() {
	s.gen++
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}

// armSchedule arms the clock for the soonest entry (at most maxSleep away).
func (e *Engine) armSchedule() {
	s := &e.sched
	s.stop()
	if len(s.entries) == 0 || e.stopping() {
		return
	}
	soonest := s.entries[0].due
	for _, en := range s.entries[1:] {
		if en.due.Before(soonest) {
			soonest = en.due
		}
	}
	d := min(max(soonest.Sub(e.clock.Now()), 0), maxSleep)
	gen := s.gen
	s.timer = e.clock.AfterFunc(d, func() { e.scheduleFire(gen) })
}

// scheduleFire fires every entry that is due and arms the next.
func (e *Engine) scheduleFire(gen uint64) {
	e.handleMu.Lock()
	defer e.handleMu.Unlock()
	s := &e.sched
	if gen != s.gen || e.stopping() {
		return
	}
	s.timer = nil
	now := e.clock.Now()
	l := e.active.Load()
	for i := range s.entries {
		en := &s.entries[i]
		if en.due.After(now) {
			continue
		}
		due := en.due
		// The next time counts from the due time, unless the clock jumped
		// far ahead: then from now, so missed times are not all fired.
		from := due
		if now.Sub(due) > maxSleep {
			from = now
		}
		en.due = en.t.next(from, &e.where)
		tb := en.t.base()
		vars := tb.vars()
		vars.Payload = due.In(e.where.loc).Format(time.RFC3339)
		env := &runEnv{helpers: e.helpers, States: e.states, Trigger: vars, Now: now, This: thisVars{ID: tb.auto.ID, Description: tb.auto.Description}}
		if en.rn == l.runners[tb.auto.pos] {
			e.tryStart(en.rn, tb, &e.scope.ev, env, 0, "", time.Time{})
		}
	}
	kept := s.entries[:0]
	for _, en := range s.entries {
		if !en.due.IsZero() {
			kept = append(kept, en)
		}
	}
	s.entries = kept
	e.armSchedule()
}
