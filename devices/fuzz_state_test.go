package devices

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"hearth"
)

// FuzzStateMerge sends a device two state messages of any bytes: the
// registry's merge (its own JSON parser, the change check that allocates
// nothing) must agree with a plain merge written with encoding/json, and
// emit a state event exactly when the state changed.
func FuzzStateMerge(f *testing.F) {
	for _, p := range [][2]string{
		{`{"occupancy":true,"illuminance":12}`, `{"illuminance":14}`},
		{`{"state":"ON","brightness":200}`, `{"state":null}`},
		{`{"color":{"x":0.3,"y":0.4}}`, `{"color":{"x":0.3}}`},
		{`{"a":1,"a":2}`, `{"a":2,"a":1}`},
		{`21.5`, `{"value":null}`},
		{`ON`, `"\ud800"`},
		{`[1,2]`, ` {"l":[1,{"m":null}]} `},
		{`{"n":1e400}`, `{"n":-0}`},
		{"{\"s\":\"\xff\"}", `{}`},
	} {
		f.Add([]byte(p[0]), []byte(p[1]))
	}
	f.Fuzz(func(t *testing.T, first, second []byte) {
		r := New("home", nil)
		want := map[string]any{}
		known := false
		var seq uint64
		for _, payload := range [][]byte{first, second} {
			seq++
			e := hearth.Event{Seq: seq, Kind: hearth.KindMessage, Topic: "home/x", Payload: payload}
			var states []hearth.Event
			r.Apply(&e, func(ev hearth.Event) { states = append(states, ev) })

			changed := false
			if after := referenceFold(want, payload); after != nil && !reflect.DeepEqual(after, want) {
				want, changed, known = after, true, true
			}
			if changed != (len(states) == 1) || len(states) > 1 {
				t.Fatalf("after %q: the plain merge says changed=%v, the registry emitted %d events", payload, changed, len(states))
			}
			d, ok := r.Device("x")
			if ok != known || ok && !reflect.DeepEqual(d.State, want) {
				t.Fatalf("after %q the state is %#v (known %v), the plain merge says %#v", payload, d.State, ok, want)
			}
			for _, ev := range states {
				// What is logged reads back as the state it says.
				st, _, raw, ok := r.wholeState(ev.Payload)
				if !ok || !reflect.DeepEqual(st, want) || !bytes.Equal(raw, ev.Payload) {
					t.Fatalf("after %q the state event holds %q, which reads back as %#v (canonical %q)", payload, ev.Payload, st, raw)
				}
			}
		}
	})
}

