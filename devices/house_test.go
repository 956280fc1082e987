package devices

import (
	"errors"
	"strings"
	"testing"

	"hearth"
)

func modeIs(mode string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["mode"] == mode }
}

func TestHouseMode(t *testing.T) {
	g := newHubRig(t, Options{BaseTopic: "home", Presence: Presence{People: []Person{{ID: "alice", Name: "Alice"}}}})
	g.startHouse(t, HouseConfig{Modes: []string{"home", "away", "night", "party"}})
	g.awaitState(t, HouseID, "the first mode", modeIs("home"))
	client := g.client(t, "wall_panel")

	t.Run("an automation's command sets the mode, and the run is its cause", func(t *testing.T) {
		ev := g.command(t, HouseID, `{"mode":"away"}`, hearth.Cause{Run: "leaving#3", Source: "automation"})
		published := g.awaitEvent(t, "the house's answer", func(e hearth.Event) bool {
			return e.Kind == hearth.KindCommand && e.Topic == "home/house"
		})
		if published.Cause.Seq != ev.Seq || published.Cause.Run != "leaving#3" || !published.Retain {
			t.Errorf("published %+v, want retained with the command (%d) and the run as cause", published, ev.Seq)
		}
		g.awaitState(t, HouseID, "away", modeIs("away"))
	})
	t.Run("a mode not configured is a bad command", func(t *testing.T) {
		for _, p := range []string{`{"mode":"vacation"}`, `{"mode":1}`, `{"mode":"home","x":1}`} {
			if _, err := g.reg.CommandFor(HouseID, []byte(p)); !errors.Is(err, hearth.ErrBadCommand) {
				t.Errorf("CommandFor(house, %s): err = %v, want ErrBadCommand", p, err)
			}
		}
	})
	t.Run("an MQTT client sets it on home/house/set", func(t *testing.T) {
		publish(t, client, "home/house/set", []byte(`{"mode":"night"}`), false)
		g.awaitState(t, HouseID, "night", modeIs("night"))
	})
	t.Run("a client's message on home/house is not the house's state", func(t *testing.T) {
		publish(t, client, "home/house", []byte(`{"mode":"party"}`), false)
		g.awaitEvent(t, "the message", func(e hearth.Event) bool { return e.Kind == hearth.KindMessage && e.Topic == "home/house" })
		if d, _ := g.reg.Device(HouseID); d.State["mode"] != "night" {
			t.Errorf("mode = %v, want night", d.State["mode"])
		}
	})
	t.Run("a command sets a person's presence and keeps the rest", func(t *testing.T) {
		g.command(t, "alice", `{"presence":"away"}`, hearth.Cause{Source: "web"})
		g.awaitState(t, "alice", "alice away", func(m map[string]any) bool { return m["presence"] == "away" })
		if _, err := g.reg.CommandFor("alice", []byte(`{"presence":"out"}`)); !errors.Is(err, hearth.ErrBadCommand) {
			t.Errorf("presence out: err = %v, want ErrBadCommand", err)
		}
		if in, _ := g.reg.Info("alice"); in.Name != "Alice" || in.Kind != "device_tracker" || in.Adapter != adapterHub {
			t.Errorf("info = %+v", in)
		}
	})
}

func TestHouseModeOutlivesARestart(t *testing.T) {
	var states []hearth.DeviceState
	{
		g := newHubRig(t, Options{BaseTopic: "home"})
		h := g.startHouse(t, HouseConfig{})
		g.command(t, HouseID, `{"mode":"vacation"}`, hearth.Cause{Source: "web"})
		g.awaitState(t, HouseID, "vacation", modeIs("vacation"))
		states = g.reg.Devices() // what the store persists
		h.Close()
	}
	g := newHubRig(t, Options{BaseTopic: "home"})
	g.reg.Restore(states)
	g.startHouse(t, HouseConfig{})
	// The house publishes its mode at start, for MQTT clients: the one it was in.
	ev := g.awaitEvent(t, "the mode published at start", func(e hearth.Event) bool {
		return e.Kind == hearth.KindCommand && e.Topic == "home/house"
	})
	if m := decodeState(t, ev.Payload); m["mode"] != "vacation" {
		t.Errorf("published %v after the restart, want vacation", m)
	}
	if d, _ := g.reg.Device(HouseID); d.State["mode"] != "vacation" {
		t.Errorf("mode after the restart = %v, want vacation", d.State["mode"])
	}
}

