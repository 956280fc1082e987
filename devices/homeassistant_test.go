package devices

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"hearth"
)

func TestHomeAssistantDocsExamples(t *testing.T) {
	t.Run("a motion binary sensor becomes occupancy", func(t *testing.T) {
		g := newRig(t)
		e, out := g.send(hearth.KindMessage, "homeassistant/binary_sensor/garden/config", testdata(t, "homeassistant/garden_motion.json"))
		if e.Device != "garden" || len(out) != 0 {
			t.Fatalf("config: device %q, emitted %+v", e.Device, out)
		}
		in := g.info("garden")
		if in.Adapter != "homeassistant" || in.Kind != "binary_sensor" || in.Class != "motion" || in.Name != "garden" {
			t.Errorf("info = %+v", in)
		}
		if c := capability(t, in, "occupancy"); c.Type != "binary" || c.Class != "motion" {
			t.Errorf("occupancy = %+v", c)
		}
		e, out = g.send(hearth.KindMessage, "homeassistant/binary_sensor/garden/state", []byte("ON"))
		if e.Device != "garden" || len(out) != 1 {
			t.Fatalf("state: device %q, emitted %+v", e.Device, out)
		}
		sameState(t, "state", g.state("garden"), map[string]any{"occupancy": true})
		g.msgs("homeassistant/binary_sensor/garden/state", "OFF")
		sameState(t, "state", g.state("garden"), map[string]any{"occupancy": false})
		if out := g.msgs("homeassistant/binary_sensor/garden/state", "maybe"); len(out) != 0 {
			t.Errorf("a payload that is neither on nor off emitted %+v", out)
		}
	})
	t.Run("two sensors sharing a state topic each read their value", func(t *testing.T) {
		g := newRig(t)
		g.msg("homeassistant/sensor/sensorBedroomT/config", testdata(t, "homeassistant/bedroom_temperature.json"))
		g.msg("homeassistant/sensor/sensorBedroomH/config", testdata(t, "homeassistant/bedroom_humidity.json"))
		out := g.msg("homeassistant/sensor/sensorBedroom/state", testdata(t, "homeassistant/bedroom_state.json"))
		if len(out) != 2 {
			t.Fatalf("emitted %d events, want one per device", len(out))
		}
		sameState(t, "temperature", g.state("sensorBedroomT"), map[string]any{"temperature": 23.2})
		sameState(t, "humidity", g.state("sensorBedroomH"), map[string]any{"humidity": 43.7})
		if c := capability(t, g.info("sensorBedroomT"), "temperature"); c.Unit != "°C" || c.Type != "numeric" {
			t.Errorf("temperature = %+v", c)
		}
	})
	t.Run("a switch with abbreviations and a base topic", func(t *testing.T) {
		g := newRig(t)
		g.msg("homeassistant/switch/irrigation/config", testdata(t, "homeassistant/irrigation_switch.json"))
		g.msgs("homeassistant/switch/irrigation/state", "ON")
		sameState(t, "state", g.state("irrigation"), map[string]any{"state": "ON"})
		if got := rows(g.commands("irrigation", `{"state":"OFF"}`)); !reflect.DeepEqual(got, []cmdRow{{"homeassistant/switch/irrigation/set", "OFF"}}) {
			t.Errorf("commands = %+v", got)
		}
		e, out := g.send(hearth.KindCommand, "homeassistant/switch/irrigation/set", []byte("OFF"))
		if e.Device != "irrigation" || len(out) != 0 {
			t.Errorf("command event: device %q, emitted %+v", e.Device, out)
		}
		if out := g.msgs("homeassistant/switch/irrigation/set", "OFF"); len(out) != 0 {
			t.Errorf("a message on the command topic is not state: %+v", out)
		}
		if in := g.info("irrigation"); in.Kind != "switch" || !capability(t, in, "state").Set {
			t.Errorf("info = %+v", in)
		}
	})
	t.Run("a JSON light reads and takes brightness on the hub's scale", func(t *testing.T) {
		g := newRig(t)
		g.msg("homeassistant/light/kitchen/config", testdata(t, "homeassistant/kitchen_light.json"))
		g.msgs("homeassistant/light/kitchen/state", `{"state": "ON", "brightness": 255}`)
		sameState(t, "state", g.state("kitchen"), map[string]any{"state": "ON", "brightness": 254})
		got := rows(g.commands("kitchen", `{"state":"ON","brightness":127}`))
		want := []cmdRow{{"homeassistant/light/kitchen/set", `{"brightness":128,"state":"ON"}`}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("commands = %+v, want %+v", got, want)
		}
		got = rows(g.commands("kitchen", `{"state":"TOGGLE"}`))
		if want := []cmdRow{{"homeassistant/light/kitchen/set", `{"state":"OFF"}`}}; !reflect.DeepEqual(got, want) {
			t.Errorf("toggle of a light that is on = %+v, want %+v", got, want)
		}
	})
}