// FuzzApply sends two messages of any bytes on any topic to a registry
// with every adapter on, then replays what the hub would have logged (the
// messages and the events the registry emitted) into a fresh registry: no
// panic, every state event holds a JSON object, and the replayed read model
// equals the live one (the read model is a fold of the log).
func FuzzApply(f *testing.F) {
	for _, s := range []struct{ topic, first, second string }{
		{"home/hall_motion", `{"occupancy":true}`, `{"occupancy":false}`},
		{"home/hall_motion/availability", "online", `{"state":"offline"}`},
		{"home/lamp/set", `{"state":"ON"}`, `{"brightness":300}`},
		{"zigbee2mqtt/bridge/devices", `[{"friendly_name":"bulb","ieee_address":"0x1","definition":{"exposes":[{"type":"light"}]}}]`, `[]`},
		{"zigbee2mqtt/bulb", `{"state":"ON","brightness":254}`, `{"update":{"state":"idle"}}`},
		{"tele/plug/SENSOR", `{"ENERGY":{"Power":12,"Total":1.5},"Time":"2024-01-01T00:00:00"}`, `{"AM2301":{"Temperature":21.5}}`},
		{"stat/plug/POWER", "ON", "OFF"},
		{"stat/plug/RESULT", `{"POWER":"ON","Dimmer":40}`, `{"POWER2":"OFF"}`},
		{"homeassistant/sensor/node/temp/config", `{"stat_t":"esp/temp","unit_of_meas":"°C","val_tpl":"{{ value | float }}"}`, ``},
		{"owntracks/ann/phone", `{"_type":"location","lat":52.1,"lon":4.3,"acc":10}`, `{"_type":"transition","event":"leave"}`},
	} {
		f.Add(s.topic, []byte(s.first), []byte(s.second))
	}
	f.Fuzz(func(t *testing.T, topic string, first, second []byte) {
		newRegistry := func() *Registry {
			r, err := NewRegistry(Options{Adapters: Adapters()})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		live := newRegistry()
		var log []hearth.Event
		var seq uint64
		// The first message again after the second: a state that goes back,
		// a config message sent twice.
		for _, payload := range [][]byte{first, second, first} {
			seq++
			e := hearth.Event{Seq: seq, Kind: hearth.KindMessage, Topic: topic, Payload: payload}
			var emitted []hearth.Event
			live.Apply(&e, func(ev hearth.Event) { emitted = append(emitted, ev) })
			log = append(log, e)
			for _, ev := range emitted {
				seq++
				ev.Seq = seq
				if ev.Kind == hearth.KindState && (!bytes.HasPrefix(ev.Payload, []byte("{")) || !isObject(ev.Payload)) {
					t.Fatalf("message %q on %q: state event of %q holds %q, not a JSON object", payload, topic, ev.Device, ev.Payload)
				}
				if ev.Device == "" || strings.ContainsAny(ev.Device, "+#") {
					t.Fatalf("message %q on %q: event for device %q", payload, topic, ev.Device)
				}
				log = append(log, ev)
			}
		}
		replayed := newRegistry()
		for _, e := range log {
			replayed.ApplyLogged(e)
		}
		if got, want := replayed.Devices(), live.Devices(); !reflect.DeepEqual(got, want) {
			t.Fatalf("messages %q, %q on %q: replayed read model differs:\n got  %+v\n want %+v", first, second, topic, got, want)
		}
	})
}

// isObject reports whether b is one JSON object and nothing else.
func isObject(b []byte) bool {
	var p parser
	return p.parseObject(b)
}

// FuzzParseTopic checks the native topic convention on any base topic and
// topic: what parseTopic finds is one level under the base, without
// wildcards, and what follows it is what the kind says.
func FuzzParseTopic(f *testing.F) {
	for _, s := range [][2]string{
		{"home", "home/lamp"}, {"home", "home/lamp/set"}, {"home", "home/lamp/availability"},
		{"home", "home/lamp/button/x"}, {"home", "home//set"}, {"home", "home/+/set"}, {"home", "homes/lamp"},
		{"a/b", "a/b/c"}, {"home", "home/"}, {"home", "home"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, base, topic string) {
		id, kind := parseTopic(base, topic)
		if kind == topicNone {
			if id != "" {
				t.Fatalf("parseTopic(%q, %q) = %q with no kind", base, topic, id)
			}
			if rest, ok := strings.CutPrefix(topic, base+"/"); ok {
				if first, _, _ := strings.Cut(rest, "/"); first != "" && !strings.ContainsAny(first, "+#") {
					t.Fatalf("parseTopic(%q, %q) found no device, but %q is one", base, topic, first)
				}
			}
			return
		}
		if id == "" || strings.ContainsAny(id, "/+#") {
			t.Fatalf("parseTopic(%q, %q) = device %q", base, topic, id)
		}
		rest, ok := strings.CutPrefix(topic, base+"/"+id)
		if !ok {
			t.Fatalf("parseTopic(%q, %q) = device %q, not the level under the base", base, topic, id)
		}
		want := map[string]topicKind{"": topicState, "/" + subSet: topicSet, "/" + subAvailability: topicAvailability}[rest]
		if want == topicNone {
			want = topicOther
		}
		if kind != want || kind == topicOther && !strings.HasPrefix(rest, "/") {
			t.Fatalf("parseTopic(%q, %q) = %q, kind %d; what follows the device is %q", base, topic, id, kind, rest)
		}
	})
}
