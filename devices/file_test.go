package devices

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"hearth"
)

func TestDevicesFileGood(t *testing.T) {
	f, err := LoadFile(filepath.Join("testdata", "devicesfile", "good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.IDs(), []string{"hall_motion", "garage_door", "heat_pump", "fan", "shelly_plug"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ids = %v, want %v", got, want)
	}
	g := newRigWith(t, Options{Adapters: Adapters(), File: f})

	t.Run("a device an adapter reads gets its name and room", func(t *testing.T) {
		g.msg("zigbee2mqtt/hall_motion", testdata(t, "zigbee2mqtt/aqara_motion.json"))
		in := g.info("hall_motion")
		if in.Name != "Hall motion" || in.Room != "Hall" || in.Adapter != "zigbee2mqtt" {
			t.Errorf("info = %+v", in)
		}
	})
	t.Run("a named device no adapter has heard of is known by its info", func(t *testing.T) {
		in := g.info("fan")
		if in.Adapter != "file" || in.Name != "" {
			t.Errorf("info = %+v", in)
		}
	})
	t.Run("a plain payload is mapped to a value", func(t *testing.T) {
		e, out := g.send(hearth.KindMessage, "garage/door/status", []byte("OPEN"))
		if e.Device != "garage_door" || len(out) != 1 {
			t.Fatalf("device %q, emitted %+v", e.Device, out)
		}
		sameState(t, "state", g.state("garage_door"), map[string]any{"contact": false})
		if out := g.msgs("garage/door/status", "AJAR"); len(out) != 0 {
			t.Errorf("a payload not in the map emitted %+v", out)
		}
	})
	t.Run("two paths into one JSON payload make one change", func(t *testing.T) {
		out := g.msgs("garage/climate", `{"sensors":{"temp_c":12.5,"list":[1,2]}}`)
		if len(out) != 1 {
			t.Fatalf("emitted %d events, want 1", len(out))
		}
		sameState(t, "state", g.state("garage_door"), map[string]any{"contact": false, "temperature": 12.5, "second": 2})
	})
	t.Run("a JSON object is merged whole", func(t *testing.T) {
		g.msgs("garage/extra", `{"battery":88}`)
		if g.state("garage_door")["battery"] != 88.0 {
			t.Errorf("state = %v", g.state("garage_door"))
		}
	})
	t.Run("availability with its own words", func(t *testing.T) {
		g.msgs("garage/door/lwt", "down")
		if d, _ := g.r.Device("garage_door"); d.Availability != hearth.Offline {
			t.Errorf("availability = %q", d.Availability)
		}
	})
	t.Run("info shows the file's kind, name and room", func(t *testing.T) {
		in := g.info("garage_door")
		if in.Adapter != "file" || in.Kind != "binary_sensor" || in.Name != "Garage door" || in.Room != "Garage" {
			t.Errorf("info = %+v", in)
		}
	})
	cases := []struct {
		name, device, payload string
		want                  []cmdRow
		err                   string
	}{
		{name: "a mapped attribute is sent as its mapped text", device: "heat_pump", payload: `{"state":"ON"}`, want: []cmdRow{{"heatpump/relay/set", "1"}}},
		{name: "the map is tried in upper case too", device: "heat_pump", payload: `{"state":"off"}`, want: []cmdRow{{"heatpump/relay/set", "0"}}},
		{name: "a template shapes the value", device: "fan", payload: `{"speed":3}`, want: []cmdRow{{"fan/cmd", `{"speed": 3}`}}},
		{name: "without attr the command goes as JSON", device: "shelly_plug", payload: `{"id":1,"method":"Switch.Set"}`,
			want: []cmdRow{{"shellyplus1pm-a8032ab12345/rpc", `{"id":1,"method":"Switch.Set"}`}}},
		{name: "a value not in the map is refused", device: "heat_pump", payload: `{"state":"TOGGLE"}`, err: "not in its map (OFF, ON)"},
		{name: "another attribute is refused", device: "heat_pump", payload: `{"brightness":3}`, err: "it takes one attribute, state"},
		{name: "a device mapped without a command refuses one", device: "garage_door", payload: `{"contact":true}`, err: "maps no command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmds, err := g.r.CommandFor(tc.device, []byte(tc.payload))
			if tc.err != "" {
				if !errors.Is(err, hearth.ErrBadCommand) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := rows(cmds); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("commands = %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("the heat pump's QoS is kept", func(t *testing.T) {
		if cmds := g.commands("heat_pump", `{"state":"ON"}`); cmds[0].QoS != 1 {
			t.Errorf("qos = %d", cmds[0].QoS)
		}
	})
	t.Run("a file put in force again replaces the mappings", func(t *testing.T) {
		f2, err := ParseFile("second.yaml", []byte("- id: garage_door\n  state:\n    - topic: garage/v2\n      attr: contact\n"))
		if err != nil {
			t.Fatal(err)
		}
		g.r.SetFile(f2)
		if out := g.msgs("garage/door/status", "CLOSED"); len(out) != 0 {
			t.Errorf("the old mapping still reads: %+v", out)
		}
		g.msgs("garage/v2", "true")
		if g.state("garage_door")["contact"] != true {
			t.Errorf("state = %v", g.state("garage_door"))
		}
		if _, ok := g.r.Info("fan"); ok {
			t.Errorf("a device of the old file is still known")
		}
		if in := g.info("hall_motion"); in.Name != "" {
			t.Errorf("the old file's name stays: %+v", in)
		}
		g.r.SetFile(nil)
		if len(g.r.routes) != 0 {
			t.Errorf("routes left without a file: %v", g.r.routes)
		}
	})
}

func TestDevicesFileProblems(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string // each problem, as Problem.String prints it
	}{
		{name: "a syntax error has its position", yaml: "- id: a\n  name: [x\n",
			want: []string{"f.yaml:2:9: "}},
		{name: "a file that is not a list", yaml: "id: a\n",
			want: []string{`f.yaml:1:1: a devices file holds a list of devices (each starting with "- id: ..."), got a map`}},
		{name: "an entry that is not a map", yaml: "- just a string\n",
			want: []string{"f.yaml:1:3: device #1: a device must be a map of key: value, got a string"}},
		{name: "an unknown key", yaml: "- id: a\n  colour: red\n",
			want: []string{`f.yaml:2:3: device a: unknown key "colour" in a device (known keys: id, name, room, kind, state, availability, command)`}},
		{name: "a missing id", yaml: "- name: Lamp\n",
			want: []string{"f.yaml:1:3: device #1: missing id (every device needs one)"}},
		{name: "an id that is not a device id", yaml: "- id: hall/light\n",
			want: []string{`f.yaml:1:7: device #1: id "hall/light" is not one topic level without wildcards, spaces or control characters`}},
		{name: "an id given twice", yaml: "- id: a\n- id: b\n- id: a\n",
			want: []string{"f.yaml:3:3: device a: duplicate id \"a\": also at line 1, column 3"}},
		{name: "a key given twice", yaml: "- id: a\n  name: x\n  name: y\n",
			want: []string{`f.yaml:3:3: mapping key "name" already defined at [2:3]`}},
		{name: "an unknown kind", yaml: "- id: a\n  kind: toaster\n",
			want: []string{`f.yaml:2:9: device a: kind "toaster" is not one of light, switch, sensor, binary_sensor, cover, lock, fan, climate, button, other`}},
		{name: "state that is not a list", yaml: "- id: a\n  state: {topic: x}\n",
			want: []string{`f.yaml:2:10: device a: state must be a list of topics (items starting with "- topic: ..."), got a map`}},
		{name: "a state mapping without a topic", yaml: "- id: a\n  state:\n    - attr: x\n",
			want: []string{"f.yaml:3:7: device a: a state mapping needs a topic"}},
		{name: "a topic with a wildcard", yaml: "- id: a\n  state:\n    - topic: a/+/b\n      attr: x\n",
			want: []string{`f.yaml:3:14: device a: topic "a/+/b" must be an exact topic: no wildcards (+, #), no / at either end`}},
		{name: "a bad JSON path", yaml: "- id: a\n  state:\n    - topic: t\n      json: a..b\n",
			want: []string{`f.yaml:4:13: device a: json "a..b" is not a path like sensors.temp_c or list.0.value`}},
		{name: "a map on a whole payload", yaml: "- id: a\n  state:\n    - topic: t\n      map: {a: 1}\n",
			want: []string{"f.yaml:4:7: device a: map needs attr or json: a payload merged whole is not mapped"}},
		{name: "a map value that is a list", yaml: "- id: a\n  state:\n    - topic: t\n      attr: x\n      map: {a: [1]}\n",
			want: []string{"f.yaml:5:16: device a: a value of map must be a single value (a string, number, true/false or null), got a list"}},
		{name: "an unknown key in a state mapping", yaml: "- id: a\n  state:\n    - topic: t\n      path: x\n",
			want: []string{`f.yaml:4:7: device a: unknown key "path" in a state mapping (known keys: topic, attr, json, map)`}},
		{name: "availability with the same words for both", yaml: "- id: a\n  availability: {topic: t, online: x, offline: x}\n",
			want: []string{`f.yaml:2:17: device a: online and offline are both "x"`}},
		{name: "a command with map and template", yaml: "- id: a\n  command:\n    topic: t\n    attr: s\n    map: {a: b}\n    template: x\n",
			want: []string{"f.yaml:6:5: device a: give map or template, not both"}},
		{name: "a command map without attr", yaml: "- id: a\n  command:\n    topic: t\n    map: {a: b}\n",
			want: []string{"f.yaml:4:5: device a: map and template apply to one attribute: give attr (such as attr: state)"}},
		{name: "a command template that cannot be evaluated", yaml: "- id: a\n  command:\n    topic: t\n    attr: s\n    template: \"{{ states('x') }}\"\n",
			want: []string{`f.yaml:5:15: device a: template "{{ states('x') }}": at 10: unsupported: function states()`}},
		{name: "a qos out of range", yaml: "- id: a\n  command: {topic: t, qos: 3}\n",
			want: []string{`f.yaml:2:28: device a: qos must be 0, 1 or 2, got "3"`}},
		{name: "retain that is not a boolean", yaml: "- id: a\n  command: {topic: t, retain: yes please}\n",
			want: []string{"f.yaml:2:31: device a: retain must be true or false, got a string"}},
		{name: "an alias to no anchor", yaml: "- id: a\n  name: *nothing\n",
			want: []string{"f.yaml:2:9: device a: alias *nothing names no anchor"}},
		{name: "a merge key", yaml: "- &base {id: a}\n- <<: *base\n  id: b\n",
			want: []string{"f.yaml:2:3: device b: merge keys (<<) are not supported in a device"}},
		{name: "every problem is listed, in file order", yaml: "- id: a\n  colour: red\n- id: b\n  kind: toaster\n  state: 1\n",
			want: []string{
				`f.yaml:2:3: device a: unknown key "colour" in a device (known keys: id, name, room, kind, state, availability, command)`,
				`f.yaml:4:9: device b: kind "toaster" is not one of light, switch, sensor, binary_sensor, cover, lock, fan, climate, button, other`,
				`f.yaml:5:10: device b: state must be a list of topics (items starting with "- topic: ..."), got a number`,
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFile("f.yaml", []byte(tc.yaml))
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseFile = %v, %v; want a *FileError", f, err)
			}
			var got []string
			for _, p := range fe.Problems {
				got = append(got, p.String())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("problem %d = %q\nwant %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestDevicesFileEdges(t *testing.T) {
	t.Run("an empty file names no devices", func(t *testing.T) {
		f, err := ParseFile("empty.yaml", []byte("# nothing yet\n"))
		if err != nil || len(f.IDs()) != 0 {
			t.Fatalf("= %v, %v", f, err)
		}
	})
	t.Run("a missing file says so", func(t *testing.T) {
		_, err := LoadFile(filepath.Join(t.TempDir(), "none.yaml"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("anchors and aliases are read", func(t *testing.T) {
		f, err := ParseFile("a.yaml", []byte("- id: a\n  room: &r Kitchen\n- id: b\n  room: *r\n"))
		if err != nil {
			t.Fatal(err)
		}
		g := newRigWith(t, Options{File: f})
		if in := g.info("b"); in.Room != "Kitchen" {
			t.Errorf("room = %q", in.Room)
		}
	})
}
