package devices

import (
	"context"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"hearth"
)

// The codes of the tests; chosen so that they appear nowhere else in a log.
const (
	rightCode = "7391"
	wrongCode = "4826"
)

// testHash hashes code at bcrypt's lowest cost, to keep the tests quick.
func testHash(t *testing.T, code string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(code), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func dur(d time.Duration) *time.Duration { return &d }

// want checks attributes of a published alarm state; nil wants the
// attribute absent or null.
func want(t *testing.T, st map[string]any, attrs map[string]any) {
	t.Helper()
	for k, w := range attrs {
		if got := st[k]; got != w {
			t.Errorf("%s = %v, want %v (state %v)", k, got, w, st)
		}
	}
}

func at(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// auditLog reads every event published so far and checks that no payload
// and no log line holds one of the codes.
func auditLog(t *testing.T, g *hubRig, sub *hearth.Subscription) {
	t.Helper()
	last := g.bus.NextSeq() - 1
	buf := make([]hearth.Event, 64)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var redacted int
	for seen := uint64(0); seen < last; {
		evs, err := sub.Read(ctx, buf)
		if err != nil {
			t.Fatalf("audit: %v", err)
		}
		for _, e := range evs {
			seen = e.Seq
			for _, code := range []string{rightCode, wrongCode} {
				if strings.Contains(string(e.Payload), code) {
					t.Errorf("event %d (%s %s) holds a code: %s", e.Seq, e.Kind, e.Topic, e.Payload)
				}
			}
			if e.Topic == "home/alarm/set" && strings.Contains(string(e.Payload), `"code":"***"`) {
				redacted++
			}
		}
	}
	if redacted == 0 {
		t.Error("no logged command to the alarm shows its code as ***")
	}
	for _, code := range []string{rightCode, wrongCode} {
		if strings.Contains(g.logs.String(), code) {
			t.Errorf("the log holds a code:\n%s", g.logs.String())
		}
	}
}

func TestAlarmMotionWhileArmedAwayPassesPendingAndTriggered(t *testing.T) {
	g := newHubRig(t, Options{BaseTopic: "home"})
	audit := g.bus.Subscribe("audit", hearth.MayLag)
	exit, entry, trigger := 30*time.Second, 20*time.Second, time.Minute
	a := g.startAlarm(t, AlarmConfig{
		CodeHash: testHash(t, rightCode), ExitDelay: &exit, EntryDelay: &entry, TriggerTime: &trigger,
		Sensors: map[string][]string{AlarmArmedAway: {"hall_motion", "front_door"}, AlarmArmedNight: {"front_door"}},
	})
	g.awaitAlarm(t, AlarmDisarmed)
	motion := g.client(t, "hall_motion")
	publish(t, motion, "home/hall_motion", []byte(`{"occupancy":false}`), false)

	start := g.clock.Now()
	g.command(t, AlarmID, `{"action":"arm_away","code":"`+rightCode+`"}`, hearth.Cause{Source: "web"})
	st := g.awaitAlarm(t, AlarmArming)
	want(t, st, map[string]any{"target": AlarmArmedAway, "changed_by": "web", "code_ok": true, "until": at(start.Add(exit))})

	g.clock.Advance(exit - time.Second)
	if s := a.State(); s != AlarmArming {
		t.Fatalf("a second before the exit delay ends the alarm is %s", s)
	}
	g.clock.Advance(time.Second)
	st = g.awaitAlarm(t, AlarmArmedAway)
	want(t, st, map[string]any{"changed_by": "exit delay", "until": nil})

	// Motion, through real MQTT.
	publish(t, motion, "home/hall_motion", []byte(`{"occupancy":true}`), false)
	st = g.awaitAlarm(t, AlarmPending)
	armed := start.Add(exit)
	want(t, st, map[string]any{"sensor": "hall_motion", "changed_by": "sensor hall_motion", "target": AlarmArmedAway, "until": at(armed.Add(entry))})

	g.clock.Advance(entry - time.Second)
	if s := a.State(); s != AlarmPending {
		t.Fatalf("a second before the entry delay ends the alarm is %s", s)
	}
	g.clock.Advance(time.Second)
	st = g.awaitAlarm(t, AlarmTriggered)
	want(t, st, map[string]any{"sensor": "hall_motion", "changed_by": "entry delay", "until": at(armed.Add(entry + trigger))})

	g.clock.Advance(trigger)
	st = g.awaitAlarm(t, AlarmArmedAway)
	want(t, st, map[string]any{"changed_by": "trigger time", "sensor": nil, "until": nil})
	auditLog(t, g, audit)
}

func TestAlarmSensorsCountByArmedState(t *testing.T) {
	for _, tc := range []struct {
		name, arm, device, payload string
		want                       string
	}{
		{"a door opening while armed away is pending", "arm_away", "front_door", `{"contact":false}`, AlarmPending},
		{"an instant sensor triggers at once", "arm_away", "back_door", `{"contact":false}`, AlarmTriggered},
		{"motion does not count while armed at night", "arm_night", "hall_motion", `{"occupancy":true}`, AlarmArmedNight},
		{"a device that is no sensor does not count", "arm_away", "hall_light", `{"state":"ON"}`, AlarmArmedAway},
		{"a door closing does not count", "arm_away", "front_door", `{"contact":true}`, AlarmArmedAway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newHubRig(t, Options{BaseTopic: "home"})
			a := g.startAlarm(t, AlarmConfig{
				CodeHash: testHash(t, rightCode), ExitDelay: dur(0),
				Sensors: map[string][]string{
					AlarmArmedAway:  {"hall_motion", "front_door", "back_door"},
					AlarmArmedNight: {"front_door", "back_door"},
				},
				Instant: []string{"back_door"},
			})
			armed := "armed_" + strings.TrimPrefix(tc.arm, "arm_")
			ev := g.command(t, AlarmID, `{"action":"`+tc.arm+`"}`, hearth.Cause{Run: "arm#1", Source: "automation"})
			want(t, g.reply(t, AlarmID, ev.Seq), map[string]any{"state": armed, "changed_by": "automation arm#1", "code_ok": nil})

			dev := g.client(t, "")
			publish(t, dev, "home/"+tc.device, []byte(tc.payload), false)
			g.awaitEvent(t, "the sensor's message", func(e hearth.Event) bool { return e.Topic == "home/"+tc.device })
			// The alarm reads the bus in order: its answer to a command sent now
			// comes after it has read the message.
			ev = g.command(t, AlarmID, `{"action":"`+tc.arm+`"}`, hearth.Cause{Run: "arm#2", Source: "automation"})
			g.reply(t, AlarmID, ev.Seq)
			if s := a.State(); s != tc.want {
				t.Errorf("the alarm is %s, want %s", s, tc.want)
			}
		})
	}
}

func TestAlarmWrongCodesDoNotDisarmAndAreSlowed(t *testing.T) {
	g := newHubRig(t, Options{BaseTopic: "home"})
	audit := g.bus.Subscribe("audit", hearth.MayLag)
	a := g.startAlarm(t, AlarmConfig{
		CodeHash: testHash(t, rightCode), ExitDelay: dur(0), Lockout: 30 * time.Second,
		Sensors: map[string][]string{AlarmArmedAway: {"hall_motion"}},
	})
	web := hearth.Cause{Source: "web"}
	ev := g.command(t, AlarmID, `{"action":"arm_away","code":"`+rightCode+`"}`, web)
	want(t, g.reply(t, AlarmID, ev.Seq), map[string]any{"state": AlarmArmedAway, "code_ok": true})

	disarm := func(code string) map[string]any {
		t.Helper()
		ev := g.command(t, AlarmID, `{"action":"disarm","code":"`+code+`"}`, web)
		return g.reply(t, AlarmID, ev.Seq)
	}
	wrongTimes := func(from, to int, lockedUntil time.Time) {
		t.Helper()
		for i := from; i <= to; i++ {
			locked := any(nil)
			if i == to {
				locked = at(lockedUntil)
			}
			want(t, disarm(wrongCode), map[string]any{"state": AlarmArmedAway, "code_ok": false, "attempts": float64(i), "locked_until": locked})
		}
	}

	t.Run("three wrong codes lock codes out for the lockout", func(t *testing.T) {
		wrongTimes(1, 3, g.clock.Now().Add(30*time.Second))
	})
	t.Run("the right code is refused while locked out", func(t *testing.T) {
		g.clock.Advance(29 * time.Second)
		want(t, disarm(rightCode), map[string]any{"state": AlarmArmedAway, "code_ok": false, "attempts": 3.0})
	})
	t.Run("three more wrong codes lock them out twice as long", func(t *testing.T) {
		g.clock.Advance(time.Second)
		wrongTimes(4, 6, g.clock.Now().Add(time.Minute))
		g.clock.Advance(time.Minute - time.Second)
		want(t, disarm(rightCode), map[string]any{"state": AlarmArmedAway, "code_ok": false})
	})
	t.Run("the right code disarms once the lockout is over", func(t *testing.T) {
		g.clock.Advance(time.Second)
		want(t, disarm(rightCode), map[string]any{
			"state": AlarmDisarmed, "code_ok": true, "attempts": 0.0, "locked_until": nil, "changed_by": "web",
		})
		if s := a.State(); s != AlarmDisarmed {
			t.Errorf("state = %s", s)
		}
	})
	t.Run("a command without a code does not disarm", func(t *testing.T) {
		g.command(t, AlarmID, `{"action":"arm_away","code":"`+rightCode+`"}`, web)
		g.awaitAlarm(t, AlarmArmedAway)
		ev := g.command(t, AlarmID, `{"action":"disarm"}`, web)
		want(t, g.reply(t, AlarmID, ev.Seq), map[string]any{"state": AlarmArmedAway, "code_ok": false, "attempts": 0.0})
	})
	auditLog(t, g, audit)
}

func TestAlarmArmedOverMQTTIsPublishedRetained(t *testing.T) {
	g := newHubRig(t, Options{BaseTopic: "home"})
	audit := g.bus.Subscribe("audit", hearth.MayLag)
	g.startAlarm(t, AlarmConfig{
		Users:     []AlarmUser{{Name: "alice", CodeHash: testHash(t, rightCode)}, {Name: "bob", CodeHash: testHash(t, "5555")}},
		ExitDelay: dur(10 * time.Second),
		Sensors:   map[string][]string{AlarmArmedNight: {"front_door"}},
	})
	g.awaitAlarm(t, AlarmDisarmed)

	keypad := g.client(t, "keypad")
	publish(t, keypad, "home/alarm/set", []byte(`{"action":"ARM_NIGHT","code":"`+rightCode+`"}`), false)
	st := g.awaitAlarm(t, AlarmArming)
	want(t, st, map[string]any{"changed_by": "mqtt client keypad", "user": "alice", "target": AlarmArmedNight, "code_ok": true})
	g.clock.Advance(10 * time.Second)
	g.awaitAlarm(t, AlarmArmedNight)

	// A siren connecting now learns the state from the retained message.
	siren := g.client(t, "siren")
	got := make(chan paho.Message, 8)
	tok := siren.Subscribe("home/alarm", 1, func(_ paho.Client, m paho.Message) { got <- m })
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	select {
	case m := <-got:
		if !m.Retained() {
			t.Error("the alarm's state is not retained")
		}
		want(t, decodeState(t, m.Payload()), map[string]any{"state": AlarmArmedNight, "changed_by": "exit delay"})
	case <-time.After(10 * time.Second):
		t.Fatal("no retained state on home/alarm")
	}

	// A retained command is never obeyed, even with the right code.
	publish(t, keypad, "home/alarm/set", []byte(`{"action":"disarm","code":"`+rightCode+`"}`), true)
	g.awaitEvent(t, "the retained command", func(e hearth.Event) bool { return e.Topic == "home/alarm/set" && e.Retain })
	ev := g.command(t, AlarmID, `{"action":"arm_night"}`, hearth.Cause{Run: "night#1"})
	want(t, g.reply(t, AlarmID, ev.Seq), map[string]any{"state": AlarmArmedNight})
	auditLog(t, g, audit)
}

func TestAlarmKeepsItsStateAndDelayAcrossARestart(t *testing.T) {
	cfg := AlarmConfig{CodeHash: testHash(t, rightCode), ExitDelay: dur(time.Minute), Sensors: map[string][]string{AlarmArmedAway: {"hall_motion"}}}
	var states []hearth.DeviceState
	{
		g := newHubRig(t, Options{BaseTopic: "home"})
		a := g.startAlarm(t, cfg)
		g.command(t, AlarmID, `{"action":"arm_away"}`, hearth.Cause{Run: "leave#1"})
		g.awaitAlarm(t, AlarmArming)
		states = g.reg.Devices()
		a.Close() // the test's cleanup closes it again: Close is idempotent
	}
	g := newHubRig(t, Options{BaseTopic: "home"})
	g.reg.Restore(states)
	g.clock.Advance(20 * time.Second)
	a := g.startAlarm(t, cfg)
	if s := a.State(); s != AlarmArming {
		t.Fatalf("restored as %s, want arming", s)
	}
	g.clock.Advance(39 * time.Second)
	if s := a.State(); s != AlarmArming {
		t.Fatalf("%s before the restored exit delay ends", s)
	}
	g.clock.Advance(time.Second)
	g.awaitAlarm(t, AlarmArmedAway)
}

func TestAlarmCommandsAreCheckedByCommandFor(t *testing.T) {
	g := newHubRig(t, Options{BaseTopic: "home"})
	g.startAlarm(t, AlarmConfig{CodeHash: testHash(t, rightCode)})
	for _, tc := range []struct{ name, payload string }{
		{"an unknown action", `{"action":"arm_vacation"}`},
		{"no action", `{"code":"1"}`},
		{"an attribute the alarm does not take", `{"action":"disarm","code":"1","user":"x"}`},
		{"a code that is not text", `{"action":"disarm","code":[1]}`},
		{"a ref that is not text", `{"action":"disarm","ref":7}`},
		{"a ref too long", `{"action":"disarm","ref":"` + strings.Repeat("r", 65) + `"}`},
	} {
		t.Run(tc.name+" is a bad command", func(t *testing.T) {
			if _, err := g.reg.CommandFor(AlarmID, []byte(tc.payload)); err == nil || !strings.Contains(err.Error(), hearth.ErrBadCommand.Error()) {
				t.Errorf("err = %v, want a bad command", err)
			}
		})
	}
}

// pageNames is what a page's names would say: a name by device id.
type pageNames map[string]string

func (p pageNames) DeviceName(id string) string { return p[id] }

func TestAlarmStateNamesTheSensorThatTrippedIt(t *testing.T) {
	file, err := ParseFile("devices.yaml", []byte("- id: front_door\n  name: Front door\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		names  DeviceNames // nil: the registry's
		sensor string
		want   string
	}{
		{"the name given on the page", pageNames{"hall_motion": "Downstairs hall"}, "hall_motion", "Downstairs hall"},
		// As the page shows a device without a name.
		{"the id in words of a sensor with no name on the page", pageNames{"front_door": "Front door"}, "hall_motion", "Hall motion"},
		{"the devices file's name without page names", nil, "front_door", "Front door"},
		{"the id in words of a sensor the devices file does not name", nil, "hall_motion", "Hall motion"},
	} {
		t.Run("it says "+tc.name, func(t *testing.T) {
			g := newHubRig(t, Options{BaseTopic: "home", File: file})
			o := g.options()
			o.Names = tc.names
			a, err := NewAlarm(AlarmConfig{
				CodeHash: testHash(t, rightCode), ExitDelay: dur(0), EntryDelay: dur(10 * time.Second),
				Sensors: map[string][]string{AlarmArmedAway: {"hall_motion", "front_door"}},
			}, o)
			if err != nil {
				t.Fatal(err)
			}
			g.consume(t, "alarm", a.Consume, a.Close)
			g.command(t, AlarmID, `{"action":"arm_away"}`, hearth.Cause{Run: "arm#1", Source: "automation"})
			g.awaitAlarm(t, AlarmArmedAway)

			payload := map[string]string{"hall_motion": `{"occupancy":true}`, "front_door": `{"contact":false}`}[tc.sensor]
			publish(t, g.client(t, tc.sensor), "home/"+tc.sensor, []byte(payload), false)
			want(t, g.awaitAlarm(t, AlarmPending), map[string]any{"sensor": tc.sensor, "sensor_name": tc.want})
			// The entry delay's end keeps saying which sensor it was.
			g.clock.Advance(10 * time.Second)
			want(t, g.awaitAlarm(t, AlarmTriggered), map[string]any{"changed_by": "entry delay", "sensor": tc.sensor, "sensor_name": tc.want})
			// A disarm clears both.
			g.command(t, AlarmID, `{"action":"disarm"}`, hearth.Cause{Run: "disarm#1", Source: "automation"})
			want(t, g.awaitAlarm(t, AlarmDisarmed), map[string]any{"sensor": nil, "sensor_name": nil})
		})
	}
}

func TestHumanizeWritesAnIdAsThePageDoes(t *testing.T) {
	for id, want := range map[string]string{
		"hall_motion":  "Hall motion",
		"front-door.1": "Front door 1",
		"étage_motion": "Étage motion", // a letter of two bytes, not cut in half
		"__":           "__",
	} {
		if got := humanize(id); got != want {
			t.Errorf("humanize(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestAlarmAnswerSaysTheCommandsRefOnce(t *testing.T) {
	g := newHubRig(t, Options{BaseTopic: "home"})
	g.startAlarm(t, AlarmConfig{CodeHash: testHash(t, rightCode), ExitDelay: dur(5 * time.Second)})
	g.awaitAlarm(t, AlarmDisarmed)
	keypad := g.client(t, "keypad")

	// From another process the command is an MQTT message: no cause to
	// answer by, only the ref.
	publish(t, keypad, "home/alarm/set", []byte(`{"action":"arm_away","code":"`+rightCode+`","ref":"page-1"}`), false)
	want(t, g.awaitAlarm(t, AlarmArming), map[string]any{"ref": "page-1", "code_ok": true})
	publish(t, keypad, "home/alarm/set", []byte(`{"action":"disarm","code":"`+wrongCode+`","ref":"page-2"}`), false)
	want(t, g.awaitState(t, AlarmID, "the wrong code's answer", func(m map[string]any) bool { return m["code_ok"] == false }),
		map[string]any{"ref": "page-2", "state": AlarmArming})
	// The end of the exit delay answers no command.
	g.clock.Advance(5 * time.Second)
	want(t, g.awaitAlarm(t, AlarmArmedAway), map[string]any{"ref": nil})
}

func TestAlarmCodesStayOutOfTheLogWhereTheAlarmDoesNotRun(t *testing.T) {
	// The page's process with --role web: no alarm here, it runs in the
	// automations' process.
	g := newHubRig(t, Options{BaseTopic: "home"})
	publish(t, g.client(t, "keypad"), "home/alarm/set", []byte(`{"action":"disarm","code":"`+rightCode+`"}`), false)
	e := g.awaitEvent(t, "the command", func(e hearth.Event) bool { return e.Topic == "home/alarm/set" })
	if strings.Contains(string(e.Payload), rightCode) || !strings.Contains(string(e.Payload), `"code":"***"`) {
		t.Fatalf("logged %s", e.Payload)
	}
}

// TestACodeUnderAnotherCaseStaysOutOfTheLog: a keypad sending "Code" is
// refused by the alarm, and its code is kept out of the log all the same.
func TestACodeUnderAnotherCaseStaysOutOfTheLog(t *testing.T) {
	g := newHubRig(t, Options{BaseTopic: "home"})
	publish(t, g.client(t, "keypad"), "home/alarm/set", []byte(`{"action":"disarm","Code":"`+rightCode+`","CODE":7}`), false)
	e := g.awaitEvent(t, "the command", func(e hearth.Event) bool { return e.Topic == "home/alarm/set" })
	if strings.Contains(string(e.Payload), rightCode) || strings.Contains(string(e.Payload), "7") ||
		!strings.Contains(string(e.Payload), `"Code":"***"`) || !strings.Contains(string(e.Payload), `"CODE":"***"`) {
		t.Fatalf("logged %s", e.Payload)
	}
}
