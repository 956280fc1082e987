package automations

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConditionFormsDecideWhetherARunStarts(t *testing.T) {
	cases := []struct {
		name       string
		conditions string
		fires      bool
	}{
		{"an expression that holds", `["states.lux.illuminance < 30"]`, true},
		{"an expression that does not", `["states.lux.illuminance > 30"]`, false},
		{"every item of the list must hold", `["states.lux.illuminance < 30", "trigger.state.occupancy == false"]`, false},
		{"an or block holds when one item does", `[{or: ["states.lux.illuminance > 30", "trigger.device == 'motion'"]}]`, true},
		{"a not block holds when none does", `[{not: ["states.lux.illuminance > 30", "trigger.kind == 'mqtt'"]}]`, true},
		{"a not block fails when one does", `[{not: ["trigger.kind == 'device'"]}]`, false},
		{"blocks nest", `[{and: [{or: ["false", "true"]}, {not: "false"}]}]`, true},
		{"since tells how long ago a device changed", `['since("lux") > duration("9m") && since("lux") < duration("11m")']`, true},
		{"since of a device never seen is very long", `['since("attic") > duration("1000h")']`, true},
		{"a window within the day (20:10 is after 20:00 and before 21:00)", `[{after: "20:00", before: "21:00"}]`, true},
		{"a window outside it", `[{after: "06:00", before: "20:00"}]`, false},
		{"a window across midnight", `[{after: "19:00", before: "06:00"}]`, true},
		{"weekdays (25 November 2025 is a Tuesday)", `[{weekdays: [tue, wed]}]`, true},
		{"other weekdays", `[{weekdays: [saturday, sunday], after: "20:00"}]`, false},
		{"the between helper", `['between("20:05", "20:15") && !between("08:00", "09:00")']`, true},
		{"at compares with a time of day today", `["now > at('20:09') && now < at('20:11')"]`, true},
		{"this names the automation", `["this.id == 'c' && this.description == 'test'"]`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := liveStart(t, `
- id: c
  description: test
  triggers: [{device: motion, when: "occupancy == true"}]
  conditions: `+tc.conditions+`
  actions: [{publish: ran, payload: x}]
`, nil)
			l.state("lux", `{"illuminance":12}`)
			l.advance(10 * time.Minute)
			l.state("motion", `{"occupancy":true}`)
			if got := len(l.commands()) == 1; got != tc.fires {
				t.Errorf("fired %v, want %v; near misses %+v", got, tc.fires, l.e.stats["c"].nearMisses())
			}
		})
	}
}

func TestANearMissRecordsWhatWasFalseAndTheValuesItSaw(t *testing.T) {
	l := liveStart(t, `
- id: dark
  mode: single
  triggers: [{device: motion, when: "occupancy == true"}]
  conditions: ["states.lux.illuminance < 30"]
  actions: [{delay: 1m}]
`, nil)
	l.state("lux", `{"illuminance":80}`)
	l.state("motion", `{"occupancy":false}`) // the when is false
	l.state("motion", `{"occupancy":true}`)  // the condition is false
	l.state("lux", `{"illuminance":10}`)     //
	l.state("motion", `{"occupancy":false}`) //
	l.state("motion", `{"occupancy":true}`)  // runs
	l.state("motion", `{"occupancy":false}`) //
	l.state("motion", `{"occupancy":true}`)  // dropped: single, running
	misses, err := l.e.NearMisses(context.Background(), "dark")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range misses {
		got = append(got, m.Reason+": "+m.Text)
	}
	want(t, "near misses, newest first", got, []string{
		"dropped: trigger dropped: mode single and run dark#1 is going",
		"when: occupancy == true", // twice in a row: counted once, with Repeats
		"condition: states.lux.illuminance < 30",
		"when: occupancy == true",
	})
	if misses[1].Repeats != 1 {
		t.Errorf("the repeated miss: %+v", misses[1])
	}
	if v := misses[2].Values["states.lux.illuminance"]; v != 80.0 {
		t.Errorf("the condition's near miss saw %v, want 80 (values %v)", v, misses[2].Values)
	}
	if v := misses[3].Values["occupancy"]; v != false {
		t.Errorf("the when's near miss saw occupancy %v, want false", v)
	}
	info, _ := l.e.Get(context.Background(), "dark")
	if len(info.NearMisses) != 4 || info.NearMisses[0].Seq == 0 || info.NearMisses[0].Trigger != "device motion when occupancy == true" {
		t.Errorf("Get shows near misses %+v", info.NearMisses)
	}
}

func TestANearMissOfAnExpressionThatFailsShowsItsError(t *testing.T) {
	cases := []struct {
		name, trigger, conditions string
		send                      func(l *live)
	}{
		{"the when of a device trigger", `{device: thermo, when: "temperature > 25"}`, `[]`,
			func(l *live) { l.state("thermo", `{"temperature":"26.5"}`) }},
		{"the when of an mqtt trigger", `{mqtt: thermo, when: "payload.temperature > 25"}`, `[]`,
			func(l *live) { l.message("thermo", `{"temperature":"26.5"}`) }},
		{"a condition", `{device: thermo}`, `["trigger.state.temperature > 25"]`,
			func(l *live) { l.state("thermo", `{"temperature":"26.5"}`) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := liveStart(t, `
- id: hot
  triggers: [`+tc.trigger+`]
  conditions: `+tc.conditions+`
  actions: [{publish: hot, payload: x}]
`, nil)
			tc.send(l)
			misses, err := l.e.NearMisses(context.Background(), "hot")
			if err != nil {
				t.Fatal(err)
			}
			if len(misses) != 1 || misses[0].Values["error"] == nil || !strings.Contains(fmt.Sprint(misses[0].Values["error"]), "string > int") {
				t.Errorf("near misses %+v, want one whose error says string > int", misses)
			}
		})
	}
}

