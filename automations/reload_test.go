package automations

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hearth"
)

func TestAReloadKeepsUnchangedAutomationsRunningAndCancelsChangedOnes(t *testing.T) {
	const keep = `
- id: keep    # its delay and window survive the reload
  triggers: [{device: motion, when: "occupancy == true"}]
  actions:
    - publish: keep
      payload: "on"
    - delay: 5m
    - publish: keep
      payload: "off"
- id: window
  triggers: [{device: door, when: "contact == false", for: 10m}]
  actions: [{publish: window, payload: fired}]
`
	const change = `
- id: change
  triggers: [{device: motion, when: "occupancy == true"}]
  actions:
    - delay: 5m
    - publish: change
      payload: "old"
- id: gone
  triggers: [{device: motion, when: "occupancy == true"}]
  actions:
    - delay: 5m
    - publish: gone
      payload: "old"
`
	dir := t.TempDir()
	path := writeFile(t, dir, "automations.yaml", keep+change)
	l := liveStart(t, "", nil)
	if _, err := l.e.Reload(path); err != nil {
		t.Fatal(err)
	}
	l.state("door", `{"contact":false}`)
	l.state("motion", `{"occupancy":true}`)
	l.advance(2 * time.Minute)

	// The same automations with other comments and layout, one changed,
	// one removed, one added.
	edited := strings.ReplaceAll(keep, "# its delay and window survive the reload", "# reformatted") + `
- id: change
  triggers: [{device: motion, when: "occupancy == true"}]
  actions:
    - delay: 5m
    - publish: change
      payload: "new"
- id: added
  triggers: [{device: motion}]
  actions: [{publish: added, payload: x}]
`
	writeFile(t, dir, "automations.yaml", edited)
	ch, err := l.e.Reload(path)
	if err != nil {
		t.Fatal(err)
	}
	if ch.String() != "added added; changed change; removed gone" || strings.Join(ch.Unchanged, ",") != "keep,window" {
		t.Errorf("changes: %s; unchanged %v", ch, ch.Unchanged)
	}
	l.advance(20 * time.Minute)
	want(t, "commands", l.commands(), []string{"20:00:00 keep on keep#1", "20:05:00 keep off keep#1", "20:10:00 window fired window#1"})
	trs := l.traces("change")
	if len(trs) != 1 || trs[0].Outcome != "cancelled" || trs[0].Error != "changed by a reload" {
		t.Errorf("the changed automation's run: %+v", trs)
	}
}

func TestAReloadWithAnErrorKeepsTheOldSet(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "a.yaml", lightOnMotion)
	l := liveStart(t, "", nil)
	if _, err := l.e.Reload(path); err != nil {
		t.Fatal(err)
	}
	l.state("motion", `{"occupancy":true}`)
	writeFile(t, dir, "a.yaml", lightOnMotion+"- id: broken\n  triggers: [{device: x, when: 'a >'}]\n  actions: [{delay: soon}]\n")
	_, err := l.e.Reload(path)
	var le *LoadError
	if !errors.As(err, &le) || len(le.Problems) != 2 {
		t.Fatalf("reload of a bad file: %v", err)
	}
	list, _ := l.e.List(context.Background())
	if len(list.Automations) != 1 || list.Automations[0].ID != "light" || len(list.Problems) != 2 ||
		list.Problems[0].Automation != "broken" || list.Problems[0].File != filepath.Join(dir, "a.yaml") || list.Problems[0].Line != 12 {
		t.Errorf("list after a bad reload: %+v", list)
	}
	l.advance(5 * time.Minute)
	want(t, "commands: the old set kept running, its delay too", l.commands(), []string{
		`20:00:00 home/hall_light/set {"state":"ON"} light#1`, `20:05:00 home/hall_light/set {"state":"OFF"} light#1`,
	})
	writeFile(t, dir, "a.yaml", lightOnMotion)
	if _, err := l.e.Reload(path); err != nil {
		t.Fatal(err)
	}
	if list, _ := l.e.List(context.Background()); len(list.Problems) != 0 {
		t.Errorf("problems after a good reload: %+v", list.Problems)
	}
}

func TestLoadWarnsOfDevicesNotSeenYet(t *testing.T) {
	l := liveStart(t, "", func(o *Options) {
		o.Devices = devices{"hall_motion": {ID: "hall_motion"}, "hall_light": {ID: "hall_light"}}
	})
	l.state("lux", `{"illuminance":3}`) // seen by the engine
	set, err := l.e.LoadBytes("a.yaml", []byte(`
- scene: s
  states: {hall_lite: {state: "ON"}}
- id: typos
  triggers: [{device: hall_motoin}]
  conditions: ['states.lux.illuminance < 3 && states.hal_lux.illuminance < 3 && since("hall_montion") > duration("1m")']
  actions:
    - set: hall_light
      state: {state: "ON"}
    - set: hall_lihgt
      state: {state: "ON"}
`))
	if err != nil {
		t.Fatal(err)
	}
	want(t, "warnings", problemLines(set.Warnings()), []string{
		`a.yaml:3:12: automation scene s: device "hall_lite" has not been seen yet (a typo, or a device that has not spoken since the hub started logging?)`,
		`a.yaml:5:23: automation typos: device "hall_motoin" has not been seen yet (a typo, or a device that has not spoken since the hub started logging?)`,
		`a.yaml:6:16: automation typos: device "hall_montion" has not been seen yet (a typo, or a device that has not spoken since the hub started logging?)`,
		`a.yaml:6:16: automation typos: device "hal_lux" has not been seen yet (a typo, or a device that has not spoken since the hub started logging?)`,
		`a.yaml:10:12: automation typos: device "hall_lihgt" has not been seen yet (a typo, or a device that has not spoken since the hub started logging?)`,
	})
	l.e.Replace(set)
	if list, _ := l.e.List(context.Background()); len(list.Warnings) != 5 {
		t.Errorf("List shows %d warnings, want 5", len(list.Warnings))
	}
}

