package sim

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// stateIs matches a message on topic whose JSON payload has the given
// attribute values.
func stateIs(topic string, want map[string]any) func(msg) bool {
	return func(m msg) bool {
		if m.topic != topic {
			return false
		}
		var got map[string]any
		if json.Unmarshal([]byte(m.payload), &got) != nil {
			return false
		}
		for k, v := range want {
			if !reflect.DeepEqual(got[k], v) {
				return false
			}
		}
		return true
	}
}

// settle sends the light a command that sets a state it has not had (on at
// 77) and waits for the answer, so that the next message is the answer to
// the next command.
// (mochi acknowledges a QoS 1 publish before it fans it out, so a watcher
// that subscribes just after the light's first state was acknowledged can
// get it twice: retained, then live.)
func settle(t *testing.T, w *watcher, cmd mqtt.Client, id string) {
	t.Helper()
	publish(t, cmd, "home/"+id+"/set", `{"state":"ON","brightness":77}`)
	w.next(t, "the answer to the settling command", func(m msg) bool {
		return m.topic == "home/"+id && m.payload == `{"brightness":77,"state":"ON"}`
	})
}

func on(t string) func(msg) bool { return func(m msg) bool { return m.topic == t } }

func TestLightObeysCommands(t *testing.T) {
	url := startBroker(t)
	h := startHouse(t, url, []Spec{{ID: "hall_light", Kind: Lamp}})
	light, _ := h.Light("hall_light")
	w := watch(t, url, "home/hall_light")
	first := w.next(t, "the light's retained state", on("home/hall_light"))
	if first.payload != `{"brightness":254,"state":"OFF"}` || !first.retained {
		t.Fatalf("first state = %+v", first)
	}
	cmd := connectClient(t, url)
	settle(t, w, cmd, "hall_light")

	steps := []struct {
		name    string
		command string
		want    string
		state   LightState
	}{
		{"ON with a brightness turns it on at that level", `{"state":"ON","brightness":200}`, `{"brightness":200,"state":"ON"}`, LightState{On: true, Brightness: 200}},
		{"TOGGLE turns it off", `{"state":"TOGGLE"}`, `{"brightness":200,"state":"OFF"}`, LightState{Brightness: 200}},
		{"TOGGLE turns it on again", `{"state":"TOGGLE"}`, `{"brightness":200,"state":"ON"}`, LightState{On: true, Brightness: 200}},
		{"ON again reports the same state again", `{"state":"on"}`, `{"brightness":200,"state":"ON"}`, LightState{On: true, Brightness: 200}},
		{"brightness 0 turns it off and keeps the level", `{"brightness":0}`, `{"brightness":200,"state":"OFF"}`, LightState{Brightness: 200}},
		{"a brightness alone turns it on", `{"brightness":50,"transition":2}`, `{"brightness":50,"state":"ON"}`, LightState{On: true, Brightness: 50}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			publish(t, cmd, "home/hall_light/set", s.command)
			got := w.next(t, "state after "+s.command, on("home/hall_light"))
			if got.payload != s.want {
				t.Fatalf("state = %s, want %s", got.payload, s.want)
			}
			if st := light.State(); st != s.state {
				t.Fatalf("State() = %+v, want %+v", st, s.state)
			}
		})
	}

	// A newcomer gets the last state, retained.
	late := watch(t, url, "home/hall_light")
	if m := late.next(t, "retained state", on("home/hall_light")); !m.retained || m.payload != `{"brightness":50,"state":"ON"}` {
		t.Fatalf("retained state = %+v", m)
	}
}

