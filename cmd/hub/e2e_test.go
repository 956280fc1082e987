package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"hearth"
	"hearth/automations"
)

const motionLightYAML = `
- id: hall_light_on_motion
  description: Hall light on with motion, off shortly after
  mode: restart
  triggers:
    - device: hall_motion
      when: occupancy == true
  conditions:
    - states.hall_lux.illuminance < 30
  actions:
    - set: hall_light
      state: {state: "ON", brightness: 200}
    - delay: 200ms
    - set: hall_light
      state: {state: "OFF"}
`

func TestMotionTurnsTheLightOnAndOffAgain(t *testing.T) {
	app, _ := startHub(t, motionLightYAML)
	mqttAddr, httpAddr := app.MQTTAddr().String(), app.HTTPAddr().String()

	light := connect(t, mqttAddr, "hall_light")
	commands := subscribe(t, light, "home/hall_light/set")
	sensor := connect(t, mqttAddr, "hall_motion")
	publish(t, sensor, "home/hall_lux", 1, `{"illuminance":12}`)
	publish(t, sensor, "home/hall_motion", 1, `{"occupancy":true}`)

	if got := receive(t, commands); got["state"] != "ON" || got["brightness"] != 200.0 {
		t.Fatalf("first command %v, want ON at brightness 200", got)
	}
	if got := receive(t, commands); got["state"] != "OFF" {
		t.Fatalf("second command %v, want OFF after the delay", got)
	}

	t.Run("the log explains why the light turned on", func(t *testing.T) {
		var cmds []apiEvent
		eventually(t, "two commands in the log", func() bool {
			cmds = events(t, httpAddr, "kind=command&device=hall_light")
			return len(cmds) == 2
		})
		on := cmds[1] // newest first
		if !strings.HasPrefix(on.Cause.Run, "hall_light_on_motion#") || on.Cause.Source != "automation" {
			t.Fatalf("command cause %+v, want a run of hall_light_on_motion", on.Cause)
		}
		trigger := findEvent(t, httpAddr, on.Cause.Seq)
		if trigger.Kind != hearth.KindState || trigger.Device != "hall_motion" {
			t.Fatalf("command caused by %+v, want the state change of hall_motion", trigger)
		}
		msg := findEvent(t, httpAddr, trigger.Cause.Seq)
		if msg.Kind != hearth.KindMessage || msg.Topic != "home/hall_motion" || msg.Client != "hall_motion" {
			t.Fatalf("state change caused by %+v, want the message from the hall_motion client", msg)
		}
	})

	t.Run("a repeated motion report does not fire again", func(t *testing.T) {
		publish(t, sensor, "home/hall_motion", 1, `{"occupancy":true,"battery":90}`)
		publish(t, sensor, "home/hall_motion", 1, `{"occupancy":false}`)
		publish(t, sensor, "home/hall_motion", 1, `{"occupancy":true}`)
		if got := receive(t, commands); got["state"] != "ON" {
			t.Fatalf("after motion stopped and started again: %v, want ON", got)
		}
		select {
		case m := <-commands:
			if !strings.Contains(string(m.Payload()), "OFF") {
				t.Fatalf("unexpected command %s: the repeated report fired the automation", m.Payload())
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the OFF after the delay never came")
		}
	})

	t.Run("the device read model has the latest state", func(t *testing.T) {
		var d hearth.DeviceState
		if code := getJSON(t, "http://"+httpAddr+"/api/devices/hall_motion", &d); code != 200 {
			t.Fatalf("status %d", code)
		}
		if d.State["occupancy"] != true || d.State["battery"] != 90.0 {
			t.Fatalf("hall_motion state %v, want the merged occupancy and battery", d.State)
		}
	})
}

func TestTheConditionHoldsTheLightOff(t *testing.T) {
	app, _ := startHub(t, motionLightYAML)
	light := connect(t, app.MQTTAddr().String(), "hall_light")
	commands := subscribe(t, light, "home/hall_light/set")
	sensor := connect(t, app.MQTTAddr().String(), "hall_motion")

	publish(t, sensor, "home/hall_lux", 1, `{"illuminance":500}`) // daylight
	publish(t, sensor, "home/hall_motion", 1, `{"occupancy":true}`)
	publish(t, sensor, "home/hall_motion", 1, `{"occupancy":false}`)
	publish(t, sensor, "home/hall_lux", 1, `{"illuminance":5}`) // dusk
	publish(t, sensor, "home/hall_motion", 1, `{"occupancy":true}`)
	if got := receive(t, commands); got["state"] != "ON" {
		t.Fatalf("first command %v: the light must stay off in daylight and come on at dusk", got)
	}
	var evs []apiEvent
	eventually(t, "the ON command in the log", func() bool {
		evs = events(t, app.HTTPAddr().String(), "kind=command&device=hall_light")
		return len(evs) >= 1
	})
	trigger := findEvent(t, app.HTTPAddr().String(), evs[len(evs)-1].Cause.Seq)
	var state map[string]any
	_ = json.Unmarshal(trigger.Payload, &state)
	if state["occupancy"] != true {
		t.Fatalf("ON caused by %+v, want the second motion", trigger)
	}
}

func findEvent(t *testing.T, httpAddr string, seq uint64) apiEvent {
	t.Helper()
	if seq == 0 {
		t.Fatal("cause has no event sequence number")
	}
	for _, e := range events(t, httpAddr, "limit=1000") {
		if e.Seq == seq {
			return e
		}
	}
	t.Fatalf("event %d not in the log", seq)
	return apiEvent{}
}

func TestTheDemoHouseRunsItsAutomationsOnSimulatedDevices(t *testing.T) {
	// The alarm story's delays wait on a clock that does not move here.
	app, _ := startHubWith(t, "", func(c *Config) { c.Demo = true; c.clock = automations.NewFakeClock(time.Now()) })
	httpAddr := app.HTTPAddr().String()

	var devs []hearth.DeviceState
	eventually(t, "the seven simulated devices online", func() bool {
		getJSON(t, "http://"+httpAddr+"/api/devices", &devs)
		online := 0
		for _, d := range devs {
			if d.Availability == hearth.Online {
				online++
			}
		}
		return online == 7
	})

	// Someone walks into the hall (the simulated sensor may say so too).
	walker := connect(t, app.MQTTAddr().String(), "test_walker")
	publish(t, walker, "home/hall_motion", 1, `{"occupancy":false}`)
	publish(t, walker, "home/hall_motion", 1, `{"occupancy":true}`)
	eventually(t, "the simulated hall light reports ON", func() bool {
		var d hearth.DeviceState
		getJSON(t, "http://"+httpAddr+"/api/devices/hall_light", &d)
		return d.State["state"] == "ON" && d.State["brightness"] == 200.0
	})
	eventually(t, "the demo automation's command in the log", func() bool {
		cmds := events(t, httpAddr, "kind=command&device=hall_light")
		return len(cmds) > 0 && strings.HasPrefix(cmds[0].Cause.Run, "hall_light_on_motion#")
	})
}

func TestTheExampleFilesLoad(t *testing.T) {
	for _, file := range []string{"../../examples/demo.yaml", "../../examples/alarm.yaml"} {
		t.Run(file, func(t *testing.T) {
			if _, err := automations.Load(file); err != nil {
				t.Fatalf("%v", err)
			}
		})
	}
}

// TestRetainedMessagesOutliveARestart: a client retains a message, and
// retains another and clears it; after the hub restarts a new subscriber
// gets the first, not the second, as it would from Mosquitto with
// persistence. The embedded broker used to forget them all. (A crash
// before the snapshot: store's TestRetainedComesFromTheTableAndTheLogAfterIt.)
func TestRetainedMessagesOutliveARestart(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	app, _ := startHubWith(t, "", func(c *Config) { c.DataDir = data })
	script := connect(t, app.MQTTAddr().String(), "script")
	publishRetained(t, script, "garden/sprinkler/schedule", `{"at":"06:00"}`)
	publishRetained(t, script, "garden/old", `{"x":1}`)
	publishRetained(t, script, "garden/old", ``) // cleared
	script.Disconnect(0)
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}

	app, _ = startHubWith(t, "", func(c *Config) { c.DataDir = data })
	dashboard := connect(t, app.MQTTAddr().String(), "dashboard")
	got := subscribe(t, dashboard, "garden/#")
	if m := receive(t, got); m["at"] != "06:00" {
		t.Fatalf("the dashboard got %v, want the retained schedule", m)
	}
	select {
	case m := <-got:
		t.Fatalf("the dashboard also got %s %s, which was cleared", m.Topic(), m.Payload())
	case <-time.After(300 * time.Millisecond):
	}
}

