package automations

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// TestANearMissShowsWhatEachReadGivesAlone checks the values a near miss
// shows against what the expression language gives for each read compiled
// and run on its own: paths are looked up without compiling anything, and
// must give the same, in every environment and for the odd ones too (a
// device never seen, a member of a number, an index out of range).
func TestANearMissShowsWhatEachReadGivesAlone(t *testing.T) {
	e := New(Options{Clock: NewFakeClock(time.Date(2025, 11, 25, 20, 0, 0, 0, time.UTC)), Location: time.UTC})
	t.Cleanup(e.Close)
	st := states{
		"lux":   {"illuminance": 12.0, "list": []any{1.0, "two"}},
		"house": {"mode": "home"},
		"empty": nil,
	}
	attrs := map[string]any{
		"occupancy": true, "num": 3.0, "text": "abc", "items": []any{1.0, map[string]any{"x": 2.0}},
		"nested": map[string]any{"a": map[string]any{"b": 2.0}}, "nothing": nil,
	}
	prev := map[string]any{"occupancy": false}
	now := e.clock.Now()
	deviceEnv := map[string]any{varPrev: prev, varDevice: "motion", varStates: st, varNow: now}
	for k, v := range attrs {
		deviceEnv[k] = v
	}
	addHelpers(deviceEnv, e.helpers)
	payload := map[string]any{"action": "single", "n": 2.0, "list": []any{"a", map[string]any{"deep": true}}}
	this := thisVars{ID: "a", Description: "the test"}
	runEnvOf := func(p any) *runEnv {
		return &runEnv{helpers: e.helpers, States: st, Now: now, This: this, Repeat: repeatVars{Index: 2, Last: true},
			Trigger: triggerVars{ID: "0", Kind: "device", Device: "motion", Topic: "home/motion", Payload: p, State: attrs, Prev: prev}}
	}
	mqttEnvOf := func(p any) *mqttEnv {
		return &mqttEnv{helpers: e.helpers, Payload: p, Topic: "home/button", States: st, Now: now, This: this}
	}
	shared := []string{
		`states.lux.illuminance < 30`,
		`(states.nosuch.illuminance ?? 0) < 30`,
		`states.empty.x == nil`,
		`states["lux"]["illuminance"] > 1`,
		`states.lux.list[1] == "two" && states.lux.list[-1] == "two" && states.lux.list[7] == 1`,
		`states.lux.illuminance.x == 1`,
		`states.lux?.illuminance > 1 || states.gone?.illuminance > 1`,
		`states.lux == nil || len(states) > 0`,
		`now.Hour() >= 18 && now.Year() > 2000`,
		`since("lux") > duration("10m")`,
		`at("07:30") < now || between("07:00", "08:00")`,
		`sunrise() < now`,
		`let y = states.lux; y.illuminance > 1`,
		`$env.states.lux.illuminance > 1`,
		`this.id == "a"`,
		`this.description == ""`,
	}
	type env struct {
		name string
		env  any
	}
	cases := []struct {
		what  string
		kind  envKind
		exprs []string
		envs  []env
	}{
		{"a device's when", envDevice, append([]string{
			`occupancy == true`,
			`prev.occupancy != occupancy && num > 1`,
			`text[0] == "a" && text.x == nil`,
			`items[0] == 1 && items[1].x == 2 && items[9] == 1 && items.x == 1`,
			`nested.a.b == 2 && nested?.a?.c == nil && nested.a.b.c == nil`,
			`missing.x == nil && nothing.x == nil && num.x == nil`,
			`device == "motion" && prev.gone == nil`,
		}, shared...), []env{{"its attributes", deviceEnv}, {"nothing", map[string]any{}}}},
		{"a condition", envRun, append([]string{
			`trigger.state.occupancy && trigger.prev.occupancy == false`,
			`trigger.payload.list[1].deep && trigger.payload.list[0] == "a" && trigger.payload[0] == 1`,
			`trigger.payload.action == "single" && trigger.payload.n.x == 1`,
			`trigger.device == "motion" && trigger.id == "0" && trigger.kind == "device" && trigger.topic != ""`,
			`trigger.state != nil && trigger != nil`,
			`repeat.index > 1 && repeat.first && repeat.last`,
			`repeat != nil`,
		}, shared...), []env{{"a JSON payload", runEnvOf(payload)}, {"a text payload", runEnvOf("on")}, {"no payload", runEnvOf(nil)}, {"nothing", &runEnv{}}}},
		{"an mqtt when", envMQTT, append([]string{
			`payload.action == "single" && payload.n > 1`,
			`payload.list[1].deep && payload.list[0] == "a" && payload.list[2] == nil`,
			`payload == "on" || payload.x == 1 || payload[0] == "o"`,
			`topic == "home/button"`,
		}, shared...), []env{{"a JSON payload", mqttEnvOf(payload)}, {"a text payload", mqttEnvOf("on")}, {"a number", mqttEnvOf(2.0)}, {"no payload", mqttEnvOf(nil)}, {"nothing", &mqttEnv{}}}},
	}
	opts := newCompiler().options
	for _, c := range cases {
		for _, src := range c.exprs {
			x := loadExpression(t, c.kind, src)
			for _, env := range c.envs {
				for _, r := range x.reads {
					t.Run(fmt.Sprintf("%s in %s over %s gives what it gives alone", r.text, c.what, env.name), func(t *testing.T) {
						var m vm.VM
						got := r.value(&m, env.env)
						want := aloneValue(r.text, opts[c.kind], env.env)
						if !sameRead(got, want) {
							t.Errorf("%s (of %s): got %#v, the language alone gives %#v", r.text, src, got, want)
						}
						if r.path == nil && r.prog == nil && want != nil {
							t.Errorf("%s is neither a path nor compiled", r.text)
						}
					})
				}
			}
		}
	}
}

