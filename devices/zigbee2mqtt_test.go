package devices

import (
	"bytes"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"hearth"
)

func TestZigbee2MQTTDeviceList(t *testing.T) {
	g := newRig(t)
	e, out := g.send(hearth.KindMessage, "zigbee2mqtt/bridge/devices", testdata(t, "zigbee2mqtt/bridge_devices.json"))
	if len(out) != 0 || e.Device != "" {
		t.Fatalf("the device list is not a device's message: device %q, emitted %+v", e.Device, out)
	}

	t.Run("a motion sensor is a binary sensor with its model and attributes", func(t *testing.T) {
		in := g.info("hall_motion")
		if in.Adapter != "zigbee2mqtt" || in.Model != "RTCGQ11LM" || in.Vendor != "Xiaomi" || in.Kind != "binary_sensor" || in.Class != "motion" {
			t.Errorf("info = %+v", in)
		}
		if c := capability(t, in, "occupancy"); c.Type != "binary" || c.Set || c.On != true || c.Off != false {
			t.Errorf("occupancy = %+v", c)
		}
		if c := capability(t, in, "illuminance_lux"); c.Type != "numeric" || c.Unit != "lx" {
			t.Errorf("illuminance_lux = %+v", c)
		}
	})
	t.Run("a bulb is a light whose features are settable attributes", func(t *testing.T) {
		in := g.info("my_bulb")
		if in.Kind != "light" || in.Model != "LED1624G9" || in.Vendor != "IKEA" {
			t.Errorf("info = %+v", in)
		}
		if c := capability(t, in, "state"); c.Type != "binary" || !c.Set || c.On != "ON" || c.Off != "OFF" {
			t.Errorf("state = %+v", c)
		}
		b := capability(t, in, "brightness")
		if b.Type != "numeric" || !b.Set || b.Min == nil || *b.Min != 0 || b.Max == nil || *b.Max != 254 {
			t.Errorf("brightness = %+v", b)
		}
		if c := capability(t, in, "color"); c.Type != "object" || !c.Set {
			t.Errorf("color = %+v", c)
		}
		if c := capability(t, in, "effect"); c.Type != "enum" || !reflect.DeepEqual(c.Values, []string{"blink", "breathe", "okay"}) {
			t.Errorf("effect = %+v", c)
		}
		if c := capability(t, in, "linkquality"); c.Set {
			t.Errorf("linkquality is not settable: %+v", c)
		}
	})
	t.Run("a plug is a switch", func(t *testing.T) {
		if in := g.info("my_plug"); in.Kind != "switch" || in.Description != "Mi power plug ZigBee" {
			t.Errorf("info = %+v", in)
		}
	})
	t.Run("an unsupported device is known by name only", func(t *testing.T) {
		if in := g.info("my_sensor"); in.Model != "" || in.Adapter != "zigbee2mqtt" || in.Name != "my_sensor" {
			t.Errorf("info = %+v", in)
		}
	})
	t.Run("the coordinator is not a device", func(t *testing.T) {
		if in, ok := g.r.Info("Coordinator"); ok {
			t.Errorf("coordinator listed: %+v", in)
		}
	})
	t.Run("a friendly name with a slash gets an id without one", func(t *testing.T) {
		if in := g.info("kitchen_floor_light"); in.Name != "kitchen/floor_light" || in.Model != "LED1545G12" {
			t.Errorf("info = %+v", in)
		}
	})
	t.Run("devices listed but silent have no state yet", func(t *testing.T) {
		if _, ok := g.r.Device("my_bulb"); ok {
			t.Errorf("a device known only from the list has state")
		}
		if n := len(g.r.Infos()); n != 5 {
			t.Errorf("%d infos, want 5", n)
		}
	})
	t.Run("a device that left the list is forgotten", func(t *testing.T) {
		g.msgs("zigbee2mqtt/bridge/devices", `[{"friendly_name":"my_plug","ieee_address":"0x1","type":"Router","definition":null}]`)
		if _, ok := g.r.Info("hall_motion"); ok {
			t.Errorf("hall_motion still known")
		}
		if _, ok := g.r.Info("my_plug"); !ok {
			t.Errorf("my_plug forgotten")
		}
	})
	t.Run("a list that is not JSON changes nothing", func(t *testing.T) {
		g.msgs("zigbee2mqtt/bridge/devices", `[{"friendly_name":`)
		if _, ok := g.r.Info("my_plug"); !ok {
			t.Errorf("my_plug forgotten")
		}
	})
}