func publishRetained(t *testing.T, c mqtt.Client, topic, payload string) {
	t.Helper()
	if tok := c.Publish(topic, 1, true, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// TestAnAutomationsPublishToAStateTopicIsTheDevicesState: a counter kept
// by an automation on home/counter, as Home Assistant's input_number is.
// The hub's publish there is what every subscriber reads as the counter's
// state, and the read model too: the loop below stops at 3. It used to see
// the counter at 0 for ever and publish until the repeat's bound.
func TestAnAutomationsPublishToAStateTopicIsTheDevicesState(t *testing.T) {
	app, _ := startHub(t, `
- id: count
  triggers: [{mqtt: count}]
  actions:
    - repeat:
        while: ["(states.counter.n ?? 0) < 3"]
        actions:
          - publish: home/counter
            payload: {n: "{{ (states.counter.n ?? 0) + 1 }}"}
            retain: true
          # The automations read states as the bus delivers them, in
          # order: a moment for the engine to read its own publish.
          - delay: 200ms
`)
	c := connect(t, app.MQTTAddr().String(), "button")
	publish(t, c, "count", 1, "go")
	eventually(t, "the counter at 3", func() bool {
		d, ok := app.devices.Device("counter")
		return ok && d.State["n"] == 3.0
	})
	eventually(t, "the run done", func() bool {
		return len(events(t, app.HTTPAddr().String(), "kind=run&topic=$hearth/automations/count")) == 1
	})
	if n := len(events(t, app.HTTPAddr().String(), "kind=command&topic=home/counter")); n != 3 {
		t.Fatalf("%d publishes to home/counter, want 3", n)
	}
}
