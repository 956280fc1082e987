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
// evaluates those that compile against a state event and a message: no
// panics, and a result is always true, false or an error.
func FuzzExpression(f *testing.F) {
	for _, s := range []string{
		"occupancy == true", "temperature > 25", "brightness > prev.brightness",
		`payload.action == "single"`, "states.hall_lux.illuminance < 30",
		`trigger.state.occupancy && now.Hour() > 18`, "len(states) > 0 ? 1 : 2", "a.b.c[0]",
		`since("hall") > duration("10m")`, `between("22:00", "06:00")`, `now > at("07:30")`, `sunset() < now`, `this.id`, `repeat.index`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		c := newCompiler()
		e := New(Options{})
		defer e.Close()
		s := &e.scope
		s.states["lux"] = map[string]any{"illuminance": 3.0}
		s.begin(hearth.Event{Kind: hearth.KindState, Device: "d", Payload: []byte(`{"a":1,"b":"x"}`), Prev: []byte(`{"a":0}`)})
		s.attrs, _ = parseObject(s.event.Payload)
		for _, kind := range []envKind{envDevice, envMQTT, envRun} {
			for _, asValue := range []bool{false, true} {
				p, err := c.compile(kind, src, asValue)
				if err != nil {
					continue
				}
				x := &expression{src: src, prog: p, helpers: true}
				var env any
				switch kind {
				case envDevice:
					env = s.newEnv(x)
				case envMQTT:
					env = s.mqttEnv()
				case envRun:
					env = s.runEnv()
				}
				x.value(&s.ev.vm, env) //nolint:errcheck // any outcome but a panic is fine
			}
		}
		s.end()
	})
}
