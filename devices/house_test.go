package devices

import (
	"errors"
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
			if _, err := g.reg.CommandFor(HouseID, []byte(p)); !errors.Is(err, ErrBadCommand) {
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
		if _, err := g.reg.CommandFor("alice", []byte(`{"presence":"out"}`)); !errors.Is(err, ErrBadCommand) {
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