// loadExpression loads src where an expression of kind sits (a device
// `when`, a condition (a repeat's, which sees repeat too), an mqtt `when`).
func loadExpression(t *testing.T, kind envKind, src string) *expression {
	t.Helper()
	q := "'" + strings.ReplaceAll(src, "'", "''") + "'"
	var y string
	switch kind {
	case envDevice:
		y = "- {id: a, triggers: [{device: motion, when: " + q + "}], actions: [{delay: 1s}]}"
	case envRun:
		// In a repeat's while, where repeat exists too.
		y = "- {id: a, triggers: [{device: motion}], actions: [{repeat: {while: [" + q + "], actions: [{delay: 1s}]}}]}"
	case envMQTT:
		y = "- {id: a, triggers: [{mqtt: home/button, when: " + q + "}], actions: [{delay: 1s}]}"
	}
	set, err := LoadBytes("a.yaml", []byte(y))
	if err != nil {
		t.Fatalf("%s does not load: %v", src, err)
	}
	a := set.automations[0]
	switch kind {
	case envDevice:
		return a.triggers[0].(*deviceTrigger).when
	case envMQTT:
		return a.triggers[0].(*mqttTrigger).when
	}
	return a.actions[0].(*repeatAction).while[0].(exprCond).x
}

// aloneValue compiles and runs text on its own, as a near miss did before
// reads were looked up: nil when it does not compile or fails.
func aloneValue(text string, opts []expr.Option, env any) (v any) {
	defer func() {
		if recover() != nil {
			v = nil
		}
	}()
	p, err := expr.Compile(text, opts...)
	if err != nil {
		return nil
	}
	v, err = expr.Run(p, env)
	if err != nil {
		return nil
	}
	return v
}

// sameRead compares two values a read gave; functions (a helper named
// without calling it) are the same when they have the same type.
func sameRead(a, b any) bool {
	if a != nil && b != nil && reflect.TypeOf(a).Kind() == reflect.Func {
		return reflect.TypeOf(a) == reflect.TypeOf(b)
	}
	return reflect.DeepEqual(a, b)
}

// member must know every field an expression can name, or a near miss
// would show nil for a field added later.
func TestMemberKnowsEveryFieldExpressionsName(t *testing.T) {
	for _, v := range []interface{ member(string) any }{&triggerVars{}, &thisVars{}, &repeatVars{}} {
		rv := reflect.ValueOf(v).Elem()
		for i := range rv.NumField() {
			f := rv.Type().Field(i)
			name := f.Tag.Get("expr")
			if name == "" {
				continue
			}
			// A value of the field's type that is not its zero value.
			var set reflect.Value
			switch f.Type.Kind() {
			case reflect.String:
				set = reflect.ValueOf("x" + name)
			case reflect.Int:
				set = reflect.ValueOf(i + 7)
			case reflect.Bool:
				set = reflect.ValueOf(true)
			case reflect.Map:
				set = reflect.ValueOf(map[string]any{name: 1.0})
			case reflect.Interface:
				set = reflect.ValueOf(name + "!")
			default:
				t.Fatalf("%s.%s: no test value for a %s", rv.Type(), f.Name, f.Type)
			}
			rv.Field(i).Set(set)
			if got := v.member(name); !reflect.DeepEqual(got, rv.Field(i).Interface()) {
				t.Errorf("%s.member(%q) = %v, want the field %s, %v", rv.Type(), name, got, f.Name, rv.Field(i).Interface())
			}
		}
	}
}
