package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hearth"
)

// recordingCommander keeps what it is asked to send.
type recordingCommander struct{ sent []hearth.Command }

func (r *recordingCommander) Command(_ context.Context, c hearth.Command) (hearth.Event, error) {
	r.sent = append(r.sent, c)
	return hearth.Event{Topic: c.Topic}, nil
}

// plugTranslator speaks like a Tasmota plug: one command topic per device.
type plugTranslator struct{}

func (plugTranslator) CommandFor(id string, payload []byte) ([]hearth.Command, error) {
	return []hearth.Command{{Topic: "cmnd/" + id + "/POWER", Payload: []byte("ON")}}, nil
}

func TestDeviceCommandKeepsCauseQoSAndRetainThroughTranslation(t *testing.T) {
	next := &recordingCommander{}
	d := deviceCommander{next: next, translate: plugTranslator{}, base: "home"}
	in := hearth.Command{
		Topic: "home/plug/set", Device: "plug", Payload: []byte(`{"state":"ON"}`),
		QoS: 1, Retain: true, Cause: hearth.Cause{Seq: 7, Run: "r1"},
	}
	if _, err := d.Command(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if len(next.sent) != 1 {
		t.Fatalf("sent %d commands, want 1", len(next.sent))
	}
	got := next.sent[0]
	if got.Topic != "cmnd/plug/POWER" || got.QoS != 1 || !got.Retain || got.Cause != in.Cause {
		t.Errorf("sent %+v; want the plug's topic with QoS 1, retained, and the cause %+v", got, in.Cause)
	}
}

func TestTheAPIRefusesCommandsTheDeviceCannotTakeWith400(t *testing.T) {
	app, _ := startHub(t, "")
	mqttAddr, api := app.MQTTAddr().String(), "http://"+app.HTTPAddr().String()+"/api/devices/"
	plug := connect(t, mqttAddr, "tasmota_plug")
	cmnd := subscribe(t, plug, "cmnd/plug/#")
	publish(t, plug, "tele/plug/STATE", 1, `{"POWER":"OFF","Dimmer":40}`)
	native := connect(t, mqttAddr, "porch_light")
	publish(t, native, "home/porch_light", 1, `{"state":"OFF"}`)
	z2m := connect(t, mqttAddr, "zigbee2mqtt")
	publish(t, z2m, "zigbee2mqtt/bridge/devices", 1, `[{"friendly_name":"bulb","type":"Router","definition":{"model":"LED1624G9","vendor":"IKEA",
		"exposes":[{"type":"light","features":[{"type":"binary","property":"state","access":7,"value_on":"ON","value_off":"OFF"},
		{"type":"numeric","property":"brightness","access":7,"value_min":0,"value_max":254}]}]}}]`)
	publish(t, z2m, "zigbee2mqtt/bulb", 1, `{"state":"OFF","brightness":10}`) // after its exposes, from the same client
	eventually(t, "the plug, the lights and the house in the read model", func() bool {
		var d hearth.DeviceState
		return getJSON(t, api+"plug", &d) == 200 && getJSON(t, api+"house", &d) == 200 &&
			getJSON(t, api+"porch_light", &d) == 200 && getJSON(t, api+"bulb", &d) == 200
	})

	cases := []struct {
		name, device, body string
		says               string
	}{
		{"a brightness that is not a number", "plug", `{"brightness":"high"}`, `device plug: bad command: brightness must be a number, got "high"`},
		{"an attribute the device does not have", "plug", `{"colour":"red"}`, `"colour"`},
		{"a state value the device does not know", "plug", `{"state":"BRIGHT"}`, `state must be "ON", "OFF" or "TOGGLE", got "BRIGHT"`},
		{"a body that is not JSON", "plug", `ON`, `the body is not valid`},
		{"a house mode that does not exist", "house", `{"mode":"party"}`, `house mode "party" is not one of home, away, night, vacation`},
		{"a native light's brightness that is not a number", "porch_light", `{"brightness":"high"}`, `device porch_light: bad command: brightness must be a number, got "high"`},
		{"a Zigbee2MQTT bulb's state beyond its exposes", "bulb", `{"state":"BRIGHT"}`, `device bulb: bad command: state must be "ON" or "OFF", got "BRIGHT"`},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is a 400 saying why", func(t *testing.T) {
			var e struct{ Error string }
			if code := postJSON(t, api+tc.device+"/set", tc.body, &e); code != 400 || !strings.Contains(e.Error, tc.says) {
				t.Fatalf("%d %q, want 400 saying %s", code, e.Error, tc.says)
			}
		})
	}
	t.Run("a command the device takes still goes out", func(t *testing.T) {
		var ev apiEvent
		if code := postJSON(t, api+"plug/set", `{"state":"ON"}`, &ev); code != 202 {
			t.Fatalf("status %d", code)
		}
		// The refused commands sent nothing: the first the plug hears is this one.
		select {
		case m := <-cmnd:
			if m.Topic() != "cmnd/plug/POWER" || string(m.Payload()) != "ON" {
				t.Fatalf("the plug got %s %q first, want POWER ON", m.Topic(), m.Payload())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the plug got no command within 10s")
		}
	})
}

// TestADeviceThatOnlyTakesCommandsIsCommandedFromTheAPI maps a fan in the
// devices file by its command alone, as many plain relays and IR blasters
// are: it never reports, and the API used to answer 404 for it.
func TestADeviceThatOnlyTakesCommandsIsCommandedFromTheAPI(t *testing.T) {
	file := filepath.Join(t.TempDir(), "devices.yaml")
	if err := os.WriteFile(file, []byte("- id: fan\n  name: Ceiling fan\n  command:\n    topic: fan/cmd\n    attr: speed\n    template: '{\"speed\": {{ value | int }}}'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	app, _ := startHubWith(t, "", func(c *Config) { c.DevicesFile = file })
	fan := connect(t, app.MQTTAddr().String(), "fan")
	commands := subscribe(t, fan, "fan/cmd")
	api := "http://" + app.HTTPAddr().String() + "/api/devices/"
	var ev apiEvent
	if code := postJSON(t, api+"fan/set", `{"speed":3}`, &ev); code != 202 {
		t.Fatalf("status %d", code)
	}
	if got := receive(t, commands); got["speed"] != 3.0 {
		t.Fatalf("the fan got %v, want speed 3", got)
	}
	var e struct{ Error string }
	if code := postJSON(t, api+"nothing_known/set", `{"speed":3}`, &e); code != 404 {
		t.Fatalf("a device nobody described: %d %q, want 404", code, e.Error)
	}
}

// TestAPublishGoesOutAsItIsEvenToASetTopic: publish is any payload to any
// topic; one to home/<id>/set that is not a JSON object used to be taken
// for a device command and refused.
func TestAPublishGoesOutAsItIsEvenToASetTopic(t *testing.T) {
	app, _ := startHub(t, `
- id: raw
  triggers: [{mqtt: go}]
  actions:
    - publish: home/kitchen/set
      payload: "ok"
`)
	c := connect(t, app.MQTTAddr().String(), "kitchen")
	got := subscribe(t, c, "home/kitchen/set")
	publish(t, c, "go", 1, "now")
	select {
	case m := <-got:
		if string(m.Payload()) != "ok" {
			t.Fatalf("got %q", m.Payload())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the publish did not go out")
	}
	eventually(t, "the command logged against its device", func() bool {
		evs := events(t, app.HTTPAddr().String(), "kind=command&topic=home/kitchen/set")
		return len(evs) == 1 && evs[0].Device == "kitchen"
	})
}