func TestZigbee2MQTTTopics(t *testing.T) {
	cases := []struct {
		name       string
		list       bool // the device list was read first
		kind       hearth.Kind
		topic      string
		payload    string
		wantDevice string
		wantState  map[string]any
		wantAvail  hearth.Availability
	}{
		{name: "a state message is the device's state", topic: "zigbee2mqtt/hall_motion", payload: string(testdata(t, "zigbee2mqtt/aqara_motion.json")),
			wantDevice: "hall_motion", wantState: map[string]any{"battery": 100, "device_temperature": 23, "illuminance": 12, "illuminance_lux": 12,
				"linkquality": 120, "occupancy": true, "power_outage_count": 5, "voltage": 3005}},
		{name: "a bulb's state is its state", topic: "zigbee2mqtt/my_bulb", payload: string(testdata(t, "zigbee2mqtt/ikea_bulb.json")),
			wantDevice: "my_bulb", wantState: map[string]any{"state": "ON", "brightness": 215, "color_temp": 325}},
		{name: "availability online is understood", topic: "zigbee2mqtt/my_bulb/availability", payload: "online", wantDevice: "my_bulb", wantAvail: hearth.Online},
		{name: "availability as JSON is understood", topic: "zigbee2mqtt/my_bulb/availability", payload: `{"state":"offline"}`, wantDevice: "my_bulb", wantAvail: hearth.Offline},
		{name: "a known friendly name with a slash is one device", list: true, topic: "zigbee2mqtt/kitchen/floor_light", payload: `{"state":"OFF"}`,
			wantDevice: "kitchen_floor_light", wantState: map[string]any{"state": "OFF"}},
		{name: "a friendly name with a slash has availability", topic: "zigbee2mqtt/kitchen/floor_light/availability", payload: "online",
			wantDevice: "kitchen_floor_light", wantAvail: hearth.Online},
		{name: "an unknown friendly name with a slash is still one device", topic: "zigbee2mqtt/garden/lamp", payload: `{"state":"ON"}`,
			wantDevice: "garden_lamp", wantState: map[string]any{"state": "ON"}},
		{name: "a set message names the device but is not its state", topic: "zigbee2mqtt/my_bulb/set", payload: `{"state":"ON"}`, wantDevice: "my_bulb"},
		{name: "a set of one attribute is not state either", topic: "zigbee2mqtt/kitchen/floor_light/set/state", payload: `ON`, wantDevice: "kitchen_floor_light"},
		{name: "a get is not state", topic: "zigbee2mqtt/my_bulb/get", payload: `{"state":""}`, wantDevice: "my_bulb"},
		{name: "a command event names the device", kind: hearth.KindCommand, topic: "zigbee2mqtt/my_bulb/set", payload: `{"state":"ON"}`, wantDevice: "my_bulb"},
		{name: "another message of a known device is its message, not state", list: true, topic: "zigbee2mqtt/my_bulb/action", payload: `single`, wantDevice: "my_bulb"},
		{name: "bridge state is not a device", topic: "zigbee2mqtt/bridge/state", payload: `online`},
		{name: "bridge logging is not a device", topic: "zigbee2mqtt/bridge/logging", payload: `{"level":"info","message":"x"}`},
		{name: "bridge info is not a device", topic: "zigbee2mqtt/bridge/info", payload: `{"version":"1.13.0-dev"}`},
		{name: "a friendly name with a space gets an underscore", topic: "zigbee2mqtt/Living Room Lamp", payload: `{"state":"ON"}`,
			wantDevice: "Living_Room_Lamp", wantState: map[string]any{"state": "ON"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t)
			if tc.list {
				g.msg("zigbee2mqtt/bridge/devices", testdata(t, "zigbee2mqtt/bridge_devices.json"))
			}
			kind := tc.kind
			if kind == "" {
				kind = hearth.KindMessage
			}
			e, out := g.send(kind, tc.topic, []byte(tc.payload))
			if e.Device != tc.wantDevice {
				t.Errorf("device = %q, want %q", e.Device, tc.wantDevice)
			}
			switch {
			case tc.wantState != nil:
				if len(out) != 1 || out[0].Kind != hearth.KindState || out[0].Cause.Seq != e.Seq {
					t.Fatalf("emitted %+v, want one state event", out)
				}
				sameState(t, "state", g.state(tc.wantDevice), tc.wantState)
			case tc.wantAvail != "":
				if len(out) != 1 || out[0].Kind != hearth.KindAvailability || string(out[0].Payload) != string(tc.wantAvail) {
					t.Fatalf("emitted %+v, want availability %s", out, tc.wantAvail)
				}
			default:
				if len(out) != 0 {
					t.Fatalf("emitted %+v, want nothing", out)
				}
			}
			if tc.wantDevice != "" && (tc.wantState != nil || tc.wantAvail != "") {
				if in := g.info(tc.wantDevice); in.Adapter != "zigbee2mqtt" {
					t.Errorf("adapter = %q", in.Adapter)
				}
			}
		})
	}
}

