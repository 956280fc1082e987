package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"hearth/automations"
)

const buttonYAML = `
- id: button_light
  triggers: [{mqtt: home/button, when: payload.action == "single"}]
  actions: [{set: lamp, state: {state: "ON", brightness: %s}}]
`

func buttonAutomation(brightness string) string {
	return strings.Replace(buttonYAML, "%s", brightness, 1)
}

// replaceFile writes a file the way editors do: a temporary file renamed
// over the old one.
func replaceFile(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestEditingTheAutomationsFileReloadsThem(t *testing.T) {
	app, cfg := startHub(t, buttonAutomation("100"))
	addr := app.MQTTAddr().String()
	lamp := connect(t, addr, "lamp")
	commands := subscribe(t, lamp, "home/lamp/set")
	button := connect(t, addr, "button")

	press := func() map[string]any {
		publish(t, button, "home/button", 1, `{"action":"single"}`)
		return receive(t, commands)
	}
	if got := press(); got["brightness"] != 100.0 {
		t.Fatalf("before the edit: %v", got)
	}

	t.Run("a good edit takes effect without a restart", func(t *testing.T) {
		replaceFile(t, cfg.Automations, buttonAutomation("50"))
		eventually(t, "the edited automation running", func() bool {
			return press()["brightness"] == 50.0
		})
	})
	t.Run("an edit with a mistake keeps the running automations and shows the problem", func(t *testing.T) {
		replaceFile(t, cfg.Automations, buttonAutomation("50")+"  colour: red\n")
		eventually(t, "the problem shown in the automation list", func() bool {
			var list struct {
				Problems []struct{ Line int }
			}
			getJSON(t, "http://"+app.HTTPAddr().String()+"/api/automations", &list)
			return len(list.Problems) == 1 && list.Problems[0].Line == 5
		})
		if got := press(); got["brightness"] != 50.0 {
			t.Fatalf("after a bad edit: %v, want the previous automation still running", got)
		}
	})
}

func TestSIGHUPReloadsTheAutomations(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "automations.yaml")
	if err := os.WriteFile(file, []byte(buttonAutomation("100")), 0o600); err != nil {
		t.Fatal(err)
	}
	hub := startHubProcess(t, filepath.Join(dir, "data"), "--automations", file)
	if err := hub.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reload logged", func() bool {
		return strings.Contains(hub.stderr.String(), `msg="automations reloaded" by=SIGHUP`)
	})
	if strings.Contains(hub.stderr.String(), "shutting down") {
		t.Fatal("SIGHUP stopped the hub")
	}
}