func TestHouseConfig(t *testing.T) {
	g := newHubRig(t, Options{BaseTopic: "home"})
	for _, tc := range []struct {
		name  string
		modes []string
	}{
		{"a mode listed twice", []string{"home", "away", "home"}},
		{"an empty mode", []string{"home", ""}},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			if h, err := NewHouse(HouseConfig{Modes: tc.modes}, g.options()); err == nil {
				h.Close()
				t.Error("no error")
			}
		})
	}
}

func TestHeardCountsOnlyTheHousesOwnDevices(t *testing.T) {
	g := newHubRig(t, Options{BaseTopic: "home", Presence: Presence{People: []Person{{ID: "alice"}}}})
	g.startHouse(t, HouseConfig{})
	g.awaitState(t, HouseID, "the first mode", modeIs("home"))
	if g.reg.Heard() {
		t.Fatal("Heard() = true with only the house and a person: a new hub would warn about every device")
	}
	publish(t, g.client(t, "sensor"), "home/hall_motion", []byte(`{"occupancy":true}`), false)
	g.awaitState(t, "hall_motion", "the sensor", func(m map[string]any) bool { return m["occupancy"] == true })
	if !g.reg.Heard() {
		t.Fatal("Heard() = false after a sensor spoke")
	}
}

func TestBadCommandsFromMQTTClientsAreLoggedAndNotObeyed(t *testing.T) {
	g := newHubRig(t, Options{BaseTopic: "home", Presence: Presence{People: []Person{{ID: "alice"}}}})
	g.startHouse(t, HouseConfig{})
	g.startAlarm(t, AlarmConfig{CodeHash: testHash(t, rightCode), ExitDelay: dur(0)})
	g.awaitState(t, HouseID, "the first mode", modeIs("home"))
	g.awaitAlarm(t, AlarmDisarmed)
	keypad := g.client(t, "keypad")
	cases := []struct {
		name, topic, payload string
		logs                 string // a line of the hub's log says this
	}{
		{"a mode the house does not have", "home/house/set", `{"mode":"party"}`, `house mode \"party\" is not one of home, away, night, vacation`},
		{"a mode that is not text", "home/house/set", `{"mode":["away"]}`, `device=house by="mqtt client keypad"`},
		{"a house command that is not JSON", "home/house/set", `away`, `a command is a JSON object`},
		{"a presence that does not exist", "home/alice/set", `{"presence":"out"}`, `a person takes {\"presence\": \"home\"} or {\"presence\": \"away\"}`},
		{"an action the alarm does not have", "home/alarm/set", `{"action":"dance","code":"` + rightCode + `"}`, `alarm command refused: unknown action" component=alarm by="mqtt client keypad"`},
		{"an alarm command that is not JSON", "home/alarm/set", `arm_away`, `alarm command refused: not a JSON object`},
		{"an action that is not text", "home/alarm/set", `{"action":{"arm":"away"}}`, `alarm command refused: unknown action`},
	}
	for _, tc := range cases {
		publish(t, keypad, tc.topic, []byte(tc.payload), false)
	}
	// Good commands after the bad ones, from the same client: each device
	// reads its commands in order, so once these are obeyed the bad ones
	// were read.
	publish(t, keypad, "home/house/set", []byte(`{"mode":"night"}`), false)
	publish(t, keypad, "home/alarm/set", []byte(`{"action":"arm_home","code":"`+rightCode+`"}`), false)
	g.awaitState(t, HouseID, "night", modeIs("night"))
	g.awaitAlarm(t, AlarmArmedHome)
	for _, tc := range cases {
		t.Run(tc.name+" is logged saying why", func(t *testing.T) {
			if !strings.Contains(g.logs.String(), tc.logs) {
				t.Errorf("the log does not say %s:\n%s", tc.logs, g.logs.String())
			}
		})
	}
	if d, _ := g.reg.Device("alice"); d.State["presence"] == "out" {
		t.Errorf("alice's presence is %v", d.State["presence"])
	}
}