func TestHomeAssistantESPHomeNode(t *testing.T) {
	g := newRig(t)
	for _, name := range []string{"living_temperature", "living_humidity", "living_motion", "living_relay", "living_light"} {
		component := map[string]string{"living_temperature": "sensor", "living_humidity": "sensor", "living_motion": "binary_sensor",
			"living_relay": "switch", "living_light": "light"}[name]
		g.msg("homeassistant/"+component+"/livingroom/"+name+"/config", testdata(t, "esphome/"+name+".json"))
	}
	in := g.info("livingroom")
	if in.Name != "livingroom" || in.Model != "esp32dev" || in.Vendor != "Espressif" || in.Kind != "light" {
		t.Errorf("the node's info = %+v", in)
	}
	var attrs []string
	for _, c := range in.Capabilities {
		attrs = append(attrs, c.Attr)
	}
	wantAttrs := []string{"humidity", "living_light", "living_light_brightness", "living_relay", "occupancy", "temperature"}
	if !reflect.DeepEqual(attrs, wantAttrs) {
		t.Errorf("attributes = %v, want %v (a light and a switch both being state, each takes its object id)", attrs, wantAttrs)
	}

	for _, m := range []struct{ topic, payload string }{
		{"livingroom/status", "online"},
		{"livingroom/sensor/living_temperature/state", "21.5"},
		{"livingroom/sensor/living_humidity/state", "48"},
		{"livingroom/binary_sensor/living_motion/state", "ON"},
		{"livingroom/switch/living_relay/state", "OFF"},
		{"livingroom/light/living_light/state", `{"state":"ON","brightness":128,"color_mode":"brightness"}`},
	} {
		g.msgs(m.topic, m.payload)
	}
	sameState(t, "state", g.state("livingroom"), map[string]any{"temperature": 21.5, "humidity": 48, "occupancy": true,
		"living_relay": "OFF", "living_light": "ON", "living_light_brightness": 127})
	if d, _ := g.r.Device("livingroom"); d.Availability != hearth.Online {
		t.Errorf("availability = %q", d.Availability)
	}
	g.msgs("livingroom/sensor/living_temperature/state", "None")
	if _, has := g.state("livingroom")["temperature"]; has {
		t.Errorf("a sensor reporting None still has a temperature")
	}

	t.Run("commands go to the entity of each attribute", func(t *testing.T) {
		got := rows(g.commands("livingroom", `{"living_relay":"ON","living_light_brightness":254}`))
		want := []cmdRow{
			{"livingroom/light/living_light/command", `{"brightness":255}`},
			{"livingroom/switch/living_relay/command", "ON"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("commands = %+v, want %+v", got, want)
		}
	})
	t.Run("a sensor cannot be commanded", func(t *testing.T) {
		_, err := g.r.CommandFor("livingroom", []byte(`{"temperature":20}`))
		if !errors.Is(err, hearth.ErrBadCommand) || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("an attribute the node lacks is refused with what it takes", func(t *testing.T) {
		_, err := g.r.CommandFor("livingroom", []byte(`{"state":"ON"}`))
		if !errors.Is(err, hearth.ErrBadCommand) || !strings.Contains(err.Error(), "living_light, living_relay") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("an empty config removes the entity and its attribute", func(t *testing.T) {
		out := g.msgs("homeassistant/sensor/livingroom/living_humidity/config", "")
		if len(out) != 1 || out[0].Kind != hearth.KindState {
			t.Fatalf("emitted %+v, want the state without humidity", out)
		}
		if _, has := g.state("livingroom")["humidity"]; has {
			t.Errorf("humidity still in the state")
		}
		if out := g.msgs("livingroom/sensor/living_humidity/state", "50"); len(out) != 0 {
			t.Errorf("the removed entity's topic still folds: %+v", out)
		}
		for _, c := range g.info("livingroom").Capabilities {
			if c.Attr == "humidity" {
				t.Errorf("humidity still a capability")
			}
		}
	})
	t.Run("removing every entity forgets the device's info", func(t *testing.T) {
		for _, k := range []string{"sensor/livingroom/living_temperature", "binary_sensor/livingroom/living_motion", "switch/livingroom/living_relay", "light/livingroom/living_light"} {
			g.msgs("homeassistant/"+k+"/config", "")
		}
		if in := g.info("livingroom"); in.Adapter != "native" || in.Model != "" {
			t.Errorf("info after removal = %+v", in)
		}
		if len(g.r.routes) != 0 {
			t.Errorf("routes left: %v", g.r.routes)
		}
	})
}

func TestHomeAssistantConfigs(t *testing.T) {
	t.Run("the same config again changes nothing", func(t *testing.T) {
		g := newRig(t)
		cfg := testdata(t, "homeassistant/garden_motion.json")
		g.msg("homeassistant/binary_sensor/garden/config", cfg)
		before := g.r.routes["homeassistant/binary_sensor/garden/state"][0]
		g.msg("homeassistant/binary_sensor/garden/config", cfg)
		if after := g.r.routes["homeassistant/binary_sensor/garden/state"]; len(after) != 1 || after[0] != before {
			t.Errorf("routes replaced by a repeated config: %v", after)
		}
	})
	t.Run("an unsupported template is a warning on the device, and its value is not read", func(t *testing.T) {
		g := newRig(t)
		g.msgs("homeassistant/sensor/porch/config", `{"name":"Porch","stat_t":"porch/state","val_tpl":"{{ states('sensor.x') }}","avty_t":"porch/lwt"}`)
		in := g.info("porch")
		if len(in.Warnings) != 1 || !strings.Contains(in.Warnings[0], "value_template") || !strings.Contains(in.Warnings[0], "states()") {
			t.Errorf("warnings = %q", in.Warnings)
		}
		if out := g.msgs("porch/state", "12"); len(out) != 0 {
			t.Errorf("a value read without its template: %+v", out)
		}
		if out := g.msgs("porch/lwt", "online"); len(out) != 1 {
			t.Errorf("availability not read: %+v", out)
		}
	})
	t.Run("a config whose state topic Zigbee2MQTT reads is left to it", func(t *testing.T) {
		g := newRig(t)
		e, _ := g.send(hearth.KindMessage, "homeassistant/binary_sensor/0x00158d0001e1a2b3/occupancy/config",
			[]byte(`{"name":null,"device_class":"motion","state_topic":"zigbee2mqtt/hall_motion","value_template":"{{ value_json.occupancy }}","payload_on":true,"payload_off":false}`))
		if e.Device != "" || len(g.r.routes) != 0 {
			t.Errorf("device %q, routes %v", e.Device, g.r.routes)
		}
		g.msgs("zigbee2mqtt/hall_motion", `{"occupancy":true}`)
		if in := g.info("hall_motion"); in.Adapter != "zigbee2mqtt" {
			t.Errorf("adapter = %q", in.Adapter)
		}
	})
	t.Run("Tasmota's legacy discovery is read when the Tasmota adapter is off", func(t *testing.T) {
		g := newRigWith(t, Options{Adapters: []AdapterConfig{{Name: "homeassistant"}}})
		g.msg("homeassistant/sensor/218FF9_ENERGY_Total/config", testdata(t, "homeassistant/tasmota_energy_total.json"))
		g.msgs("tele/plug001/LWT", "Online")
		g.msg("tele/plug001/SENSOR", testdata(t, "tasmota/energy_sensor.json"))
		sameState(t, "state", g.state("218FF9_ENERGY_Total"), map[string]any{"energy": 514.153})
		if d, _ := g.r.Device("218FF9_ENERGY_Total"); d.Availability != hearth.Online {
			t.Errorf("availability = %q", d.Availability)
		}
	})
	t.Run("availability as a list with templates", func(t *testing.T) {
		g := newRig(t)
		g.msgs("homeassistant/sensor/n/x/config", `{"stat_t":"n/x","avty":[{"t":"n/a","val_tpl":"{{ value_json.state }}"},{"topic":"n/b","pl_avail":"up","pl_not_avail":"down"}],"avty_mode":"latest"}`)
		g.msgs("n/a", `{"state":"online"}`)
		if d, _ := g.r.Device("n"); d.Availability != hearth.Online {
			t.Errorf("after n/a: %q", d.Availability)
		}
		g.msgs("n/b", "down")
		if d, _ := g.r.Device("n"); d.Availability != hearth.Offline {
			t.Errorf("after n/b: %q", d.Availability)
		}
	})
	t.Run("a door sensor is contact, true when closed", func(t *testing.T) {
		g := newRig(t)
		g.msgs("homeassistant/binary_sensor/front/config", `{"dev_cla":"door","stat_t":"front/door","pl_on":"open","pl_off":"closed"}`)
		g.msgs("front/door", "open")
		sameState(t, "state", g.state("front"), map[string]any{"contact": false})
		g.msgs("front/door", "closed")
		sameState(t, "state", g.state("front"), map[string]any{"contact": true})
	})
	t.Run("a basic light with a brightness topic and templates", func(t *testing.T) {
		g := newRig(t)
		g.msgs("homeassistant/light/desk/config", `{"~":"desk","cmd_t":"~/power/set","stat_t":"~/power","stat_val_tpl":"{{ value_json.POWER }}",
			"bri_cmd_t":"~/dim/set","bri_stat_t":"~/dim","bri_scl":100,"bri_val_tpl":"{{ value | int }}","bri_cmd_tpl":"{{ value | int }}",
			"pl_on":"1","pl_off":"0"}`)
		g.msgs("desk/power", `{"POWER":"1"}`)
		g.msgs("desk/dim", "50")
		sameState(t, "state", g.state("desk"), map[string]any{"state": "ON", "brightness": 127})
		got := rows(g.commands("desk", `{"state":"ON","brightness":254}`))
		want := []cmdRow{{"desk/dim/set", "100"}, {"desk/power/set", "1"}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("commands = %+v, want %+v (brightness first: on_command_type last)", got, want)
		}
	})
	t.Run("a command template shapes the payload", func(t *testing.T) {
		g := newRig(t)
		g.msgs("homeassistant/switch/pump/config", `{"cmd_t":"pump/cmd","cmd_tpl":"{\"relay\": \"{{ value | lower }}\"}","stat_t":"pump/state","qos":1,"ret":true}`)
		cmds := g.commands("pump", `{"state":"ON"}`)
		if got := rows(cmds); !reflect.DeepEqual(got, []cmdRow{{"pump/cmd", `{"relay": "on"}`}}) || cmds[0].QoS != 1 || !cmds[0].Retain {
			t.Errorf("commands = %+v", cmds)
		}
	})
	t.Run("a number entity takes its value as text", func(t *testing.T) {
		g := newRig(t)
		g.msgs("homeassistant/number/heater/setpoint/config", `{"cmd_t":"heater/setpoint/set","stat_t":"heater/setpoint"}`)
		g.msgs("heater/setpoint", "21.5")
		sameState(t, "state", g.state("heater"), map[string]any{"setpoint": 21.5})
		if got := rows(g.commands("heater", `{"setpoint":22}`)); !reflect.DeepEqual(got, []cmdRow{{"heater/setpoint/set", "22"}}) {
			t.Errorf("commands = %+v", got)
		}
	})
	t.Run("JSON attributes merge into the state", func(t *testing.T) {
		g := newRig(t)
		g.msgs("homeassistant/sensor/meter/config", `{"stat_t":"meter/v","json_attr_t":"meter/attrs"}`)
		g.msgs("meter/attrs", `{"rssi":-60,"fw":"1.2"}`)
		sameState(t, "state", g.state("meter"), map[string]any{"rssi": -60, "fw": "1.2"})
	})
	t.Run("configs that are not JSON objects are ignored", func(t *testing.T) {
		g := newRig(t)
		for _, p := range []string{`not json`, `[1]`, `null`, `{"stat_t": 1`} {
			g.msgs("homeassistant/sensor/bad/config", p)
		}
		if _, ok := g.r.Info("bad"); ok || len(g.r.routes) != 0 {
			t.Errorf("a broken config made a device")
		}
	})
	t.Run("other topics under the prefix are not devices", func(t *testing.T) {
		g := newRig(t)
		for _, topic := range []string{"homeassistant/status", "homeassistant/sensor/x/state", "homeassistant/a/b/c/d/config"} {
			if e, out := g.send(hearth.KindMessage, topic, []byte("online")); e.Device != "" || len(out) != 0 {
				t.Errorf("%s: device %q, emitted %+v", topic, e.Device, out)
			}
		}
	})
}

func TestHomeAssistantSharedAvailability(t *testing.T) {
	// OpenMQTTGateway gives every sensor it relays its own LWT as
	// availability: one message concerns them all.
	g := newRig(t)
	for i := range maxDevicesPerTopic + 1 {
		g.msgs(fmt.Sprintf("homeassistant/sensor/ble_%02d/config", i), fmt.Sprintf(`{"stat_t":"omg/BTtoMQTT/%02d","avty_t":"OMG/LWT","pl_avail":"online"}`, i))
	}
	out := g.msgs("OMG/LWT", "online")
	if len(out) != maxDevicesPerTopic {
		t.Errorf("one availability message emitted %d events, want %d", len(out), maxDevicesPerTopic)
	}
	last := g.info(fmt.Sprintf("ble_%02d", maxDevicesPerTopic))
	if len(last.Warnings) != 1 || !strings.Contains(last.Warnings[0], "already feeds 12 devices") {
		t.Errorf("warnings of the device past the limit = %q", last.Warnings)
	}
}

func TestHomeAssistantAbbreviations(t *testing.T) {
	c, err := parseHAConfig([]byte(`{"~":"a/b","stat_t":"~/state","cmd_t":"x/~","avty_t":"~","val_tpl":"{{value}}","dev":{"ids":["1"],"mf":"M","mdl":"X"},"state_topic":"full/wins"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"state_topic": "full/wins", "command_topic": "x/a/b", "availability_topic": "a/b", "value_template": "{{value}}"}
	for k, v := range want {
		if c.str(k) != v {
			t.Errorf("%s = %q, want %q", k, c.str(k), v)
		}
	}
	dev := haConfig(c["device"].(map[string]any))
	if dev.str("manufacturer") != "M" || dev.str("model") != "X" {
		t.Errorf("device = %v", dev)
	}
}
