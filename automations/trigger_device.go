package automations

// deviceTrigger fires on a change of a device's state: on the edge of its
// `when` (false or unknown before, true after), or on every change when it
// has no `when`.
type deviceTrigger struct {
	auto   *Automation
	device string
	when   *expression // nil: every change
}

func (l *loader) deviceTrigger(a *Automation, fs fieldList) trigger {
	l.unknown(fs, "a device trigger", "device", "when")
	f, _ := fs.get("device")
	id, ok := l.str(f, "device")
	if ok {
		if why := validDevice(id); why != "" {
			l.errorf(f.value, "device %q %s", id, why)
			ok = false
		}
	}
	t := &deviceTrigger{auto: a, device: id}
	if w, has := fs.get("when"); has {
		if t.when = l.expression(w.value, "when", envDevice); t.when == nil {
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return t
}

func (t *deviceTrigger) addTo(ix *index) {
	ix.devices[t.device] = append(ix.devices[t.device], t)
}

// fires reports whether the state event in s fires the trigger. The previous
// state is evaluated with an empty prev: what came before it is not known.
func (t *deviceTrigger) fires(s *scope) bool {
	s.evaluated++
	if t.when == nil {
		return s.changed()
	}
	if !s.eval(t.auto, t.when, s.newEnv()) {
		return false
	}
	return !s.eval(t.auto, t.when, s.prevEnv())
}
