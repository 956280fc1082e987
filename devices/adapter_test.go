package devices

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"hearth"
)

func TestNewRegistry(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		err  string
	}{
		{name: "every adapter with its defaults", o: Options{Adapters: Adapters()}},
		{name: "a deeper base topic beside the native one", o: Options{BaseTopic: "home", Adapters: []AdapterConfig{{Name: "zigbee2mqtt", BaseTopic: "home/zigbee"}}}},
		{name: "an unknown adapter", o: Options{Adapters: []AdapterConfig{{Name: "zwave"}}}, err: `unknown adapter "zwave" (known: zigbee2mqtt, tasmota, homeassistant, owntracks)`},
		{name: "an adapter turned on twice", o: Options{Adapters: []AdapterConfig{{Name: "tasmota"}, {Name: "tasmota"}}}, err: "turned on twice"},
		{name: "two adapters on one base topic", o: Options{BaseTopic: "zigbee2mqtt", Adapters: []AdapterConfig{{Name: "zigbee2mqtt"}}}, err: `base topic "zigbee2mqtt" is also native's`},
		{name: "a native base topic on Tasmota's prefix", o: Options{BaseTopic: "tele", Adapters: []AdapterConfig{{Name: "tasmota"}}}, err: `base topic "tele" is also native's`},
		{name: "a base topic with a wildcard", o: Options{Adapters: []AdapterConfig{{Name: "homeassistant", BaseTopic: "ha/#"}}}, err: "has a wildcard"},
		{name: "a native base topic with an empty level", o: Options{BaseTopic: "a//b"}, err: "empty level"},
		{name: "Tasmota given a base topic", o: Options{Adapters: []AdapterConfig{{Name: "tasmota", BaseTopic: "x"}}}, err: "takes no base topic"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRegistry(tc.o)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
	t.Run("a deeper base topic is tried before the native one", func(t *testing.T) {
		g := newRigWith(t, Options{BaseTopic: "home", Adapters: []AdapterConfig{{Name: "zigbee2mqtt", BaseTopic: "home/zigbee"}}})
		g.msgs("home/zigbee/lamp", `{"state":"ON"}`)
		g.msgs("home/hall", `{"state":"ON"}`)
		if got := g.ids(); !reflect.DeepEqual(got, []string{"hall", "lamp"}) {
			t.Errorf("devices = %v", got)
		}
		if g.info("lamp").Adapter != "zigbee2mqtt" || g.info("hall").Adapter != "native" {
			t.Errorf("adapters = %s, %s", g.info("lamp").Adapter, g.info("hall").Adapter)
		}
	})
}

func TestCommandForNative(t *testing.T) {
	g := newRig(t)
	g.msgs("home/hall_light", `{"state":"OFF"}`)
	cases := []struct {
		name, device, payload string
		want                  []cmdRow
		err                   string
	}{
		{name: "a native device gets the command on its set topic as it is", device: "hall_light", payload: `{"state":"ON", "brightness": 200}`,
			want: []cmdRow{{"home/hall_light/set", `{"state":"ON", "brightness": 200}`}}},
		{name: "a device not heard of yet is addressed the native way", device: "porch", payload: `{"state":"ON"}`,
			want: []cmdRow{{"home/porch/set", `{"state":"ON"}`}}},
		{name: "a state the hub's shape does not know still goes out: a device of its own may open or lock", device: "hall_light",
			payload: `{"state":"OPEN","transition":2}`, want: []cmdRow{{"home/hall_light/set", `{"state":"OPEN","transition":2}`}}},
		{name: "a brightness that is not a number is refused", device: "hall_light", payload: `{"brightness":"bright"}`, err: `brightness must be a number, got "bright"`},
		{name: "a colour temperature by name goes out: a device of its own may take presets", device: "porch",
			payload: `{"color_temp":"warm"}`, want: []cmdRow{{"home/porch/set", `{"color_temp":"warm"}`}}},
		{name: "a state that is an object is refused", device: "hall_light", payload: `{"state":{"on":true}}`, err: `state must be a word, a number or true/false, got {"on":true}`},
		{name: "a command that is not a JSON object is refused", device: "hall_light", payload: `ON`, err: "a command is a JSON object"},
		{name: "a broken object is refused", device: "hall_light", payload: `{"state":`, err: "a command is a JSON object"},
		{name: "an empty object is refused", device: "hall_light", payload: `{}`, err: "at least one attribute"},
		{name: "a device id with a slash is refused", device: "a/b", payload: `{"state":"ON"}`, err: "not valid"},
		{name: "an empty device id is refused", device: "", payload: `{"state":"ON"}`, err: "not valid"},
		{name: "a device id with a wildcard is refused", device: "+", payload: `{"state":"ON"}`, err: "not valid"},
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
			if cmds[0].Device != tc.device || !cmds[0].Cause.IsZero() {
				t.Errorf("command = %+v", cmds[0])
			}
		})
	}
}