func TestZigbee2MQTTCommands(t *testing.T) {
	g := newRigWith(t, Options{Adapters: []AdapterConfig{{Name: "zigbee2mqtt", BaseTopic: "z2m"}}})
	g.msg("z2m/bridge/devices", testdata(t, "zigbee2mqtt/bridge_devices.json"))
	g.msgs("z2m/hall_motion", `{"occupancy":true}`)
	cases := []struct {
		name, device, payload string
		want                  []cmdRow
	}{
		{"a command goes to the friendly name's set topic unchanged", "my_bulb", `{"state":"ON","brightness":200}`,
			[]cmdRow{{"z2m/my_bulb/set", `{"state":"ON","brightness":200}`}}},
		{"a friendly name with a slash keeps it in the topic", "kitchen_floor_light", `{"state":"TOGGLE"}`,
			[]cmdRow{{"z2m/kitchen/floor_light/set", `{"state":"TOGGLE"}`}}},
		{"a device first heard from its state is commanded the same way", "hall_motion", `{"occupancy_timeout":60}`,
			[]cmdRow{{"z2m/hall_motion/set", `{"occupancy_timeout":60}`}}},
		{"values are checked against the exposes, in any case, and options no expose names pass", "my_bulb",
			`{"state":"toggle","brightness":"254","effect":"Blink","color":{"x":0.3,"y":0.3},"transition":2}`,
			[]cmdRow{{"z2m/my_bulb/set", `{"state":"toggle","brightness":"254","effect":"Blink","color":{"x":0.3,"y":0.3},"transition":2}`}}},
		{"true and false stand for ON and OFF, and go out as them: Zigbee2MQTT refuses a boolean state", "my_bulb",
			`{"state":true,"brightness":200}`, []cmdRow{{"z2m/my_bulb/set", `{"brightness":200,"state":"ON"}`}}},
		{"false is OFF, and the rest of the command keeps its bytes", "my_bulb", `{"state":false,"transition":9007199254740993,"note":"<i>"}`,
			[]cmdRow{{"z2m/my_bulb/set", `{"note":"<i>","state":"OFF","transition":9007199254740993}`}}},
		{"numbers past an expose's range and colours as text pass: Zigbee2MQTT clamps and parses them", "my_bulb",
			`{"brightness":255,"color_temp":600,"color":"#FF0000"}`, []cmdRow{{"z2m/my_bulb/set", `{"brightness":255,"color_temp":600,"color":"#FF0000"}`}}},
		{"a colour temperature by its preset's name", "kitchen_floor_light", `{"color_temp":"Warmest"}`,
			[]cmdRow{{"z2m/kitchen/floor_light/set", `{"color_temp":"Warmest"}`}}},
		{"a binary's own values", "my_plug", `{"child_lock":"LOCK"}`, []cmdRow{{"z2m/my_plug/set", `{"child_lock":"LOCK"}`}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmds := g.commands(tc.device, tc.payload)
			if got := rows(cmds); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("commands = %+v, want %+v", got, tc.want)
			}
			if cmds[0].Device != tc.device {
				t.Errorf("command device = %q", cmds[0].Device)
			}
		})
	}
	refused := []struct{ name, device, payload, says string }{
		{"a brightness that is not a number", "my_bulb", `{"brightness":"high"}`, `brightness must be a number, got "high"`},
		{"a state the bulb does not know", "my_bulb", `{"state":"BRIGHT"}`, `state must be "ON" or "OFF" or "TOGGLE", got "BRIGHT"`},
		{"TOGGLE for a binary without a toggle", "my_plug", `{"child_lock":"TOGGLE"}`, `child_lock must be "LOCK" or "UNLOCK", got "TOGGLE"`},
		{"a preset the expose does not name", "kitchen_floor_light", `{"color_temp":"warmer"}`, `color_temp must be a number or one of coolest, neutral, warmest, got "warmer"`},
		{"an effect not in the enum", "my_bulb", `{"effect":"dance"}`, `effect must be one of blink, breathe, okay, got "dance"`},
		{"an attribute the device only reports", "my_bulb", `{"linkquality":5}`, "linkquality is read-only"},
		{"a motion sensor's occupancy", "hall_motion", `{"occupancy":true}`, "occupancy is read-only"},
	}
	for _, tc := range refused {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			_, err := g.r.CommandFor(tc.device, []byte(tc.payload))
			if !errors.Is(err, hearth.ErrBadCommand) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), tc.device) {
				t.Errorf("err = %v, want ErrBadCommand naming %s and saying %q", err, tc.device, tc.says)
			}
		})
	}
}

