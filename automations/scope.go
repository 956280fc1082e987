package automations

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"time"

	"hearth"
)

// scope is what the expressions of one event see. It is built lazily (a
// message nobody's `when` reads is never parsed) and reused from event to
// event by the consumer goroutine, so matching allocates little. Nothing in
// it may reach a run's goroutine except values that are never changed (the
// attribute maps of a state, a parsed payload): the rest is refilled by the
// next event.
type scope struct {
	clock   Clock
	log     *slog.Logger
	ev      evaluator
	helpers helpers

	gen       uint64 // counts events, so an automation fires once per event
	evaluated int    // triggers evaluated, for tests of the index
	event     hearth.Event
	states    states // every device's attributes, folded in log order

	now               time.Time
	haveNow           bool
	attrs             map[string]any // a state event's new attributes (kept in states)
	prev              map[string]any // a state event's previous attributes (may be the engine's stored map: never changed)
	havePrev          bool
	newVars           map[string]any // env of a device `when` over the new state
	haveNew           bool
	prevVars          map[string]any // env of a device `when` over the previous state
	havePrV           bool
	deviceBox, nowBox any
	haveBoxed         bool
	devices           map[string]any // each device's id as an interface value, boxed once
	empty             map[string]any // prev of the previous state: unknown
	payload           any
	havePay           bool
	mqtt              mqttEnv
	haveMQTT          bool
	cond              runEnv
	haveCond          bool
	matched           []*mqttTrigger
}

func newScope(c Clock, log *slog.Logger, st states, h helpers, loc *time.Location) scope {
	return scope{
		clock:    c,
		log:      log,
		ev:       evaluator{loc: loc},
		helpers:  h,
		states:   st,
		newVars:  map[string]any{},
		prevVars: map[string]any{},
		empty:    map[string]any{},
		devices:  map[string]any{},
	}
}

// begin starts on a new event.
func (s *scope) begin(ev hearth.Event) {
	s.gen++
	s.event = ev
	s.haveNow, s.havePrev, s.haveNew, s.havePrV, s.haveBoxed = false, false, false, false, false
	s.havePay, s.haveMQTT, s.haveCond = false, false, false
}

// end drops what refers to the event, so its payload can be collected.
func (s *scope) end() {
	s.event = hearth.Event{}
	s.attrs, s.prev, s.payload, s.deviceBox, s.nowBox = nil, nil, nil, nil, nil
	s.mqtt, s.cond = mqttEnv{}, runEnv{}
	clear(s.newVars)
	clear(s.prevVars)
	clear(s.matched)
}

func (s *scope) time() time.Time {
	if !s.haveNow {
		s.now, s.haveNow = s.clock.Now(), true
	}
	return s.now
}

// changed reports whether a state event changed anything.
func (s *scope) changed() bool { return !bytes.Equal(s.event.Payload, s.event.Prev) }

// prevAttrs returns the previous state of a state event: the one fold
// took from the engine's states, else parsed from the event.
func (s *scope) prevAttrs() map[string]any {
	if !s.havePrev {
		s.havePrev = true
		s.prev = s.empty
		if m, ok := parseObject(s.event.Prev); ok {
			s.prev = m
		}
	}
	return s.prev
}

// parseObject parses a JSON object. Decoding into an any rather than a map
// takes encoding/json's fast path: half the allocations.
func parseObject(b []byte) (map[string]any, bool) {
	if len(b) == 0 {
		return nil, false
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, false
	}
	m, ok := v.(map[string]any)
	return m, ok
}

// newEnv is the env of a device `when` over the new state.
func (s *scope) newEnv(x *expression) map[string]any {
	if !s.haveNew {
		s.haveNew = true
		s.fillDeviceEnv(s.newVars, s.attrs, s.prevAttrs())
	}
	if x.helpers {
		s.addHelpers(s.newVars)
	}
	return s.newVars
}

// prevEnv is the env of a device `when` over the previous state.
func (s *scope) prevEnv(x *expression) map[string]any {
	if !s.havePrV {
		s.havePrV = true
		s.fillDeviceEnv(s.prevVars, s.prevAttrs(), s.empty)
	}
	if x.helpers {
		s.addHelpers(s.prevVars)
	}
	return s.prevVars
}

// addHelpers puts the helpers into a device env, only for the expressions
// that use them: most do not, and the map is refilled per event.
func (s *scope) addHelpers(env map[string]any) {
	if _, ok := env["since"]; !ok {
		addHelpers(env, s.helpers)
	}
}

func (s *scope) fillDeviceEnv(env, attrs, prev map[string]any) {
	if !s.haveBoxed {
		// Boxed once per event for both envs; a device's id once for
		// good, as every state event of it is boxed the same.
		s.haveBoxed = true
		d, ok := s.devices[s.event.Device]
		if !ok {
			d = s.event.Device
			s.devices[s.event.Device] = d
		}
		s.deviceBox, s.nowBox = d, s.time()
	}
	clear(env)
	maps.Copy(env, attrs)
	env[varPrev] = prev
	env[varDevice] = s.deviceBox
	env[varStates] = s.states
	env[varNow] = s.nowBox
}

// messagePayload is a message's payload parsed as JSON, or as a string
// when it is not JSON.
func (s *scope) messagePayload() any {
	if !s.havePay {
		s.havePay = true
		var v any
		if err := json.Unmarshal(s.event.Payload, &v); err != nil {
			v = string(s.event.Payload)
		}
		s.payload = v
	}
	return s.payload
}

func (s *scope) mqttEnv() *mqttEnv {
	if !s.haveMQTT {
		s.haveMQTT = true
		s.mqtt = mqttEnv{helpers: s.helpers, Payload: s.messagePayload(), Topic: s.event.Topic, States: s.states, Now: s.time()}
	}
	return &s.mqtt
}

// runEnv is what conditions see for this event; the caller sets the
// trigger's id and kind and this.
func (s *scope) runEnv() *runEnv {
	if !s.haveCond {
		s.haveCond = true
		t := triggerVars{Device: s.event.Device, Topic: s.event.Topic}
		if s.event.Kind == hearth.KindState {
			t.Payload, t.State, t.Prev = s.attrs, s.attrs, s.prevAttrs()
		} else {
			t.Payload, t.State = s.messagePayload(), s.states[s.event.Device]
		}
		s.cond = runEnv{helpers: s.helpers, States: s.states, Trigger: t, Now: s.time()}
	}
	return &s.cond
}

// eval evaluates x for automation a; an error (a missing attribute compared
// with a number) counts as false, and is returned for the near miss.
func (s *scope) eval(a *Automation, x *expression, env any) (bool, error) {
	ok, err := x.eval(&s.ev.vm, env)
	if err != nil && s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("expression failed; taken as false", "automation", a.ID, "seq", s.event.Seq, "expr", x.src, "err", err)
	}
	return ok, err
}