func TestSameCommandEveryAdapter(t *testing.T) {
	// One hub command, {"state":"ON"}, for a light from each adapter.
	f, err := ParseFile("f.yaml", []byte("- id: diy_light\n  command: {topic: diy/light/cmd, attr: state, map: {ON: '1', OFF: '0'}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	g := newRigWith(t, Options{Adapters: Adapters(), File: f})
	g.msgs("home/native_light", `{"state":"OFF"}`)
	g.msgs("zigbee2mqtt/z2m_light", `{"state":"OFF"}`)
	g.msgs("tele/tasmota_light/STATE", `{"POWER":"OFF"}`)
	g.msgs("homeassistant/light/ha_light/config", `{"cmd_t":"ha/light/set","stat_t":"ha/light"}`)
	want := map[string]cmdRow{
		"native_light":  {"home/native_light/set", `{"state":"ON"}`},
		"z2m_light":     {"zigbee2mqtt/z2m_light/set", `{"state":"ON"}`},
		"tasmota_light": {"cmnd/tasmota_light/POWER", "ON"},
		"ha_light":      {"ha/light/set", "ON"},
		"diy_light":     {"diy/light/cmd", "1"},
	}
	for id, w := range want {
		t.Run(id, func(t *testing.T) {
			if got := rows(g.commands(id, `{"state":"ON"}`)); !reflect.DeepEqual(got, []cmdRow{w}) {
				t.Errorf("commands = %+v, want %+v", got, w)
			}
		})
	}
	t.Run("the command events name their devices", func(t *testing.T) {
		for id, w := range want {
			if e, _ := g.send(hearth.KindCommand, w.Topic, []byte(w.Payload)); e.Device != id {
				t.Errorf("command on %s: device %q, want %q", w.Topic, e.Device, id)
			}
		}
	})
}

func TestOneIDTwoAdapters(t *testing.T) {
	g := newRig(t)
	g.msgs("zigbee2mqtt/lamp", `{"state":"ON"}`)
	g.msgs("tele/lamp/STATE", `{"POWER":"OFF"}`)
	in := g.info("lamp")
	if in.Adapter != "zigbee2mqtt" || len(in.Warnings) != 1 || !strings.Contains(in.Warnings[0], "also reported by the tasmota adapter") {
		t.Errorf("info = %+v", in)
	}
	g.msgs("tele/lamp/STATE", `{"POWER":"ON"}`)
	if n := len(g.info("lamp").Warnings); n != 1 {
		t.Errorf("the warning repeats: %d", n)
	}
	if got := rows(g.commands("lamp", `{"state":"ON"}`)); got[0].Topic != "zigbee2mqtt/lamp/set" {
		t.Errorf("the first adapter does not keep the commands: %+v", got)
	}
	if st := g.state("lamp"); st["state"] != "ON" {
		t.Errorf("Tasmota's messages changed the Zigbee2MQTT lamp: %v", st)
	}
}

// TestAnAdapterThatDoesNotKeepADeviceLeavesItsStateAlone sends, for a
// device one adapter keeps, what another adapter (or the native
// convention) would read as its state: it stays in the log as a message
// and changes nothing. A client publishing zigbee2mqtt/house must not
// change the house mode, nor native home/<id> a Zigbee2MQTT device or a
// hand-mapped one.
func TestAnAdapterThatDoesNotKeepADeviceLeavesItsStateAlone(t *testing.T) {
	f, err := ParseFile("devices.yaml", []byte("- id: garage_door\n  state:\n    - topic: garage/door/status\n      attr: contact\n      map: {OPEN: false, CLOSED: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	g := newRigWith(t, Options{BaseTopic: "home", Adapters: Adapters(), File: f})
	g.r.addHub("house", adapterHub, &hubDevice{kind: hubHouse}, hearth.DeviceInfo{})
	g.send(hearth.KindCommand, "home/house", []byte(`{"mode":"home"}`)) // the hub's own publish of its state
	g.msgs("garage/door/status", "CLOSED")
	g.msgs("zigbee2mqtt/lamp", `{"state":"ON"}`)
	g.msgs("tele/plug/STATE", `{"POWER":"ON"}`)

	for _, tc := range []struct {
		name, topic, payload, device, attr string
		want                               any
	}{
		{"Zigbee2MQTT on the house", "zigbee2mqtt/house", `{"mode":"away"}`, "house", "mode", "home"},
		{"Tasmota on the house", "tele/house/STATE", `{"POWER":"OFF"}`, "house", "state", nil},
		{"native on a Zigbee2MQTT lamp", "home/lamp", `{"state":"OFF"}`, "lamp", "state", "ON"},
		{"native availability on a Zigbee2MQTT lamp", "home/lamp/availability", `offline`, "lamp", "", nil},
		{"Zigbee2MQTT on a Tasmota plug", "zigbee2mqtt/plug", `{"state":"OFF"}`, "plug", "state", "ON"},
		{"Tasmota on a Zigbee2MQTT lamp", "stat/lamp/POWER", `OFF`, "lamp", "state", "ON"},
		{"native on a hand-mapped door", "home/garage_door", `{"contact":false}`, "garage_door", "contact", true},
		{"Zigbee2MQTT on a hand-mapped door", "zigbee2mqtt/garage_door", `{"contact":false}`, "garage_door", "contact", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out := g.msgs(tc.topic, tc.payload); len(out) != 0 {
				t.Errorf("emitted %+v", out)
			}
			d, _ := g.r.Device(tc.device)
			if tc.attr == "" {
				if d.Availability != hearth.AvailabilityUnknown {
					t.Errorf("availability %v", d.Availability)
				}
				return
			}
			if got := d.State[tc.attr]; got != tc.want {
				t.Errorf("%s = %v, want %v", tc.attr, got, tc.want)
			}
			if in := g.info(tc.device); len(in.Warnings) == 0 {
				t.Errorf("no warning of the clash on %s: %+v", tc.device, in)
			}
		})
	}
}

func TestConfigReplay(t *testing.T) {
	g := newRig(t)
	bridge := hearth.Event{Seq: 1, Kind: hearth.KindMessage, Topic: "zigbee2mqtt/bridge/devices", Payload: testdata(t, "zigbee2mqtt/bridge_devices.json")}
	cfg := hearth.Event{Seq: 2, Kind: hearth.KindMessage, Topic: "homeassistant/binary_sensor/garden/config", Payload: testdata(t, "homeassistant/garden_motion.json")}
	for _, e := range []hearth.Event{bridge, cfg} {
		if !g.r.IsConfigTopic(e.Topic) {
			t.Errorf("%s is not a config topic", e.Topic)
		}
	}
	for _, topic := range []string{"zigbee2mqtt/lamp", "homeassistant/status", "home/x", "tele/t/SENSOR"} {
		if g.r.IsConfigTopic(topic) {
			t.Errorf("%s is a config topic", topic)
		}
	}
	wantFilters := []string{"zigbee2mqtt/bridge/devices", "homeassistant/+/+/config", "homeassistant/+/+/+/config"}
	if got := g.r.ConfigFilters(); !reflect.DeepEqual(got, wantFilters) {
		t.Errorf("filters = %v, want %v", got, wantFilters)
	}

	// Replayed from the log, config messages are learned again; state
	// messages are not folded (their state events are replayed instead).
	g.r.ApplyLogged(bridge)
	g.r.ApplyLogged(cfg)
	g.r.ApplyLogged(hearth.Event{Seq: 3, Kind: hearth.KindMessage, Topic: "zigbee2mqtt/my_bulb", Payload: []byte(`{"state":"ON"}`)})
	if in := g.info("my_bulb"); in.Model != "LED1624G9" {
		t.Errorf("bulb info after replay = %+v", in)
	}
	if _, ok := g.r.Device("my_bulb"); ok {
		t.Errorf("a replayed state message was folded")
	}
	if out := g.msgs("homeassistant/binary_sensor/garden/state", "ON"); len(out) != 1 {
		t.Errorf("the replayed discovery config does not route: %+v", out)
	}
}

func TestDeviceID(t *testing.T) {
	long := strings.Repeat("é", 100)
	for in, want := range map[string]string{
		"lamp": "lamp", "kitchen/floor_light": "kitchen_floor_light", "Living Room": "Living_Room", "a+b#c": "a_b_c",
		"": "_", "x\xffy": "x_y", long: strings.Repeat("é", 64),
	} {
		if got := deviceID(in); got != want {
			t.Errorf("deviceID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInfos(t *testing.T) {
	f, err := ParseFile("f.yaml", []byte("- id: porch\n  name: Porch\n"))
	if err != nil {
		t.Fatal(err)
	}
	g := newRigWith(t, Options{Adapters: Adapters(), File: f})
	g.msgs("home/b", `{"x":1}`)
	g.msgs("zigbee2mqtt/bridge/devices", `[{"friendly_name":"a","type":"Router","definition":{"model":"M","vendor":"V","exposes":[]}}]`)
	var ids []string
	for _, in := range g.r.Infos() {
		ids = append(ids, in.ID+":"+in.Adapter)
	}
	if want := []string{"a:zigbee2mqtt", "b:native", "porch:native"}; !slices.Equal(ids, want) {
		t.Errorf("infos = %v, want %v", ids, want)
	}
	in := g.info("porch")
	if in.Name != "Porch" {
		t.Errorf("porch = %+v", in)
	}
}
