package devices

import (
	"os"
	"path/filepath"
	"testing"

	"hearth"
)

// FuzzTemplate compiles any text as a template and renders it against any
// payload: neither may panic, and rendering is bounded.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"{{ value }}", "{{ value_json.x | float | round(1) }}", "{{value_json['ENERGY']['Total']}}",
		"{{ 'ON' if value_json.state == 'on' else 'OFF' }}", "{{ value | replace('a', 'bb') ~ value }}",
		"{{ (value | int) // 0 }}", "{{ value_json.l[-1] | default(3, true) }}", "{%- if x %}", "{{ -value | abs }}",
		"{{ value_json is defined and not (value_json.a in value_json) }}", "{{ 9223372036854775807 + 1 }}",
	} {
		f.Add(s, []byte(`{"x":"1.5","state":"on","l":[1,2],"a":{"b":null},"ENERGY":{"Total":1}}`))
	}
	f.Fuzz(func(t *testing.T, src string, payload []byte) {
		tpl, err := parseTemplate(src, "value", "value_json")
		if err != nil {
			return
		}
		out, err := tpl.render(valueEnv(payload))
		if err == nil && len(out) > maxTemplateOutput+len(src) {
			t.Fatalf("output of %d bytes", len(out))
		}
		_, _ = tpl.render(commandEnv(string(payload)))
	})
}

// FuzzDiscoveryConfig feeds any payload as a discovery config, then
// messages on the topics it may name: the registry must not panic and
// must keep its routes consistent with its entities.
func FuzzDiscoveryConfig(f *testing.F) {
	for _, dir := range []string{"homeassistant", "esphome"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, []byte("ON"))
		}
	}
	f.Add([]byte(`{"avty":[{"t":"~"},1,{"t":null}],"~":"x","stat_t":"~","bri_scl":0,"schema":"json","sup_clrm":[null]}`), []byte(`{"brightness":1e308}`))
	f.Fuzz(func(t *testing.T, config, payload []byte) {
		r, err := NewRegistry(Options{Adapters: Adapters()})
		if err != nil {
			t.Fatal(err)
		}
		var seq uint64
		send := func(kind hearth.Kind, topic string, p []byte) {
			seq++
			e := hearth.Event{Seq: seq, Kind: kind, Topic: topic, Payload: p}
			r.Apply(&e, func(hearth.Event) {})
		}
		send(hearth.KindMessage, "homeassistant/light/node/obj/config", config)
		var topics []string
		for t := range r.routes {
			topics = append(topics, t)
		}
		for _, topic := range topics {
			send(hearth.KindMessage, topic, payload)
		}
		for _, id := range []string{"node", "obj"} {
			_, _ = r.CommandFor(id, []byte(`{"state":"TOGGLE","brightness":300,"node":"x","obj":1}`))
		}
		r.Info("node")
		send(hearth.KindMessage, "homeassistant/light/node/obj/config", nil)
		if len(r.routes) != 0 {
			t.Fatalf("routes left after the config was removed: %v", r.routes)
		}
	})
}

// FuzzDevicesFile parses any text as a devices file: it may be refused,
// never panic, and what loads can be put in force.
func FuzzDevicesFile(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "devicesfile", "good.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("- &a {id: x, state: [{topic: t, attr: a}]}\n- *a\n"))
	f.Add([]byte("- id: a\n  command: {topic: t, attr: s, template: '{{ value }}'}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseFile("fuzz.yaml", data)
		if err != nil {
			return
		}
		r := New("home", nil)
		r.SetFile(file)
		for topic := range r.routes {
			e := hearth.Event{Kind: hearth.KindMessage, Topic: topic, Payload: []byte(`{"a":1}`)}
			r.Apply(&e, func(hearth.Event) {})
		}
		for _, id := range file.IDs() {
			_, _ = r.CommandFor(id, []byte(`{"state":"ON"}`))
		}
	})
}
