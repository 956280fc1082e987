package automations

import (
	"errors"
	"hearth"
	"log/slog"
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
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		c := newCompiler()
		s := newScope(RealClock(), slog.New(slog.DiscardHandler))
		s.states["lux"] = map[string]any{"illuminance": 3.0}
		s.begin(hearth.Event{Kind: hearth.KindState, Device: "d", Payload: []byte(`{"a":1,"b":"x"}`), Prev: []byte(`{"a":0}`)})
		s.attrs, _ = parseObject(s.ev.Payload)
		for _, kind := range []envKind{envDevice, envMQTT, envCondition} {
			p, err := c.compile(kind, src)
			if err != nil {
				continue
			}
			x := &expression{src: src, prog: p}
			var env any
			switch kind {
			case envDevice:
				env = s.newEnv()
			case envMQTT:
				env = s.mqttEnv()
			case envCondition:
				env = s.conditionEnv()
			}
			x.eval(&s.vm, env) //nolint:errcheck // any outcome but a panic is fine
		}
		s.end()
	})
}
