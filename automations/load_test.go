package automations

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// designExample is the automation of DESIGN.md, word for word.
const designExample = `- id: hall_light_on_motion          # required, unique
  description: Hall light on motion after dark
  mode: restart                     # single | restart | queued | parallel
  triggers:                         # any one fires the automation
    - device: hall_motion           # on a state change of this device
      when: occupancy == true       # expr over the new state; prev holds the old
    - mqtt: home/+/button           # on any message matching the filter
      when: payload.action == "single"
  conditions:                       # all must hold; expr
    - states.hall_lux.illuminance < 30
  actions:
    - set: hall_light               # publishes to home/hall_light/set
      state: {state: "ON", brightness: 200}
    - delay: 5m
    - set: hall_light
      state: {state: "OFF"}
`

func TestLoadReadsTheDesignExample(t *testing.T) {
	set := load(t, designExample)
	if set.Len() != 1 {
		t.Fatalf("loaded %d automations, want 1", set.Len())
	}
	a := set.Automations()[0]
	if a.ID != "hall_light_on_motion" || a.Description != "Hall light on motion after dark" || a.Mode != ModeRestart {
		t.Errorf("got id %q, description %q, mode %q", a.ID, a.Description, a.Mode)
	}
	if a.Line != 1 || a.Column != 3 || !strings.HasSuffix(a.File, "automations.yaml") {
		t.Errorf("defined at %s:%d:%d, want automations.yaml:1:3", a.File, a.Line, a.Column)
	}
	if len(a.triggers) != 2 || len(a.conditions) != 1 || len(a.actions) != 3 {
		t.Fatalf("got %d triggers, %d conditions, %d actions; want 2, 1, 3", len(a.triggers), len(a.conditions), len(a.actions))
	}
	if got := set.index.devices["hall_motion"]; len(got) != 1 || got[0].when.src != "occupancy == true" {
		t.Errorf("device index for hall_motion: %v", got)
	}
	if got := set.index.topics.match("home/kitchen/button", nil); len(got) != 1 || got[0].filter != "home/+/button" {
		t.Errorf("topic index for home/kitchen/button: %v", got)
	}
	on, ok := a.actions[0].(*setAction)
	if !ok || on.device != "hall_light" || string(on.payload.static) != `{"brightness":200,"state":"ON"}` {
		t.Errorf("first action: %#v", a.actions[0])
	}
	if d, ok := a.actions[1].(*delayAction); !ok || d.d != 5*time.Minute {
		t.Errorf("second action: %#v", a.actions[1])
	}
	if off, ok := a.actions[2].(*setAction); !ok || string(off.payload.static) != `{"state":"OFF"}` {
		t.Errorf("third action: %#v", a.actions[2])
	}
}

func TestLoadReadsEveryKindOfTriggerAndAction(t *testing.T) {
	set := load(t, `
- id: everything
  mode: queued
  max: 3
  triggers:
    - device: door
    - mqtt: "zigbee2mqtt/#"
  actions:
    - publish: zigbee2mqtt/bell/set
      payload: {ring: true}
      qos: 1
      retain: true
    - publish: home/hall_light/set
      payload: '{"state":"ON"}'
    - delay: 1h30m
- id: defaults
  mode: parallel
  triggers: [{device: door}]
  actions: [{delay: 30s}]
`)
	a, ok := set.Lookup("everything")
	if !ok || a.Mode != ModeQueued || a.Max != 3 {
		t.Fatalf("everything: %+v", a)
	}
	bell := a.actions[0].(*publishAction)
	if bell.topic != "zigbee2mqtt/bell/set" || string(bell.payload.static) != `{"ring":true}` || bell.qos != 1 || !bell.retain {
		t.Errorf("publish with a map payload: %+v", bell)
	}
	raw := a.actions[1].(*publishAction)
	if string(raw.payload.static) != `{"state":"ON"}` || raw.qos != 0 || raw.retain {
		t.Errorf("publish with a string payload: %+v", raw)
	}
	if d := a.actions[2].(*delayAction).d; d != 90*time.Minute {
		t.Errorf("delay 1h30m read as %v", d)
	}
	if d, _ := set.Lookup("defaults"); d.Max != DefaultMax {
		t.Errorf("parallel without max: max %d, want %d", d.Max, DefaultMax)
	}
}