func TestADelayOutlivesAKill9(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "automations.yaml")
	const yaml = `
- id: hall_light_on_motion
  triggers: [{device: hall_motion, when: occupancy == true}]
  actions:
    - set: hall_light
      state: {state: "ON"}
    - delay: 3s
    - set: hall_light
      state: {state: "OFF"}
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	hub := startHubProcess(t, data, "--automations", file)
	light := connect(t, hub.mqttAddr, "hall_light")
	commands := subscribe(t, light, "home/hall_light/set")
	sensor := connect(t, hub.mqttAddr, "hall_motion")
	publish(t, sensor, "home/hall_motion", 1, `{"occupancy":true}`)
	if got := receive(t, commands); got["state"] != "ON" {
		t.Fatalf("first command %v", got)
	}
	armed := time.Now()
	// The delay's timer is stored a moment after the run starts.
	time.Sleep(500 * time.Millisecond)
	if err := hub.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = hub.cmd.Wait()
	light.Disconnect(0)
	sensor.Disconnect(0)

	hub = startHubProcess(t, data, "--automations", file)
	light = connect(t, hub.mqttAddr, "hall_light_again")
	commands = subscribe(t, light, "home/hall_light/set")
	got := receive(t, commands)
	if got["state"] != "OFF" {
		t.Fatalf("after the restart: %v, want the OFF of the interrupted delay", got)
	}
	// The delay started just before the ON reached the test; allow for that.
	if early := time.Since(armed); early < 2500*time.Millisecond {
		t.Fatalf("OFF came %v after ON, well before the 3s delay was up", early)
	}
}

// motionInTheLog runs the hall's motion light on a hub once, a motion with
// the light low: ON, then OFF after the delay. It returns the stopped hub's
// config, whose log holds it.
func motionInTheLog(t *testing.T) Config {
	t.Helper()
	app, cfg := startHub(t, motionLightYAML)
	addr := app.MQTTAddr().String()
	light := connect(t, addr, "hall_light")
	commands := subscribe(t, light, "home/hall_light/set")
	sensor := connect(t, addr, "hall_motion")
	publish(t, sensor, "home/hall_lux", 1, `{"illuminance":12}`)
	publish(t, sensor, "home/hall_motion", 1, `{"occupancy":true}`)
	receive(t, commands)
	receive(t, commands) // ON, then OFF after the delay
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestWhatIfReplaysTheLogWithoutPublishing(t *testing.T) {
	cfg := motionInTheLog(t)

	// A changed automation: brighter, and only at dusk (the lux is 12).
	changed := filepath.Join(t.TempDir(), "changed.yaml")
	body := strings.Replace(motionLightYAML, "brightness: 200", "brightness: 254", 1)
	if err := os.WriteFile(changed, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"automations", "test", changed, "--since", "1h", "--data", cfg.DataDir, "--json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var res automations.WhatIfResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("output is not the JSON result: %v\n%s", err, stdout.String())
	}
	if len(res.Commands) != 2 {
		t.Fatalf("what-if planned %d commands, want ON and OFF: %+v", len(res.Commands), res.Commands)
	}
	var on map[string]any
	_ = json.Unmarshal(res.Commands[0].Payload, &on)
	if on["brightness"] != 254.0 || res.Commands[1].Topic != "home/hall_light/set" {
		t.Fatalf("planned %+v", res.Commands)
	}
	if gap := res.Commands[1].Time.Sub(res.Commands[0].Time); gap != 200*time.Millisecond {
		t.Fatalf("OFF planned %v after ON, want the 200ms delay on the virtual clock", gap)
	}

	t.Run("days read as the retention's do, and a mistyped folder says so without making a log", func(t *testing.T) {
		var out, errs bytes.Buffer
		if code := run([]string{"automations", "test", changed, "--since", "2d", "--data", cfg.DataDir}, &out, &errs); code != 0 || !strings.Contains(out.String(), "2 commands") {
			t.Fatalf("--since 2d: exit %d: %s%s", code, out.String(), errs.String())
		}
		typo := filepath.Join(t.TempDir(), "dta")
		errs.Reset()
		if code := run([]string{"automations", "test", changed, "--data", typo}, &out, &errs); code != 1 || !strings.Contains(errs.String(), "no log in "+typo) {
			t.Fatalf("a folder with no log: exit %d: %s", code, errs.String())
		}
		if _, err := os.Stat(filepath.Join(typo, "hearth.db")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a log was made in the mistyped folder: %v", err)
		}
		errs.Reset()
		if code := run([]string{"automations", "test", changed, "--since", "0", "--data", cfg.DataDir}, &out, &errs); code != 2 || !strings.Contains(errs.String(), "-since 0: want") {
			t.Fatalf("--since 0: exit %d: %s", code, errs.String())
		}
	})
	t.Run("the text output names the commands", func(t *testing.T) {
		var out bytes.Buffer
		if code := run([]string{"automations", "test", changed, "--data", cfg.DataDir}, &out, &stderr); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		if !strings.Contains(out.String(), "hall_light_on_motion#") || !strings.Contains(out.String(), "2 commands from 1 automation.") {
			t.Fatalf("output:\n%s", out.String())
		}
	})
}

func TestWhatIfTextShowsFailedAndStoppedRunsLogLinesNotificationsAndWarnings(t *testing.T) {
	cfg := motionInTheLog(t)

	file := filepath.Join(t.TempDir(), "what.yaml")
	const body = `
- id: fails
  triggers: [{device: hall_motion, when: occupancy == true}]
  actions:
    - publish: hall/brightness
      payload: "{{ trigger.state.illuminance < 10 ? 80 : 200 }}"
- id: talks
  triggers: [{device: hall_motion, when: occupancy == true}]
  actions:
    - log: "motion in {{ trigger.device }}"
    - notify: {title: Hall, message: motion seen}
    - stop: enough for now
- id: typo
  triggers: [{device: hall_motion, when: occupancy == ture}]
  actions: [{publish: hall/typo, payload: "ON"}]
