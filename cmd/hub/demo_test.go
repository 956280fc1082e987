package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"hearth"
	"hearth/automations"
	"hearth/devices"
	"hearth/examples"
)

// stepUntil moves the fake clock a second at a time until cond holds, for
// a timer armed by a goroutine of the hub at a moment the test cannot
// see: armed late, it fires a step later, never early.
func stepUntil(t *testing.T, clock *automations.FakeClock, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s of stepping the clock", what)
		}
		clock.Advance(time.Second)
		time.Sleep(10 * time.Millisecond)
	}
}

// deviceState reads a device's state from the API.
func deviceState(t *testing.T, httpAddr, id string) map[string]any {
	t.Helper()
	var d hearth.DeviceState
	getJSON(t, fmt.Sprintf("http://%s/api/devices/%s", httpAddr, id), &d)
	return d.State
}

// putJSON puts body at url and checks that the answer is a 200.
func putJSON(t *testing.T, url, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s: status %d", url, resp.StatusCode)
	}
}

// alarmWhen waits until the alarm's state is state and returns it.
func alarmWhen(t *testing.T, httpAddr, state string) map[string]any {
	t.Helper()
	var st map[string]any
	eventually(t, "the alarm "+state, func() bool {
		st = deviceState(t, httpAddr, "alarm")
		return st["state"] == state
	})
	return st
}

// endDelay moves the fake clock past the end of the alarm's running delay
// (its until, said to the second), where the alarm's own timer fires.
func endDelay(t *testing.T, clock *automations.FakeClock, st map[string]any) {
	t.Helper()
	until, err := time.Parse(time.RFC3339, fmt.Sprint(st["until"]))
	if err != nil {
		t.Fatalf("the alarm's state %v has no until: %v", st, err)
	}
	clock.Advance(until.Add(time.Second).Sub(clock.Now()))
}