func TestLoadReadsAFolderInNameOrder(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "b.yaml", "- {id: second, triggers: [{device: x}], actions: [{delay: 1s}]}\n")
	writeFile(t, dir, "a.yml", "- {id: first, triggers: [{device: x}], actions: [{delay: 1s}]}\n")
	writeFile(t, dir, "empty.yaml", "# nothing here yet\n")
	writeFile(t, dir, "notes.txt", "not YAML, not read")
	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range set.Automations() {
		ids = append(ids, a.ID)
	}
	if strings.Join(ids, ",") != "first,second" {
		t.Errorf("loaded %v, want first then second", ids)
	}
}

func TestLoadOfAMissingPathSaysSo(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want an error wrapping fs.ErrNotExist", err)
	}
}

func TestLoadReportsDuplicateIDsAcrossFilesWithBothPlaces(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.yaml", "- id: hall\n  triggers: [{device: x}]\n  actions: [{delay: 1s}]\n")
	b := writeFile(t, dir, "b.yaml", "# second file\n- id: hall\n  triggers: [{device: x}]\n  actions: [{delay: 1s}]\n")
	_, err := Load(dir)
	want := b + `:2:7: automation hall: duplicate id "hall": also defined at ` + a + ":1:3"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

// problem is what a test expects of one Problem.
type problem struct {
	line, col  int
	automation string
	msg        string // a part of the message
}

func TestLoadReportsWhereEachProblemIs(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []problem
	}{
		{
			name: "a YAML syntax error names the line, the column and the automation around it",
			yaml: "- id: ok\n  triggers: [{device: x}]\n  actions: [{delay: 1s}]\n- id: broken\n  triggers: [{device: x}\n  actions: [{delay: 1s}]\n",
			want: []problem{{6, 3, "broken", "',' or ']' must be specified"}},
		},
		{
			name: "a key written twice is a syntax error",
			yaml: "- id: twice\n  mode: single\n  mode: queued\n",
			want: []problem{{3, 3, "twice", `mapping key "mode" already defined at [2:3]`}},
		},
		{
			name: "an unknown key in an automation is named with the keys that exist",
			yaml: "- id: typo\n  trigers: [{device: x}]\n  triggers: [{device: x}]\n  actions: [{delay: 1s}]\n",
			want: []problem{{2, 3, "typo", `unknown key "trigers" in automation (known keys: id, description, mode, max, missed, triggers, conditions, actions)`}},
		},
		{
			name: "an unknown key in a trigger is an error",
			yaml: "- id: k\n  triggers:\n    - device: x\n      after: 5m\n  actions: [{delay: 1s}]\n",
			want: []problem{{4, 7, "k", `unknown key "after" in a device trigger`}},
		},
		{
			name: "an unknown key in an action is an error",
			yaml: "- id: k\n  triggers: [{device: x}]\n  actions:\n    - set: lamp\n      state: {state: ON}\n      brightness: 3\n",
			want: []problem{{6, 7, "k", `unknown key "brightness" in a set action (known keys: set, state)`}},
		},
		{
			name: "a wrong type names what was expected and what was found",
			yaml: "- id: w\n  mode: [single]\n  triggers: {device: x}\n  actions:\n    - publish: a/b\n      payload: x\n      qos: high\n      retain: 1\n",
			want: []problem{
				{2, 9, "w", "mode must be a string, got a list"},
				{3, 13, "w", "triggers must be a list"},
				{7, 12, "w", "qos must be a whole number, got a string"},
				{8, 15, "w", "retain must be true or false, got a number"},
			},
		},
		{
			name: "a qos out of range is an error",
			yaml: "- id: q\n  triggers: [{device: x}]\n  actions: [{publish: a, payload: x, qos: 2}]\n",
			want: []problem{{3, 43, "q", "qos must be between 0 and 1, got 2"}},
		},
		{
			name: "an unknown mode lists the modes",
			yaml: "- id: m\n  mode: sometimes\n  triggers: [{device: x}]\n  actions: [{delay: 1s}]\n",
			want: []problem{{2, 9, "m", `mode must be one of single, restart, queued, parallel; got "sometimes"`}},
		},
		{
			name: "max on a single automation is an error",
			yaml: "- id: m\n  max: 3\n  triggers: [{device: x}]\n  actions: [{delay: 1s}]\n",
			want: []problem{{2, 3, "m", "max applies to queued and parallel modes only"}},
		},
		{
			name: "a duplicate id in one file names both places",
			yaml: "- id: same\n  triggers: [{device: x}]\n  actions: [{delay: 1s}]\n- id: same\n  triggers: [{device: x}]\n  actions: [{delay: 1s}]\n",
			want: []problem{{4, 7, "same", `duplicate id "same": also defined at f.yaml:1:3`}},
		},
		{
			name: "a missing id names the automation by its place in the file",
			yaml: "- id: one\n  triggers: [{device: x}]\n  actions: [{delay: 1s}]\n- description: forgot the id\n  triggers: [{device: x}]\n  actions: [{delay: 1s}]\n",
			want: []problem{{4, 3, "#2", "missing id"}},
		},
		{
			name: "an id with spaces is an error",
			yaml: "- id: hall light\n  triggers: [{device: x}]\n  actions: [{delay: 1s}]\n",
			want: []problem{{1, 7, "#1", `id "hall light" may hold only letters, digits, _ and -`}},
		},
		{
			name: "a bad duration shows how to write one",
			yaml: "- id: d\n  triggers: [{device: x}]\n  actions:\n    - delay: 5 minutes\n    - delay: 0s\n    - delay: 300\n",
			want: []problem{
				{4, 14, "d", `delay must be a duration like 30s, 5m or 1h30m, got "5 minutes"`},
				{5, 14, "d", `delay must be more than zero, got "0s"`},
				{6, 14, "d", "delay must be a duration like 30s, 5m or 1h30m, got a number"},
			},
		},
		{
			name: "a bad topic filter says what is wrong with it",
			yaml: "- id: t\n  triggers:\n    - mqtt: home/#/button\n    - mqtt: home/a+/button\n    - mqtt: \"\"\n  actions:\n    - publish: home/+/set\n      payload: x\n    - publish: $SYS/hearth/note\n      payload: x\n",
			want: []problem{
				{3, 13, "t", `topic filter "home/#/button" has # before its last level`},
				{4, 13, "t", `topic filter "home/a+/button" has + inside a level`},
				{5, 13, "t", `topic filter "" is empty`},
				{7, 16, "t", `topic "home/+/set" has a wildcard`},
				{9, 16, "t", `topic "$SYS/hearth/note" is under $SYS`},
			},
		},
		{
			name: "an expression that does not compile points at the token",
			yaml: "- id: e\n  triggers:\n    - device: x\n      when: \"temperature >> 25\"\n  actions: [{delay: 1s}]\n",
			want: []problem{{4, 27, "e", `when "temperature >> 25" does not compile: unexpected token`}},
		},
		{
			name: "a condition naming something that does not exist does not compile",
			yaml: "- id: e\n  triggers: [{device: x}]\n  conditions:\n    - state.lux < 3\n    - trigger.devic == \"x\"\n  actions: [{delay: 1s}]\n",
			want: []problem{
				{4, 7, "e", `a condition "state.lux < 3" does not compile: unknown name state (a condition sees states, trigger, now`},
				{5, 15, "e", "trigger has no field devic (it has id, kind, device, topic, payload, state and prev)"},
			},
		},
		{
			name: "an mqtt when sees the payload and the topic only",
			yaml: "- id: e\n  triggers:\n    - mqtt: a/b\n      when: action == \"single\"\n  actions: [{delay: 1s}]\n",
			want: []problem{{4, 13, "e", "unknown name action (an mqtt when sees payload, topic, states, now"}},
		},
		{
			name: "an expression that is not true or false is an error",
			yaml: "- id: b\n  triggers:\n    - device: x\n      when: device\n  conditions:\n    - 1 + 2\n  actions: [{delay: 1s}]\n",
			want: []problem{
				{4, 13, "b", `when "device" must give true or false, but gives string`},
				{6, 7, "b", `a condition "1 + 2" must give true or false, but gives int`},
			},
		},
		{
			name: "an expression must be a string",
			yaml: "- id: s\n  triggers:\n    - device: x\n      when: true\n  actions: [{delay: 1s}]\n",
			want: []problem{{4, 13, "s", "when must be an expression written as a string, got true/false"}},
		},
		{
			name: "an automation without triggers or actions is an error",
			yaml: "- id: idle\n  description: does nothing\n- id: empty\n  triggers: []\n  actions:\n",
			want: []problem{
				{1, 3, "idle", "missing triggers"},
				{1, 3, "idle", "missing actions"},
				{4, 13, "empty", "triggers is empty"},
				{5, 12, "empty", "actions is empty"},
			},
		},
		{
			name: "a trigger or action of no known kind lists the kinds",
			yaml: "- id: k\n  triggers:\n    - when: \"a\"\n    - device: x\n      mqtt: a\n  actions:\n    - sleep: 5m\n",
			want: []problem{
				{3, 7, "k", "a trigger needs one of: device, mqtt, at, cron, sun, event"},
				{5, 7, "k", "a trigger has both device and mqtt"},
				{7, 7, "k", "an action needs one of: set, publish, delay, wait, if, choose, repeat, parallel, log, scene, stop"},
			},
		},
		{
			name: "a set needs a map of state",
			yaml: "- id: s\n  triggers: [{device: x}]\n  actions:\n    - set: lamp\n    - set: lamp\n      state: ON\n    - set: home/lamp\n      state: {on: true}\n",
			want: []problem{
				{4, 7, "s", "set needs a state"},
				{6, 14, "s", "state must be a map of attributes"},
				{7, 12, "s", `device "home/lamp" must be one topic level`},
			},
		},
		{
			name: "a file that is not a list says so",
			yaml: "id: x\ntriggers: []\n",
			want: []problem{{1, 1, "", "a file holds a list of automations"}},
		},
		{
			name: "an alias to nothing is an error",
			yaml: "- id: a\n  triggers: [{device: x}]\n  actions: [{set: l, state: *missing}]\n",
			want: []problem{{3, 29, "a", "alias *missing names no anchor"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadBytes("f.yaml", []byte(tc.yaml))
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want a *LoadError", err)
			}
			if len(le.Problems) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(le.Problems), len(tc.want), err)
			}
			for i, w := range tc.want {
				p := le.Problems[i]
				if p.File != "f.yaml" || p.Line != w.line || p.Column != w.col || p.Automation != w.automation || !strings.Contains(p.Msg, w.msg) {
					t.Errorf("problem %d is\n  %s\nwant\n  f.yaml:%d:%d: automation %s: ...%s...", i+1, p, w.line, w.col, w.automation, w.msg)
				}
			}
		})
	}
}