`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	if code := run([]string{"automations", "test", file, "--data", cfg.DataDir}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	text := out.String()
	for _, want := range []string{
		"warning: " + file + `:14:42: automation typo: when "occupancy == ture" reads "ture", which hall_motion has not reported: did you mean true?`,
		"0 commands from 0 automations.",
		"2 runs traced: 1 failed, 1 stopped.",
		"fails#1                      failed: template \"{{ trigger.state.illuminance < 10 ? 80 : 200 }}\": invalid operation: <nil> < int",
		"talks#1                      log: motion in hall_motion",
		"talks#1                      notify: Hall: motion seen",
		"talks#1                      stopped: stop: enough for now",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the output does not say\n  %s\noutput:\n%s", want, text)
		}
	}

	t.Run("the JSON has the warnings too", func(t *testing.T) {
		var out bytes.Buffer
		if code := run([]string{"automations", "test", file, "--data", cfg.DataDir, "--json"}, &out, &errs); code != 0 {
			t.Fatalf("exit %d: %s", code, errs.String())
		}
		var rep struct {
			Traces   []json.RawMessage `json:"traces"`
			Warnings []struct {
				Automation string `json:"automation"`
				Line       int    `json:"line"`
			} `json:"warnings"`
		}
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Traces) != 2 || len(rep.Warnings) != 1 || rep.Warnings[0].Automation != "typo" || rep.Warnings[0].Line != 14 {
			t.Errorf("JSON: %s", out.String())
		}
	})
}

func TestRunNumbersGoOnAfterTheHubRestarts(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for life, want := range []string{"button_light#1", "button_light#2"} {
		app, _ := startHubWith(t, buttonAutomation("100"), func(c *Config) { c.DataDir = data })
		run, err := app.engine.Run(context.Background(), "button_light")
		if err != nil {
			t.Fatal(err)
		}
		if run != want {
			t.Fatalf("start %d: the run is %s, want %s", life+1, run, want)
		}
		if err := app.Close(); err != nil { // logs the run's trace
			t.Fatal(err)
		}
	}
}

// TestWhatIfPlansDeviceCommandsAsTheHubSendsThem: a Zigbee2MQTT lock, and
// two automations that set it, one with a value the lock cannot take.
// What-if plans the good command on Zigbee2MQTT's topic and fails the
// other run, as the live hub does; it used to plan both on home/<id>/set.
func TestWhatIfPlansDeviceCommandsAsTheHubSendsThem(t *testing.T) {
	const file = `
- id: lock_up
  triggers: [{mqtt: night}]
  actions: [{set: front_door_lock, state: {state: LOCK}}]
- id: lock_wrong
  triggers: [{mqtt: night}]
  actions: [{set: front_door_lock, state: {state: LOCKED}}]
`
	app, cfg := startHub(t, "")
	z2m := connect(t, app.MQTTAddr().String(), "zigbee2mqtt")
	publish(t, z2m, "zigbee2mqtt/bridge/devices", 1, `[{"friendly_name":"front_door_lock","type":"EndDevice","definition":{"model":"YRD256","vendor":"Yale",
		"exposes":[{"type":"lock","features":[{"type":"binary","property":"state","access":7,"value_on":"LOCK","value_off":"UNLOCK"}]}]}}]`)
	publish(t, z2m, "zigbee2mqtt/front_door_lock", 1, `{"state":"UNLOCK"}`)
	publish(t, z2m, "night", 1, "now")
	eventually(t, "the night message in the log", func() bool { return len(events(t, app.HTTPAddr().String(), "topic=night")) == 1 })
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(t.TempDir(), "locks.yaml")
	if err := os.WriteFile(changed, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"automations", "test", changed, "--since", "1h", "--data", cfg.DataDir, "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var res automations.WhatIfResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	var sent map[string]any
	if len(res.Commands) == 1 {
		_ = json.Unmarshal(res.Commands[0].Payload, &sent)
	}
	if len(res.Commands) != 1 || res.Commands[0].Topic != "zigbee2mqtt/front_door_lock/set" || sent["state"] != "LOCK" {
		t.Fatalf("planned %+v, want the one LOCK on Zigbee2MQTT's topic", res.Commands)
	}
	failed := false
	for _, tr := range res.Traces {
		if tr.Automation == "lock_wrong" && tr.Outcome == "failed" && strings.Contains(tr.Error, `state must be "LOCK" or "UNLOCK"`) {
			failed = true
		}
	}
	if !failed {
		t.Fatalf("the run with LOCKED did not fail as the hub's would: %+v", res.Traces)
	}
}