// TestADeviceZigbee2MQTTNoLongerListsGoesOffline renames a lamp in
// Zigbee2MQTT: it comes back under its new id, and the old id, which
// nothing answers for any more, goes offline instead of staying a device
// that looks online. Zigbee2MQTT's empty retained publish clearing the old
// availability topic says nothing and warns of nothing.
func TestADeviceZigbee2MQTTNoLongerListsGoesOffline(t *testing.T) {
	var logs bytes.Buffer
	g := newRigWith(t, Options{Adapters: []AdapterConfig{{Name: "zigbee2mqtt"}}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	list := func(names ...string) string {
		var items []string
		for _, n := range names {
			items = append(items, `{"friendly_name":"`+n+`","type":"Router"}`)
		}
		return "[" + strings.Join(items, ",") + "]"
	}
	g.msgs("zigbee2mqtt/bridge/devices", list("sofa_lamp", "hall_lamp"))
	g.msgs("zigbee2mqtt/sofa_lamp/availability", `{"state":"online"}`)
	g.msgs("zigbee2mqtt/sofa_lamp", `{"state":"ON"}`)

	out := g.msgs("zigbee2mqtt/bridge/devices", list("living_lamp", "hall_lamp"))
	if len(out) != 1 || out[0].Kind != hearth.KindAvailability || out[0].Device != "sofa_lamp" || string(out[0].Payload) != "offline" {
		t.Fatalf("the renamed lamp's old id: emitted %+v, want it offline", out)
	}
	if d, _ := g.r.Device("sofa_lamp"); d.Availability != hearth.Offline {
		t.Errorf("sofa_lamp is %v", d.Availability)
	}
	if out := g.msgs("zigbee2mqtt/sofa_lamp/availability", ``); len(out) != 0 || strings.Contains(logs.String(), "WARN") {
		t.Errorf("clearing the retained availability: emitted %+v, logged %s", out, logs.String())
	}
}