func TestLoadReportsEveryProblemAtOnceOnePerLine(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", "- id: a\n  mode: x\n  triggers: [{device: x, when: \"1 +\"}]\n  actions: [{delay: 1m}]\n")
	writeFile(t, dir, "b.yaml", "- id: b\n  triggers: [{mqtt: \"#/x\"}]\n  actions: [{delay: soon}]\n- [\n")
	_, err := Load(dir)
	if err == nil {
		t.Fatal("loaded files with errors")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		filepath.Join(dir, "a.yaml") + `:2:9: automation a: mode must be one of`,
		filepath.Join(dir, "a.yaml") + `:3:35: automation a: when "1 +" does not compile`,
		filepath.Join(dir, "b.yaml") + `:4:3: `,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d is\n  %s\nwant it to start with\n  %s", i+1, lines[i], w)
		}
	}
}

func TestProblemFormatsAsFileLineColumnAutomation(t *testing.T) {
	cases := []struct {
		name string
		p    Problem
		want string
	}{
		{"a problem in an automation names it", Problem{"a.yaml", 3, 7, "hall", "bad"}, "a.yaml:3:7: automation hall: bad"},
		{"a problem of the whole file has no automation", Problem{"a.yaml", 1, 1, "", "bad"}, "a.yaml:1:1: bad"},
		{"a problem with no position has none", Problem{"a.yaml", 0, 0, "", "unreadable"}, "a.yaml: unreadable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLoadAcceptsAnchorsAndMergeKeys(t *testing.T) {
	set := load(t, `
- id: a
  mode: &mode parallel
  triggers: [{device: x}]
  actions:
    - set: lamp
      state: &on {state: "ON", brightness: 200}
- id: b
  mode: *mode
  triggers: [{device: y}]
  actions:
    - set: lamp
      state:
        <<: *on
        brightness: 50
`)
	b, _ := set.Lookup("b")
	if b.Mode != ModeParallel {
		t.Errorf("mode from an alias: %q", b.Mode)
	}
	if got := string(b.actions[0].(*setAction).payload.static); got != `{"brightness":50,"state":"ON"}` {
		t.Errorf("state merged from an anchor: %s", got)
	}
}

func TestLoadOfAnEmptyFileIsAnEmptySet(t *testing.T) {
	for _, content := range []string{"", "# just a comment\n", "[]\n", "---\n"} {
		set, err := LoadBytes("empty.yaml", []byte(content))
		if err != nil || set.Len() != 0 {
			t.Errorf("%q: got %v, %v; want an empty set", content, set, err)
		}
	}
}
