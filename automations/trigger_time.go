package automations

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// atTrigger fires every day at a time of day, in the hub's time zone. On
// the day clocks go forward a time that does not exist fires when it would
// have (02:30 becomes 03:30); on the day they go back it fires once.
type atTrigger struct {
	triggerBase
	clock time.Duration // since midnight
}

func (l *loader) atTrigger(b triggerBase, fs fieldList) trigger {
	l.unknown(fs, "an at trigger", "at", "id")
	f, _ := fs.get("at")
	d, ok := l.timeOfDay(f, "at")
	if !ok {
		return nil
	}
	b.desc = "at " + scalarOf(f.value)
	return &atTrigger{triggerBase: b, clock: d}
}

func (t *atTrigger) addTo(ix *index) { ix.timed = append(ix.timed, t) }

func (t *atTrigger) next(after time.Time, w *where) time.Time {
	return nextClock(after.In(w.loc), t.clock)
}

// nextClock returns the first time after t (in t's zone) whose time of day is clock.
func nextClock(t time.Time, clock time.Duration) time.Time {
	y, m, d := t.Date()
	for i := range 3 {
		at := time.Date(y, m, d+i, 0, 0, 0, 0, t.Location()).Add(clock)
		if h, mi, s := at.Clock(); time.Duration(h)*time.Hour+time.Duration(mi)*time.Minute+time.Duration(s)*time.Second != clock {
			// Midnight plus the clock crossed a change of offset: take the
			// wall-clock reading instead.
			at = time.Date(y, m, d+i, int(clock/time.Hour), int(clock%time.Hour/time.Minute), int(clock%time.Minute/time.Second), 0, t.Location())
		}
		if at.After(t) {
			return at
		}
	}
	return time.Time{}
}

// cronTrigger fires on a five-field cron schedule ("*/15 7-22 * * mon-fri")
// or a descriptor (@hourly, @daily, @every 10m), in the hub's time zone.
type cronTrigger struct {
	triggerBase
	sched cron.Schedule
}

func (l *loader) cronTrigger(b triggerBase, fs fieldList) trigger {
	l.unknown(fs, "a cron trigger", "cron", "id")
	f, _ := fs.get("cron")
	spec, ok := l.str(f, "cron")
	if !ok {
		return nil
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		l.errorf(f.value, "cron %q: %v (five fields: minute hour day-of-month month day-of-week, or @daily, @every 10m)", spec, err)
		return nil
	}
	b.desc = "cron " + spec
	return &cronTrigger{triggerBase: b, sched: sched}
}

func (t *cronTrigger) addTo(ix *index) { ix.timed = append(ix.timed, t) }

func (t *cronTrigger) next(after time.Time, w *where) time.Time {
	return t.sched.Next(after.In(w.loc))
}

// sunTrigger fires at sunrise or sunset, shifted by an offset, at the
// hub's location. Where the sun does not rise or set on a day (polar night,
// midnight sun) it does not fire that day.
type sunTrigger struct {
	triggerBase
	event  string // sunrise, sunset
	offset time.Duration
}

func (l *loader) sunTrigger(b triggerBase, fs fieldList) trigger {
	l.unknown(fs, "a sun trigger", "sun", "offset", "id")
	f, _ := fs.get("sun")
	ev, ok := l.str(f, "sun")
	if ok && ev != "sunrise" && ev != "sunset" {
		l.errorf(f.value, "sun must be sunrise or sunset, got %q", ev)
		ok = false
	}
	t := &sunTrigger{triggerBase: b, event: ev}
	if of, has := fs.get("offset"); has {
		d, good := l.signedDuration(of, "offset")
		t.offset = d
		ok = ok && good
	}
	if !ok {
		return nil
	}
	t.desc = "sun " + ev
	if t.offset != 0 {
		t.desc += fmt.Sprintf(" %+v", t.offset)
	}
	return t
}

func (t *sunTrigger) addTo(ix *index) { ix.timed = append(ix.timed, t) }

func (t *sunTrigger) next(after time.Time, w *where) time.Time {
	if !w.known {
		return time.Time{}
	}
	local := after.In(w.loc)
	y, m, d := local.Date()
	// Start a day early: with an offset, yesterday's sunset may come after t.
	for i := -1; i < 370; i++ {
		rise, set, ok := sunTimes(time.Date(y, m, d+i, 12, 0, 0, 0, w.loc), w.lat, w.lon)
		if !ok {
			continue
		}
		at := rise
		if t.event == "sunset" {
			at = set
		}
		if at = at.Add(t.offset); at.After(after) {
			return at.In(w.loc)
		}
	}
	return time.Time{}
}

// eventTrigger fires when the engine starts (`event: started`), once the
// pending timers are restored. It does not fire on a reload.
type eventTrigger struct {
	triggerBase
}

func (l *loader) eventTrigger(b triggerBase, fs fieldList) trigger {
	l.unknown(fs, "an event trigger", "event", "id")
	f, _ := fs.get("event")
	ev, ok := l.str(f, "event")
	if !ok {
		return nil
	}
	if ev != "started" {
		l.errorf(f.value, "event must be started (when the hub starts), got %q", ev)
		return nil
	}
	b.desc = "event started"
	return &eventTrigger{triggerBase: b}
}

func (t *eventTrigger) addTo(ix *index) { ix.started = append(ix.started, t) }
