package automations

import (
	"errors"
	"hearth"
	"testing"
)

// FuzzLoad feeds the loader arbitrary bytes: it must never panic, and it
// must return either a set or a *LoadError with at least one problem.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(designExample))
	f.Add([]byte(manyAutomations(2)))
	f.Add([]byte("- id: a\n  triggers: [{device: x, when: \"a > \"}]\n  actions: [{delay: 5m}]\n"))
	f.Add([]byte("- id: a\n  mode: &m queued\n  max: 3\n  triggers: [{mqtt: a/#}]\n  actions: [{publish: b, payload: {x: [1, 2.5, null, *m]}, qos: 1, retain: true}]\n"))
	f.Add([]byte("- &a {id: x, <<: *a}\n"))
	f.Add([]byte("- [\n"))
	f.Add([]byte(houseRules))
	f.Add([]byte("- scene: s\n  states: {l: {b: \"{{ 1 }}\"}}\n- id: a\n  triggers: [{sun: sunset, offset: -1h}, {cron: '@daily'}, {event: started}]\n  conditions: [{or: ['true', {after: '22:00'}]}]\n  actions: [{scene: s}, {repeat: {count: 2, actions: [{wait: 'true', timeout: 1m}]}}, {parallel: [{log: a}, [{stop: x}]]}]\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := LoadBytes("fuzz.yaml", data)
		if err == nil {
			if set == nil {
				t.Fatal("no set and no error")
			}
			return
		}
		var le *LoadError
		if !errors.As(err, &le) || len(le.Problems) == 0 {
			t.Fatalf("error %v is not a *LoadError with problems", err)
		}
	})
}

// FuzzExpression compiles arbitrary expressions in each environment and
// evaluates those that compile over an arbitrary state (the new one, the
// previous one, and the same bytes as another device's state and as an
// MQTT message): no panics, and a result is always true, false or an
// error. A state need not be a JSON object, and its keys may shadow the
// names of the environment (states, prev, now).
func FuzzExpression(f *testing.F) {
	for _, s := range []string{
		"occupancy == true", "temperature > 25", "brightness > prev.brightness",
		`payload.action == "single"`, "states.hall_lux.illuminance < 30",
		`trigger.state.occupancy && now.Hour() > 18`, "len(states) > 0 ? 1 : 2", "a.b.c[0]",
		`since("hall") > duration("10m")`, `between("22:00", "06:00")`, `now > at("07:30")`, `sunset() < now`, `this.id`, `repeat.index`,
		"states.lux.a.b[1] / states.lux.n", "payload.l[-1] + 1", "prev.a ?? 0", "trigger.prev.x.y", "int(payload.v) % 0",
	} {
		f.Add(s, []byte(`{"a":1,"b":"x"}`), []byte(`{"a":0}`))
	}
	for _, st := range []string{
		`{"a":{"b":[1,{"c":1e308}]},"n":0,"l":[],"v":"9223372036854775808"}`,
		`{"states":{"x":1},"prev":2,"now":"later","trigger":null,"payload":[1]}`,
		`[1,2]`, `"x"`, `null`, `{"occupancy":"yes","temperature":null,"brightness":-1e400}`, `{`,
	} {
		f.Add("occupancy == true && temperature > prev.temperature", []byte(st), []byte(`{"temperature":1}`))
	}
	f.Fuzz(func(t *testing.T, src string, state, prev []byte) {
		c := newCompiler()
		e := New(Options{})
		defer e.Close()
		s := &e.scope
		// As the engine folds a state event: a payload that is not a JSON
		// object counts as no attributes.
		attrs, ok := parseObject(state)
		if !ok {
			attrs = map[string]any{}
		}
		s.states["lux"] = attrs
		s.states["d"] = attrs
		var progs []*expression
		kinds := map[*expression]envKind{}
		for _, kind := range []envKind{envDevice, envMQTT, envRun} {
			for _, asValue := range []bool{false, true} {
				p, err := c.compile(kind, src, asValue)
				if err != nil {
					continue
				}
				x := &expression{src: src, prog: p, helpers: true}
				progs = append(progs, x)
				kinds[x] = kind
			}
		}
		for _, ev := range []hearth.Event{
			{Kind: hearth.KindState, Device: "d", Topic: "home/d", Payload: state, Prev: prev},
			{Kind: hearth.KindMessage, Device: "d", Topic: "home/d", Payload: state},
		} {
			s.begin(ev)
			if ev.Kind == hearth.KindState {
				s.attrs = attrs
			}
			for _, x := range progs {
				var envs []any
				switch kinds[x] {
				case envDevice:
					envs = []any{s.newEnv(x), s.prevEnv(x)}
				case envMQTT:
					envs = []any{s.mqttEnv()}
				case envRun:
					envs = []any{s.runEnv()}
				}
				for _, env := range envs {
					x.value(&s.ev.vm, env) //nolint:errcheck // any outcome but a panic is fine
				}
			}
			s.end()
		}
	})
}