func TestLightIgnoresBadCommands(t *testing.T) {
	url := startBroker(t)
	h := startHouse(t, url, []Spec{{ID: "kitchen_light", Kind: Lamp}})
	light, _ := h.Light("kitchen_light")
	w := watch(t, url, "home/kitchen_light")
	cmd := connectClient(t, url)
	settle(t, w, cmd, "kitchen_light")

	for _, bad := range []string{``, `not json`, `[1]`, `null`, `{}`, `{"state":"BLINK"}`, `{"state":1}`,
		`{"brightness":255}`, `{"brightness":-1}`, `{"brightness":"high"}`, "{\"state\":\"ON\xff\"", `{"transition":1}`} {
		publish(t, cmd, "home/kitchen_light/set", bad)
	}
	// Commands are handled in order, so the next state published is the
	// answer to the good command: the bad ones published nothing.
	publish(t, cmd, "home/kitchen_light/set", `{"state":"OFF"}`)
	if m := w.next(t, "state after a good command", on("home/kitchen_light")); m.payload != `{"brightness":77,"state":"OFF"}` {
		t.Fatalf("after bad commands and OFF, state = %s", m.payload)
	}
	if st := light.State(); st != (LightState{Brightness: 77}) {
		t.Fatalf("State() = %+v", st)
	}
}

func TestMotionSensorReportsOccupancy(t *testing.T) {
	url := startBroker(t)
	w := watch(t, url, "home/hall_motion")
	startHouse(t, url, []Spec{{ID: "hall_motion", Kind: Motion}})
	first := w.next(t, "initial state", on("home/hall_motion"))
	if !stateIs("home/hall_motion", map[string]any{"occupancy": false})(first) || !strings.Contains(first.payload, `"linkquality":`) {
		t.Fatalf("first report = %s", first.payload)
	}
	w.next(t, "someone walks in", stateIs("home/hall_motion", map[string]any{"occupancy": true}))
	w.next(t, "they leave", stateIs("home/hall_motion", map[string]any{"occupancy": false}))
	w.next(t, "someone comes back", stateIs("home/hall_motion", map[string]any{"occupancy": true}))
}

func TestAvailabilityWillAndReconnect(t *testing.T) {
	url := startBroker(t)
	p := startProxy(t, url)
	h := startHouse(t, p.url(), []Spec{{ID: "hall_light", Kind: Lamp}, {ID: "front_door", Kind: Contact}})
	ids := []string{"hall_light", "front_door"}

	w := watch(t, url, availability(ids)...)
	for id, m := range w.each(t, "online", ids) {
		if !m.retained {
			t.Fatalf("%s availability = %+v, want online retained", id, m)
		}
	}

	p.cut() // both devices lose their connection without a word
	w.each(t, "offline", ids)
	late := watch(t, url, availability(ids)...)
	for id, m := range late.each(t, "offline", ids) {
		if !m.retained {
			t.Fatalf("%s availability after the cut = %+v, want offline retained", id, m)
		}
	}

	// They come back by themselves, and the light obeys again.
	w.each(t, "online", ids)
	states := watch(t, url, "home/hall_light")
	states.next(t, "retained light state", on("home/hall_light"))
	publish(t, connectClient(t, url), "home/hall_light/set", `{"state":"ON","brightness":10}`)
	states.next(t, "state after a command sent after the reconnect",
		stateIs("home/hall_light", map[string]any{"state": "ON", "brightness": 10.0}))
	if l, _ := h.Light("hall_light"); l.State() != (LightState{On: true, Brightness: 10}) {
		t.Fatalf("State() = %+v", l.State())
	}

	p.kill() // for good this time: Close must not wait on reconnecting devices
	w.each(t, "offline", ids)
}

func TestDemoHouse(t *testing.T) {
	url := startBroker(t)
	var ids []string
	for _, s := range Demo() {
		ids = append(ids, s.ID)
	}
	w := watch(t, url, availability(ids)...)
	h := startHouse(t, url, Demo())
	w.each(t, "online", ids)
	h.Close()
	w.each(t, "offline", ids) // said on the way out, before the clean disconnect
	h.Close()                 // a second Close does nothing
}

func TestStartFailsWithoutBroker(t *testing.T) {
	h, err := NewHouse(Demo(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Start(ctx, "tcp://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "hall_motion") {
		t.Fatalf("Start on a closed port = %v, want an error naming the device", err)
	}
	h.Close()
}