// infos describe devices' attributes, as Zigbee2MQTT's exposes do.
type infos map[string]hearth.DeviceInfo

func (d infos) Info(id string) (hearth.DeviceInfo, bool) {
	in, ok := d[id]
	return in, ok
}

func TestLoadWarnsOfLikelyTyposOfAttributes(t *testing.T) {
	l := liveStart(t, "", func(o *Options) {
		o.Devices = devices{
			"front_door": {ID: "front_door", State: map[string]any{"contact": true, "battery": 90.0}},
			"hall_light": {ID: "hall_light", State: map[string]any{"state": "OFF"}}, // off: no brightness yet
			"remote":     {ID: "remote", State: map[string]any{"battery": 90.0, "linkquality": 80.0}},
		}
		o.Infos = infos{"remote": {Capabilities: []hearth.Capability{{Attr: "action", Type: "enum"}}}}
	})
	l.state("hall_lux", `{"illuminance":3}`) // seen by the engine only
	set, err := l.e.LoadBytes("a.yaml", []byte(`
- id: typos
  triggers:
    - device: front_door
      when: contact == fals
    - device: remote
      when: actoin == "single"
  conditions: ['states.hall_lux.illuminanse < 30 && states.hall_lux.illuminanse < 30']
  actions: [{set: hall_light, state: {state: "ON"}}]
- id: fine
  triggers:
    - device: front_door
      when: 'let open = !contact; open && prev.contact == true && battery > 10 && since("front_door") > duration("1s")'
    - device: remote
      when: action == "single"
  conditions: ['states.hall_light.brightness > 3 && states["hall_lux"].illuminance < 10']
  actions: [{set: hall_light, state: {state: "ON"}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	want(t, "warnings", problemLines(set.Warnings()), []string{
		`a.yaml:5:13: automation typos: when "contact == fals" reads "fals", which front_door has not reported: did you mean false?`,
		`a.yaml:7:13: automation typos: when "actoin == \"single\"" reads "actoin", which remote has not reported: did you mean "action"?`,
		`a.yaml:8:16: automation typos: a condition "states.hall_lux.illuminanse < 30 && states.hall_lux.illuminanse < 30" reads "illuminanse", which hall_lux has not reported: did you mean "illuminance"?`,
	})
}

func TestClosestNamesALikelyTypo(t *testing.T) {
	attrs := []string{"contact", "battery", "brightness", "illuminance", "temperature"}
	for name, meant := range map[string]string{
		"fals": "false", "ture": "true", "contat": "contact", "Contact": "contact", "brigthness": "brightness",
		"temprature": "temperature", "illuminanse": "illuminance", "batery": "battery",
		"action": "", "state": "", "humidity": "", "x": "", "occupancy": "",
	} {
		if got := closest(name, attrs); got != meant {
			t.Errorf("closest(%q) = %q, want %q", name, got, meant)
		}
	}
}

// problemLines are problems as the log writes them.
func problemLines(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func TestAReloadKeepsTheDueTimeOfSchedulesItDoesNotChange(t *testing.T) {
	const every = `
- id: every
  triggers: [{cron: "@every 20s"}]
  actions: [{publish: tick, payload: x}]
`
	const other = `
- id: other
  triggers: [{mqtt: go}]
  actions: [{publish: other, payload: x}]
`
	cases := []struct {
		name   string
		reload string // loaded 15s in
		want   []string
	}{
		{"a reload that changes nothing keeps the next firing", every + other,
			[]string{"20:00:20 tick x every#1", "20:00:40 tick x every#2"}},
		{"a reload that changes another automation keeps the next firing", every + strings.ReplaceAll(other, "payload: x", "payload: y"),
			[]string{"20:00:20 tick x every#1", "20:00:40 tick x every#2"}},
		{"a reload that changes the schedule's automation starts it afresh", strings.ReplaceAll(every, "payload: x", "payload: y") + other,
			[]string{"20:00:35 tick y every#1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := liveStart(t, every+other, nil)
			l.advance(15 * time.Second)
			set, err := l.e.LoadBytes("automations.yaml", []byte(tc.reload))
			if err != nil {
				t.Fatal(err)
			}
			l.e.Replace(set)
			l.advance(30 * time.Second)
			want(t, "commands", l.commands(), tc.want)
		})
	}
}