func TestANearMissTableKeepsTheNewest(t *testing.T) {
	l := liveStart(t, "- {id: n, triggers: [{mqtt: x, when: 'payload == 1'}], actions: [{publish: y, payload: z}]}\n", nil)
	for i := range nearMissesKept + 5 {
		l.message("x", fmt.Sprint(i+2))
	}
	l.message("x", "2")
	l.message("x", "2")
	m := l.e.stats["n"].nearMisses()
	if len(m) != nearMissesKept || m[0].Repeats != 1 || m[0].Values["payload"] != 2.0 || m[1].Values["payload"] != float64(nearMissesKept+6) {
		t.Errorf("kept %d near misses, want %d, the newest repeated once: %+v", len(m), nearMissesKept, m[:2])
	}
}

// lockedBuffer is a log's output that runs may write while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestSunriseAndSunsetFailWithoutALocation(t *testing.T) {
	const dusk = `
- id: dusk
  triggers: [{mqtt: go}]
  conditions: ["now > sunset()"]
  actions: [{publish: dusk, payload: "after {{ sunset() }}"}]
`
	t.Run("without a location the load warns, a condition with them does not hold and a run by hand fails", func(t *testing.T) {
		var logged lockedBuffer
		l := liveStart(t, dusk, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
		if !strings.Contains(logged.String(), `msg="sunrise() and sunset() fail: the hub's location (latitude, longitude) is not configured" component=automations automation=dusk`) {
			t.Errorf("the load did not warn:\n%s", logged.String())
		}
		l.message("go", "")
		want(t, "commands", l.commands(), nil)
		misses, _ := l.e.NearMisses(context.Background(), "dusk")
		if len(misses) != 1 || misses[0].Reason != "condition" || !strings.Contains(fmt.Sprint(misses[0].Values["error"]), "sunset(): the hub's location (latitude, longitude) is not configured") {
			t.Errorf("near misses %+v, want the condition's, failing for want of a location", misses)
		}
		if _, err := l.e.Run(context.Background(), "dusk"); err != nil {
			t.Fatal(err)
		}
		l.settle()
		if trs := l.traces("dusk"); len(trs) != 1 || trs[0].Outcome != "failed" || !strings.Contains(trs[0].Error, "sunset(): the hub's location") {
			t.Errorf("the run by hand's trace: %+v", trs)
		}
	})
	t.Run("with a location they give today's times", func(t *testing.T) {
		var logged lockedBuffer
		l := liveStart(t, dusk, func(o *Options) {
			o.Latitude, o.Longitude = 51.4769, 0
			o.Logger = slog.New(slog.NewTextHandler(&logged, nil))
		})
		l.message("go", "")
		_, set, _ := sunTimes(time.Date(2025, 11, 25, 12, 0, 0, 0, time.UTC), 51.4769, 0)
		want(t, "commands", l.commands(), []string{"20:00:00 dusk after " + set.Format("15:04:05") + " dusk#1"})
		if strings.Contains(logged.String(), "not configured") {
			t.Errorf("the load warned of a location it has:\n%s", logged.String())
		}
	})
}

func TestANearMissShowsADurationAsTemplatesWriteIt(t *testing.T) {
	l := liveStart(t, `
- id: quiet
  triggers: [{mqtt: go}]
  conditions: ['since("hall_motion") > duration("10m")']
  actions: [{publish: quiet, payload: x}]
- id: check
  triggers: [{mqtt: check}]
  actions:
    - if: 'since("hall_motion") > duration("10m")'
      then: [{publish: quiet, payload: x}]
`, nil)
	l.state("hall_motion", `{"occupancy":true}`)
	l.advance(65*time.Second + 710*time.Millisecond)
	l.message("go", "")
	l.message("go", "") // the same second: the same miss again
	l.message("check", "")
	misses, err := l.e.NearMisses(context.Background(), "quiet")
	if err != nil {
		t.Fatal(err)
	}
	if len(misses) != 1 || misses[0].Repeats != 1 {
		t.Fatalf("near misses %+v, want one, repeated", misses)
	}
	b, _ := json.Marshal(misses[0].Values)
	if string(b) != `{"since(\"hall_motion\")":"1m 6s"}` {
		t.Errorf("the near miss's values are %s", b)
	}
	trs := l.traces("check")
	if len(trs) != 1 {
		t.Fatalf("traces of check: %+v", trs)
	}
	for _, s := range trs[0].Steps {
		if s.Kind == "condition" {
			if got := s.Values[`since("hall_motion")`]; got != "1m 6s" {
				t.Errorf("the if's step shows since() as %#v", got)
			}
		}
	}
}
