package automations

import (
	"fmt"
	"time"
)

// deviceTrigger fires on a change of a device's state: on the edge of its
// `when` (false or unknown before, true after), or on every change when it
// has no `when`. With `for:` it fires once the `when` has held that long
// (or, without a `when`, once the state has not changed for that long).
type deviceTrigger struct {
	triggerBase
	device string
	when   *expression // nil: every change
	hold   time.Duration
}

func (l *loader) deviceTrigger(b triggerBase, fs fieldList) trigger {
	l.unknown(fs, "a device trigger", "device", "when", "for", "id")
	f, _ := fs.get("device")
	id, ok := l.str(f, "device")
	if ok {
		if why := validDevice(id); why != "" {
			l.errorf(f.value, "device %q %s", id, why)
			ok = false
		} else {
			l.device(f.value, id)
		}
	}
	t := &deviceTrigger{triggerBase: b, device: id}
	if w, has := fs.get("when"); has {
		if t.when = l.expression(w.value, "when", envDevice); t.when == nil {
			ok = false
		} else if syn := l.c.programs.syntaxOf(t.when.src); syn != nil && ok {
			for _, name := range syn.names {
				l.attribute(w.value, "when", t.when.src, id, name)
			}
		}
	}
	if ff, has := fs.get("for"); has {
		d, good := l.duration(ff, "for")
		t.hold = d
		ok = ok && good
	}
	if !ok {
		return nil
	}
	t.desc = "device " + id
	if t.when != nil {
		t.desc += " when " + t.when.src
	}
	if t.hold > 0 {
		t.desc += fmt.Sprintf(" for %s", t.hold)
	}
	return t
}

func (t *deviceTrigger) addTo(ix *index) {
	ix.devices[t.device] = append(ix.devices[t.device], t)
}

// verdict is what a device trigger makes of a state event.
type verdict int

const (
	// verdictFalse: the `when` does not hold on the new state (a near miss).
	verdictFalse verdict = iota
	// verdictHeld: it holds but held before too (or nothing changed).
	verdictHeld
	// verdictEdge: it became true (or, without a `when`, the state changed).
	verdictEdge
)

// check evaluates the trigger on the state event in s; the error is why
// the `when` failed on the new state, for its near miss. The `when` held
// before when it holds on the previous state, unless that state is unknown:
// a device's first state comes after one without attributes ({}), so a
// `when` that holds on it is an edge. An attribute missing from a known
// previous state reads as nil there, as in the new state: `temperature >
// 25` fails (false) and `humidity == nil` holds.
func (t *deviceTrigger) check(s *scope) (verdict, error) {
	s.evaluated++
	if t.when == nil {
		if s.changed() {
			return verdictEdge, nil
		}
		return verdictHeld, nil
	}
	if ok, err := s.eval(t.auto, t.when, s.newEnv(t.when)); !ok {
		return verdictFalse, err
	}
	if len(s.prevAttrs()) > 0 {
		if held, _ := s.eval(t.auto, t.when, s.prevEnv(t.when)); held {
			return verdictHeld, nil
		}
	}
	return verdictEdge, nil
}
