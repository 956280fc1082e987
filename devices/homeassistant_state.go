package devices

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"hearth"
)

// haRoute is one topic of an entity.
type haRoute struct {
	ent *haEntity
}

func (rt *haRoute) device() string { return rt.ent.device }
func (rt *haRoute) owner() string  { return adapterHomeAssistant }

// read folds what a message on one of the entity's topics says: a topic
// can be several of them at once (a state topic that also carries
// attributes).
func (rt *haRoute) read(r *Registry, e *hearth.Event, u *update) {
	ent := rt.ent
	env := r.routeEnv(e)
	if e.Topic == ent.stateTopic {
		ent.readState(r, e, env, u)
	}
	if e.Topic == ent.briStateTopic {
		if text, ok := ent.render(r, ent.briValTpl, env, e); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(text), 64); err == nil {
				u.attrs.set(ent.briAttr, scale(f, ent.briScale, 254))
			}
		}
	}
	if e.Topic == ent.attrTopic {
		if text, ok := ent.render(r, ent.attrTpl, env, e); ok {
			var m map[string]any
			if json.Unmarshal([]byte(text), &m) == nil {
				for _, k := range sortedKeys(m) {
					u.attrs.set(k, m[k])
				}
			}
		}
	}
	for _, a := range ent.avail {
		if e.Topic != a.topic {
			continue
		}
		if text, ok := ent.render(r, a.tpl, env, e); ok {
			switch strings.TrimSpace(text) {
			case a.on:
				u.avail = hearth.Online
			case a.off:
				u.avail = hearth.Offline
			}
		}
	}
}

// routeEnv is the template environment of the message the routes are
// reading, made once per message so that value_json is decoded once.
func (r *Registry) routeEnv(e *hearth.Event) *tplEnv {
	if r.env == nil {
		r.env = valueEnv(e.Payload)
		r.env.decode = r.decodeAny
	}
	return r.env
}

// decodeAny decodes a JSON payload with the registry's parser. A number
// comes back as a float64, so a whole number written 21.0 renders as 21,
// where Jinja would say 21.0: the same value once the adapter reads it.
func (r *Registry) decodeAny(payload []byte) (any, bool) {
	v, ok := r.p.parseTop(payload)
	if !ok {
		return nil, false
	}
	return v.box(), true
}

// render applies a template to the message, or gives the payload as it is
// when there is none. A template that fails (a key missing from this
// message) leaves the attribute as it was.
func (ent *haEntity) render(r *Registry, t *template, env *tplEnv, e *hearth.Event) (string, bool) {
	if t == nil {
		return env.value.s, true
	}
	s, err := t.render(env)
	if err != nil {
		r.log.Debug("template failed; state kept", "device", ent.device, "entity", ent.key, "topic", e.Topic, "err", err)
		return "", false
	}
	return s, true
}

// readState reads the entity's state topic into its attribute.
func (ent *haEntity) readState(r *Registry, e *hearth.Event, env *tplEnv, u *update) {
	if ent.jsonSchema {
		var m map[string]any
		if json.Unmarshal(e.Payload, &m) != nil {
			return
		}
		if s, ok := m["state"].(string); ok && (s == "ON" || s == "OFF") {
			u.attrs.set(ent.attr, s)
		}
		if f, ok := m["brightness"].(float64); ok && ent.briAttr != "" {
			u.attrs.set(ent.briAttr, scale(f, ent.briScale, 254))
		}
		if f, ok := m["color_temp"].(float64); ok {
			u.attrs.set("color_temp", f)
		}
		return
	}
	text, ok := ent.render(r, ent.valTpl, env, e)
	if !ok {
		return
	}
	text = strings.TrimSpace(text)
	switch ent.component {
	case "binary_sensor":
		switch text {
		case ent.payloadOn:
			u.attrs.set(ent.attr, !ent.invert)
		case ent.payloadOff:
			u.attrs.set(ent.attr, ent.invert)
		}
	case "switch", "light":
		switch text {
		case ent.stateOn:
			u.attrs.set(ent.attr, "ON")
		case ent.stateOff:
			u.attrs.set(ent.attr, "OFF")
		}
	default:
		u.attrs.set(ent.attr, sensorValue(text))
	}
}

// sensorValue reads a sensor's text: a number when it is one, nothing (the
// attribute goes) when Home Assistant would show it unknown, else the text.
func sensorValue(text string) any {
	switch text {
	case "", "unknown", "unavailable", "None", "none", "null":
		return nil
	}
	if f, err := strconv.ParseFloat(text, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return f
	}
	return text
}
