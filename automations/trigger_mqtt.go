package automations

// mqttTrigger fires on every message whose topic matches its filter and
// whose `when` holds: messages are events, not states, so there is no edge.
type mqttTrigger struct {
	auto   *Automation
	filter string
	when   *expression // nil: every matching message
}

func (l *loader) mqttTrigger(a *Automation, fs fieldList) trigger {
	l.unknown(fs, "an mqtt trigger", "mqtt", "when")
	f, _ := fs.get("mqtt")
	filter, ok := l.str(f, "mqtt")
	if ok {
		if why := validFilter(filter); why != "" {
			l.errorf(f.value, "topic filter %q %s", filter, why)
			ok = false
		}
	}
	t := &mqttTrigger{auto: a, filter: filter}
	if w, has := fs.get("when"); has {
		if t.when = l.expression(w.value, "when", envMQTT); t.when == nil {
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return t
}

func (t *mqttTrigger) addTo(ix *index) { ix.topics.insert(t.filter, t) }

// fires reports whether the message in s fires the trigger; the index has
// already matched the topic.
func (t *mqttTrigger) fires(s *scope) bool {
	s.evaluated++
	if t.when == nil {
		return true
	}
	return s.eval(t.auto, t.when, s.mqttEnv())
}