// TestTheDemoPlaysTheAlarmStory runs the demo house with its example
// automations on a fake clock: the family leaves, the alarm arms itself,
// someone walks into the hall (a simulated sensor), the alarm goes pending
// then triggered, the lights flash and the page is told; the family comes
// home and the alarm is disarmed.
func TestTheDemoPlaysTheAlarmStory(t *testing.T) {
	clock := automations.NewFakeClock(time.Now())
	app, _ := startHubWith(t, "", func(c *Config) { c.Demo = true; c.clock = clock })
	addr := app.HTTPAddr().String()
	waitOnline(t, addr, 7)

	// Each step of the story needs the one before.
	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	step("the demo runs both example files, the alarm story's automations among them", func(t *testing.T) {
		var list hearth.AutomationList
		getJSON(t, "http://"+addr+"/api/automations", &list)
		files := map[string]string{}
		for _, a := range list.Automations {
			files[a.ID] = a.File
		}
		for _, f := range []struct {
			name string
			yaml []byte
		}{{examples.DemoName, examples.Demo}, {examples.AlarmName, examples.Alarm}} {
			set, err := automations.LoadBytes(f.name, f.yaml)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range set.Automations() {
				if files[a.ID] != f.name {
					t.Errorf("automation %s of %s: loaded from %q", a.ID, f.name, files[a.ID])
				}
			}
		}
		if _, ok := files["alarm_triggered_flashes_and_notifies"]; !ok || len(files) != 12 {
			t.Fatalf("the demo runs %d automations: %v", len(files), files)
		}
	})

	step("the family leaves a few seconds after the start and the alarm arms itself", func(t *testing.T) {
		stepUntil(t, clock, "the house away", func() bool { return deviceState(t, addr, "house")["mode"] == "away" })
		st := alarmWhen(t, addr, "arming")
		if !strings.HasPrefix(fmt.Sprint(st["changed_by"]), "automation alarm_arms_when_house_away#") || st["target"] != "armed_away" {
			t.Fatalf("arming: %v", st)
		}
		endDelay(t, clock, st)
		if st := alarmWhen(t, addr, "armed_away"); st["changed_by"] != "exit delay" {
			t.Fatalf("armed: %v", st)
		}
	})

	// Names given on the page, which the alarm's notifications say.
	names := map[string]string{"hall_motion": "Hall ceiling sensor", "kitchen_motion": "Kitchen corner sensor", "front_door": "The front door"}
	var sensor string
	step("someone walks into the hall: pending, then triggered after the entry delay", func(t *testing.T) {
		for id, name := range names {
			putJSON(t, "http://"+addr+"/api/devices/"+id, fmt.Sprintf(`{"name":%q}`, name))
		}
		if err := app.house.Walk("hall_motion"); err != nil {
			t.Fatal(err)
		}
		st := alarmWhen(t, addr, "pending")
		// The simulated house may have sent someone in first.
		sensor = fmt.Sprint(st["sensor"])
		if names[sensor] == "" || st["sensor_name"] != names[sensor] {
			t.Fatalf("pending: %v, want a sensor of the alarm with its name", st)
		}
		endDelay(t, clock, st)
		if st := alarmWhen(t, addr, "triggered"); st["changed_by"] != "entry delay" {
			t.Fatalf("triggered: %v", st)
		}
	})

	step("the page is told, urgently, by the automations", func(t *testing.T) {
		type note struct {
			Title, Message, Priority, Automation string
			Channels                             []string
		}
		// The simulated front door may have notified meanwhile too.
		byTitle := map[string]note{}
		eventually(t, "the alarm's notifications", func() bool {
			var body struct{ Notifications []note }
			getJSON(t, "http://"+addr+"/api/notifications", &body)
			for _, n := range body.Notifications {
				byTitle[n.Title] = n
			}
			_, pending := byTitle["Someone came in"]
			_, triggered := byTitle["Alarm"]
			return pending && triggered
		})
		if n := byTitle["Alarm"]; n.Priority != "urgent" || n.Automation != "alarm_triggered_flashes_and_notifies" || !slices.Contains(n.Channels, "page") {
			t.Fatalf("%+v", n)
		}
		if n := byTitle["Someone came in"]; n.Priority != "high" || n.Automation != "alarm_pending_warns" {
			t.Fatalf("%+v", n)
		}
		for _, title := range []string{"Someone came in", "Alarm"} {
			if m := byTitle[title].Message; !strings.Contains(m, names[sensor]) || strings.Contains(m, sensor) {
				t.Errorf("%s: %q, want the sensor's name %q, not its id %s", title, m, names[sensor], sensor)
			}
		}
	})

	step("the lights flash: the hall light on at full brightness, off, and on again", func(t *testing.T) {
		// The flashing run waits a second between each, on the clock.
		stepUntil(t, clock, "the flashing run's commands", func() bool {
			var on, off int
			for _, c := range events(t, addr, "kind=command&device=hall_light&limit=50") {
				if !strings.HasPrefix(c.Cause.Run, "alarm_triggered_flashes_and_notifies#") {
					continue
				}
				var p map[string]any
				_ = json.Unmarshal(c.Payload, &p)
				if p["state"] == "ON" && p["brightness"] == 254.0 {
					on++
				} else if p["state"] == "OFF" {
					off++
				}
			}
			return on >= 2 && off >= 1
		})
		// The simulated light obeyed: only the flashing sets 254 in the demo.
		eventually(t, "the simulated hall light at full brightness", func() bool {
			for _, e := range events(t, addr, "kind=state&device=hall_light&limit=50") {
				var p map[string]any
				_ = json.Unmarshal(e.Payload, &p)
				if p["state"] == "ON" && p["brightness"] == 254.0 {
					return true
				}
			}
			return false
		})
	})

	step("a minute later the family comes home and the alarm is disarmed", func(t *testing.T) {
		stepUntil(t, clock, "the house home", func() bool { return deviceState(t, addr, "house")["mode"] == "home" })
		st := alarmWhen(t, addr, "disarmed")
		if !strings.HasPrefix(fmt.Sprint(st["changed_by"]), "automation alarm_disarms_when_house_home#") {
			t.Fatalf("disarmed: %v", st)
		}
	})
}

func TestTheDemoSaysWhoseAutomationsRun(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	cases := []struct {
		name string
		cfg  Config
		says []string
		not  string
	}{
		{"the demo alone tells the alarm's story", Config{Demo: true},
			[]string{"open http://localhost:8080", "the family leaves in a few seconds"}, "yours"},
		{"with automations of one's own, no story is promised", Config{Demo: true, Automations: "mine.yaml"},
			[]string{"the automations are yours, from mine.yaml", "does not arm by itself", "code " + demoCode}, "family leaves"},
		{"with an alarm of one's own too, no demo code", Config{Demo: true, Automations: "mine.yaml", Alarm: &devices.AlarmConfig{}},
			[]string{"the automations are yours, from mine.yaml"}, demoCode},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			printDemo(&out, tc.cfg, addr)
			for _, s := range tc.says {
				if !strings.Contains(out.String(), s) {
					t.Errorf("printed %q, want it to say %q", out.String(), s)
				}
			}
			if strings.Contains(out.String(), tc.not) {
				t.Errorf("printed %q, which should not say %q", out.String(), tc.not)
			}
		})
	}
}
