package main

import (
	"path/filepath"
	"testing"
	"time"

	"hearth/devices"
)

// TestAnAlarmGoingOffAsTheHubStartsRunsItsAutomations stops the hub while
// the alarm is pending and starts it again after the entry delay has run
// out: the alarm goes off as the hub starts, before anything else is
// heard, and the automation that sounds the siren must still run. The
// engine used to subscribe to the bus after the hub's own devices had
// started, so it never heard of it: nobody was told the alarm went off.
func TestAnAlarmGoingOffAsTheHubStartsRunsItsAutomations(t *testing.T) {
	hash, err := devices.HashAlarmCode("2580")
	if err != nil {
		t.Fatal(err)
	}
	exit, entry := time.Duration(0), 200*time.Millisecond
	data := filepath.Join(t.TempDir(), "data")
	configure := func(c *Config) {
		c.DataDir = data
		c.Alarm = &devices.AlarmConfig{
			CodeHash: hash, ArmWithoutCode: true, ExitDelay: &exit, EntryDelay: &entry,
			Sensors: map[string][]string{"armed_away": {"front_door"}},
		}
	}
	const siren = `
- id: siren
  triggers:
    - device: alarm
      when: state == "triggered"
  actions:
    - set: siren
      state: {state: "ON"}
`
	app, _ := startHubWith(t, siren, configure)
	alarmState := func(app *App) any { d, _ := app.devices.Device("alarm"); return d.State["state"] }
	c := connect(t, app.MQTTAddr().String(), "keypad")
	publish(t, c, "home/alarm/set", 1, `{"action":"arm_away"}`)
	eventually(t, "armed away", func() bool { return alarmState(app) == "armed_away" })
	publish(t, c, "home/front_door", 1, `{"contact":false}`)
	eventually(t, "pending", func() bool { return alarmState(app) == "pending" })
	c.Disconnect(0)
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	// The entry delay runs out while the hub is down. The real clock, not
	// the fake one: the alarm then goes off on a timer of zero as the hub
	// starts, racing the engine's subscription as it does on a Pi; a fake
	// clock would fire it only when the test advances it, after Start.
	time.Sleep(entry)

	app, _ = startHubWith(t, siren, configure)
	eventually(t, "triggered", func() bool { return alarmState(app) == "triggered" })
	eventually(t, "the siren's command", func() bool {
		return len(events(t, app.HTTPAddr().String(), "topic=home/siren/set")) == 1
	})
	ev := events(t, app.HTTPAddr().String(), "topic=home/siren/set")[0]
	if ev.Cause.Run != "siren#1" {
		t.Fatalf("the siren's command was sent by %+v, want the siren automation's first run", ev.Cause)
	}
}
