package automations

import "hearth"

// mqttTrigger fires on every message whose topic matches its filter and
// whose `when` holds: messages are events, not states, so there is no edge.
// Commands the hub publishes (an automation's, the page's) are messages too.
type mqttTrigger struct {
	triggerBase
	filter string
	when   *expression // nil: every matching message
}

func (l *loader) mqttTrigger(b triggerBase, fs fieldList) trigger {
	l.unknown(fs, "an mqtt trigger", "mqtt", "when", "id")
	f, _ := fs.get("mqtt")
	filter, ok := l.str(f, "mqtt")
	if ok {
		if why := hearth.FilterProblem(filter); why != "" {
			l.errorf(f.value, "topic filter %q %s", filter, why)
			ok = false
		}
	}
	t := &mqttTrigger{triggerBase: b, filter: filter}
	if w, has := fs.get("when"); has {
		if t.when = l.expression(w.value, "when", envMQTT); t.when == nil {
			ok = false
		}
	}
	if !ok {
		return nil
	}
	t.desc = "mqtt " + filter
	if t.when != nil {
		t.desc += " when " + t.when.src
	}
	return t
}

func (t *mqttTrigger) addTo(ix *index) { ix.topics.insert(t.filter, t) }

// fires reports whether the message in s fires the trigger (and why its
// `when` failed, for the near miss); the index has already matched the topic.
func (t *mqttTrigger) fires(s *scope) (bool, error) {
	s.evaluated++
	if t.when == nil {
		return true, nil
	}
	env := s.mqttEnv()
	env.This = thisVars{ID: t.auto.ID, Description: t.auto.Description}
	return s.eval(t.auto, t.when, env)
}
