package automations

import (
	"errors"
	"strings"
	"testing"
)

func TestLoadReportsMistakesInTheNewKeys(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []problem
	}{
		{
			name: "a for that is not a duration",
			yaml: "- id: f\n  triggers: [{device: d, when: 'a', for: 5}]\n  actions: [{delay: 1s}]\n",
			want: []problem{{2, 42, "f", "for must be a duration like 30s, 5m or 1h30m, got a number"}},
		},
		{
			name: "a time of day that does not exist",
			yaml: "- id: a\n  triggers: [{at: \"25:00\"}, {at: 730}]\n  actions: [{delay: 1s}]\n",
			want: []problem{{2, 19, "a", `at: "25:00" is not a time of day`}, {2, 34, "a", "at must be a time of day like \"07:30\" (quoted), got a number"}},
		},
		{
			name: "a cron that does not parse",
			yaml: "- id: c\n  triggers: [{cron: \"61 * * * *\"}]\n  actions: [{delay: 1s}]\n",
			want: []problem{{2, 21, "c", `cron "61 * * * *": `}},
		},
		{
			name: "a sun event that does not exist and a bad offset",
			yaml: "- id: s\n  triggers: [{sun: noon}, {sun: sunset, offset: soon}]\n  actions: [{delay: 1s}]\n",
			want: []problem{{2, 20, "s", `sun must be sunrise or sunset, got "noon"`}, {2, 49, "s", `offset must be a duration like 30m or -1h, got "soon"`}},
		},
		{
			name: "an event other than started",
			yaml: "- id: e\n  triggers: [{event: stopped}]\n  actions: [{delay: 1s}]\n",
			want: []problem{{2, 22, "e", `event must be started`}},
		},
		{
			name: "missed must be fire or skip",
			yaml: "- id: m\n  missed: later\n  triggers: [{device: d}]\n  actions: [{delay: 1s}]\n",
			want: []problem{{2, 11, "m", `missed must be fire or skip; got "later"`}},
		},
		{
			name: "a time window with a bad time and a bad weekday",
			yaml: "- id: w\n  triggers: [{device: d}]\n  conditions: [{after: \"22:61\", weekdays: [mon, funday]}, {colour: red}]\n  actions: [{delay: 1s}]\n",
			want: []problem{
				{3, 24, "w", `after: "22:61" is not a time of day`},
				{3, 49, "w", "weekdays holds day names"},
				{3, 60, "w", `unknown key "colour" in a condition`},
			},
		},
		{
			name: "an and block with company",
			yaml: "- id: b\n  triggers: [{device: d}]\n  conditions: [{and: ['true'], after: \"10:00\"}]\n  actions: [{delay: 1s}]\n",
			want: []problem{{3, 16, "b", "an and block stands alone"}},
		},
		{
			name: "a helper called with a bad time of day",
			yaml: "- id: h\n  triggers: [{device: d}]\n  conditions: ['between(\"22:00\", \"6\")']\n  actions: [{delay: 1s}]\n",
			want: []problem{{3, 16, "h", `between("6"): "6" is not a time of day`}},
		},
		{
			name: "a template that does not compile or is not closed",
			yaml: "- id: t\n  triggers: [{device: d}]\n  actions:\n    - set: l\n      state: {b: \"{{ trigger.nope }}\", c: \"x {{ 1 +\"}\n",
			want: []problem{
				{5, 18, "t", "template \"trigger.nope\" does not compile: trigger has no field nope"},
				{5, 43, "t", "has {{ without }}"},
			},
		},
		{
			name: "wait, if, choose, repeat and parallel check their parts",
			yaml: `- id: p
  triggers: [{device: d}]
  actions:
    - wait: "x.y > 1"
      on_timeout: stop
    - if: "true"
    - choose:
        - conditions: "true"
    - repeat: {count: 2, while: "true", actions: [{delay: 1s}]}
    - parallel: [{delay: 1s}]
`,
			want: []problem{
				{4, 14, "p", `unknown name x`},
				{5, 7, "p", "on_timeout needs a timeout"},
				{6, 7, "p", "if needs then"},
				{8, 11, "p", "a choose option needs actions"},
				{9, 15, "p", "repeat needs exactly one of count, while or until"},
				{10, 17, "p", "parallel needs at least two branches"},
			},
		},
		{
			name: "a scene action naming no scene, and a scene without states",
			yaml: "- scene: empty\n- id: s\n  triggers: [{device: d}]\n  actions: [{scene: evening}]\n",
			want: []problem{{1, 3, "scene empty", "a scene needs states"}, {4, 21, "s", `scene "evening" is not defined`}},
		},
		{
			name: "repeat read outside a repeat, in a template, a condition and an if after the repeat",
			yaml: `- id: r
  triggers: [{device: d}]
  conditions: ["repeat.first"]
  actions:
    - publish: out
      payload: "round {{ repeat.index }}"
    - repeat:
        count: 2
        actions: [{publish: out, payload: "{{ repeat.index }}"}, {if: "repeat.last", then: [{delay: 1s}]}]
    - if: "repeat.index > 1"
      then: [{delay: 1s}]
`,
			want: []problem{
				{3, 16, "r", `a condition "repeat.first" reads repeat, which exists only inside a repeat`},
				{6, 16, "r", `template "repeat.index" reads repeat, which exists only inside a repeat`},
				{10, 11, "r", `a condition "repeat.index > 1" reads repeat, which exists only inside a repeat`},
			},
		},
		{
			name: "a log level that does not exist",
			yaml: "- id: l\n  triggers: [{device: d}]\n  actions: [{log: hi, level: loud}]\n",
			want: []problem{{3, 30, "l", `level must be debug, info, warn or error`}},
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
				if p.Line != w.line || p.Column != w.col || p.Automation != w.automation || !strings.Contains(p.Msg, w.msg) {
					t.Errorf("problem %d is\n  %s\nwant\n  f.yaml:%d:%d: automation %s: ...%s...", i+1, p, w.line, w.col, w.automation, w.msg)
				}
			}
		})
	}
}

func TestLoadReadsEveryNewForm(t *testing.T) {
	set := load(t, `
- scene: evening
  states:
    lamp: {state: "ON"}
- id: all
  missed: skip
  mode: queued
  triggers:
    - {device: d, when: "a == 1", for: 5m, id: held}
    - {mqtt: "x/#"}
    - {at: "07:30"}
    - {cron: "@hourly"}
    - {sun: sunrise, offset: "-15m"}
    - {event: started}
  conditions:
    - "true"
    - {or: ["false", {not: "false"}]}
    - {after: "06:00", before: "23:00", weekdays: [mon, tue, wed, thu, fri]}
  actions:
    - set: lamp
      state: {brightness: "{{ 100 + 20 }}"}
    - publish: "a/{{ this.id }}"
      payload: {n: "{{ 1 }}"}
    - delay: 1s
    - wait: "since('d') > duration('1m')"
      timeout: 1m
      on_timeout: continue
    - if: ["true"]
      then: {log: x}
      else: [{stop: done}]
    - choose:
        - {conditions: "true", actions: [{scene: evening}]}
      default: [{log: y, level: debug}]
    - repeat: {until: "repeat.index > 2", actions: [{delay: 1s}]}
    - parallel: [{log: a}, [{log: b}, {log: c}]]
    - stop:
`)
	a, _ := set.Lookup("all")
	if a.Missed != MissedSkip || len(a.triggers) != 6 || len(a.conditions) != 3 || len(a.actions) != 9 || a.Hash == "" {
		t.Errorf("loaded %+v", a)
	}
	if !strings.HasPrefix(a.Source, "- id: all\n  missed: skip\n") || !strings.HasSuffix(a.Source, "    - stop:\n") {
		t.Errorf("source:\n%s", a.Source)
	}
}

func TestTheHashIgnoresLayoutAndFollowsScenes(t *testing.T) {
	hash := func(src string) string {
		t.Helper()
		set, err := LoadBytes("f.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		a, _ := set.Lookup("a")
		return a.Hash
	}
	base := hash("- scene: s\n  states: {l: {on: true}}\n- id: a\n  triggers: [{device: d}]\n  actions: [{scene: s}]\n")
	same := hash("# a comment\n- scene: s\n  states:\n    l: {on: true}\n\n- id: a   # the same\n  triggers:\n    - device: d\n  actions:\n    - scene: s\n")
	scene := hash("- scene: s\n  states: {l: {on: false}}\n- id: a\n  triggers: [{device: d}]\n  actions: [{scene: s}]\n")
	if base != same || base == scene {
		t.Errorf("hashes: base %s, reformatted %s, scene changed %s", base, same, scene)
	}
}
