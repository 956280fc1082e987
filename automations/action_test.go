package automations

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTemplatesAreEvaluatedPerRun(t *testing.T) {
	l := liveStart(t, `
- id: t
  mode: parallel
  triggers: [{device: motion, when: "occupancy == true"}]
  actions:
    - set: hall_light
      state:
        state: "ON"
        brightness: "{{ trigger.state.illuminance < 10 ? 80 : 254 }}"
        note: "seen by {{ trigger.device }} at {{ trigger.state.illuminance }} lux"
        list: ["{{ 1 + 1 }}", "{{ trigger.state.occupancy }}"]
    - publish: "rooms/{{ trigger.device }}/seen"
      payload: "{{ trigger.state.illuminance }}"
`, nil)
	l.state("motion", `{"occupancy":true,"illuminance":5}`)
	l.state("motion", `{"occupancy":false,"illuminance":50}`)
	l.state("motion", `{"occupancy":true,"illuminance":50}`)
	want(t, "commands", l.commands(), []string{
		`20:00:00 home/hall_light/set {"brightness":80,"list":[2,true],"note":"seen by motion at 5 lux","state":"ON"} t#1`,
		`20:00:00 rooms/motion/seen 5 t#1`,
		`20:00:00 home/hall_light/set {"brightness":254,"list":[2,true],"note":"seen by motion at 50 lux","state":"ON"} t#2`,
		`20:00:00 rooms/motion/seen 50 t#2`,
	})
}

func TestATemplateThatFailsFailsTheRunAndTheDocsDefaultDoesNot(t *testing.T) {
	l := liveStart(t, `
- id: docs
  triggers: [{device: motion, when: "occupancy == true"}]
  actions:
    - set: hall_light
      state: {state: "ON", brightness: "{{ (trigger.state.illuminance ?? 0) < 10 ? 80 : 200 }}"}
- id: bare
  triggers: [{device: motion, when: "occupancy == true"}]
  actions:
    - set: hall_light
      state: {state: "ON", brightness: "{{ trigger.state.illuminance < 10 ? 80 : 200 }}"}
`, nil)
	l.state("motion", `{"occupancy":true}`) // a sensor without illuminance
	want(t, "commands", l.commands(), []string{`20:00:00 home/hall_light/set {"brightness":80,"state":"ON"} docs#1`})
	trs := l.traces("bare")
	if len(trs) != 1 || trs[0].Outcome != "failed" || !strings.Contains(trs[0].Error, "invalid operation: <nil> < int") {
		t.Fatalf("the run without a default: %+v", trs)
	}
	if last := trs[0].Steps[len(trs[0].Steps)-1]; last.Text != "set hall_light" || last.Result != "failed" || last.Error != trs[0].Error {
		t.Errorf("the failed step: %+v", last)
	}
}

func TestControlFlowActions(t *testing.T) {
	cases := []struct {
		name    string
		actions string
		then    func(l *live) // what happens after the trigger
		want    []string
	}{
		{
			name: "if runs then when it holds and else when not",
			actions: `
    - if: "trigger.state.n > 1"
      then: [{publish: out, payload: big}]
      else: [{publish: out, payload: small}]`,
			want: []string{"out small", "out big"},
		},
		{
			name: "choose runs the first option that holds, or its default",
			actions: `
    - choose:
        - conditions: "trigger.state.n == 1"
          actions: [{publish: out, payload: one}]
        - conditions: ["trigger.state.n > 0", "trigger.state.n < 3"]
          actions: [{publish: out, payload: some}]
      default: [{publish: out, payload: other}]`,
			want: []string{"out one", "out some"},
		},
		{
			name: "repeat count tells the round",
			actions: `
    - repeat:
        count: 3
        actions: [{publish: out, payload: "{{ trigger.state.n }}.{{ repeat.index }}{{ repeat.last ? '!' : '' }}"}]`,
			want: []string{"out 1.1", "out 1.2", "out 1.3!", "out 2.1", "out 2.2", "out 2.3!"},
		},
		{
			name: "repeat while checks before each round, until after",
			actions: `
    - repeat:
        while: "repeat.index <= trigger.state.n"
        actions: [{publish: out, payload: "w{{ repeat.index }}"}]
    - repeat:
        until: "repeat.index >= 2"
        actions: [{publish: out, payload: "u{{ repeat.index }}"}]`,
			want: []string{"out w1", "out u1", "out u2", "out w1", "out w2", "out u1", "out u2"},
		},
		{
			name: "parallel branches run side by side and the run waits for all",
			actions: `
    - parallel:
        - [{delay: 2m}, {publish: out, payload: "slow {{ trigger.state.n }}"}]
        - {publish: out, payload: "fast {{ trigger.state.n }}"}
    - publish: out
      payload: "after {{ trigger.state.n }}"`,
			then: func(l *live) { l.advance(3 * time.Minute) },
			want: []string{"out fast 1", "out fast 2", "out slow 1", "out after 1", "out slow 2", "out after 2"},
		},
		{
			name: "stop ends the run",
			actions: `
    - if: "trigger.state.n == 1"
      then: [{stop: "one is enough"}]
    - publish: out
      payload: "went on {{ trigger.state.n }}"`,
			want: []string{"out went on 2"},
		},
		{
			name: "log writes a line and the run goes on",
			actions: `
    - log: "n is {{ trigger.state.n }}"
      level: warn
    - publish: out
      payload: logged`,
			want: []string{"out logged", "out logged"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := liveStart(t, `
- id: flow
  mode: parallel
  triggers: [{device: d}]
  actions:`+tc.actions+"\n", nil)
			l.state("d", `{"n":1}`)
			l.state("d", `{"n":2}`)
			if tc.then != nil {
				tc.then(l)
			}
			var got []string
			for _, c := range l.commands() {
				f := strings.SplitN(c, " ", 2)[1]
				got = append(got, f[:strings.LastIndex(f, " ")])
			}
			want(t, "commands", got, tc.want)
		})
	}
}

// parallelStops is the tester's parallel: one branch commands, one
// waits and publishes, one stops (or fails) before its publish; the run
// goes on after the block.
const parallelStops = `
- id: par
  triggers: [{mqtt: test/par/go}]
  actions:
    - parallel:
        - [{set: hall_light, state: {state: "ON"}}]
        - [{delay: 1s}, {publish: test/par/out, payload: out}]
        - [%s, {publish: test/par/never, payload: never}]
    - publish: test/par/after
      payload: after
`

func TestABranchThatStopsOrFailsEndsAloneAndTheRunGoesOn(t *testing.T) {
	cases := []struct {
		name, ending string
		step         string // the branch's last step, as traced
	}{
		{"a stop ends its branch, not the run", `{stop: "branch stop"}`, "stop: branch stop stopped"},
		{"a failure ends its branch, not the run", `{publish: test/par/fail, payload: "{{ states.nothing.x < 10 }}"}`, "publish test/par/fail failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := liveStart(t, fmt.Sprintf(parallelStops, tc.ending), nil)
			l.message("test/par/go", "")
			l.advance(2 * time.Second)
			want(t, "commands", l.commands(), []string{
				`20:00:00 home/hall_light/set {"state":"ON"} par#1`,
				"20:00:01 test/par/out out par#1",
				"20:00:01 test/par/after after par#1",
			})
			trs := l.traces("par")
			if len(trs) != 1 || trs[0].Outcome != "done" || trs[0].Error != "" {
				t.Fatalf("the run's trace: %+v", trs)
			}
			var steps []string
			for _, s := range trs[0].Steps {
				steps = append(steps, s.Text+" "+s.Result)
			}
			if !slices.Contains(steps, tc.step) {
				t.Errorf("the branch's end is not traced (%q): %q", tc.step, steps)
			}
		})
	}
}

func TestWaitActions(t *testing.T) {
	l := liveStart(t, `
- id: w
  mode: parallel
  triggers: [{mqtt: go}]
  actions:
    - wait: "states.door.contact == true"
      timeout: 5m
    - publish: out
      payload: "{{ states.door.contact ? 'closed' : 'timed out' }}"
- id: strict
  triggers: [{mqtt: strict}]
  actions:
    - wait: "states.door.contact == true"
      timeout: 1m
      on_timeout: stop
    - publish: out
      payload: never
`, nil)
	l.state("door", `{"contact":false}`)
	l.message("go", "")                  // 20:00 waits
	l.advance(2 * time.Minute)           //
	l.state("door", `{"battery":3}`)     // a change that does not end the wait
	l.state("door", `{"contact":true}`)  // 20:02 ends it
	l.state("door", `{"contact":false}`) //
	l.message("go", "")                  // 20:02 waits
	l.message("strict", "")              // 20:02 waits
	l.advance(10 * time.Minute)          // both time out
	want(t, "commands", l.commands(), []string{"20:02:00 out closed w#1", "20:07:00 out timed out w#2"})
	if tr := l.traces("strict"); len(tr) != 1 || tr[0].Outcome != "stopped" {
		t.Errorf("strict's trace: %+v", tr)
	}
}

func TestAScenesSetsEveryDeviceItNames(t *testing.T) {
	l := liveStart(t, `
- scene: evening
  description: warm and low
  states:
    living_lamp: {state: "ON", brightness: 120}
    hall_light: {state: "ON", brightness: "{{ trigger.state.level }}"}
- id: dusk
  triggers: [{device: sensor}]
  actions: [{scene: evening}]
`, nil)
	l.state("sensor", `{"level":30}`)
	want(t, "commands", l.commands(), []string{
		`20:00:00 home/living_lamp/set {"brightness":120,"state":"ON"} dusk#1`,
		`20:00:00 home/hall_light/set {"brightness":30,"state":"ON"} dusk#1`,
	})
}

func TestModesDriveRunsThroughTheBus(t *testing.T) {
	const body = `
  triggers: [{device: motion}]
  actions:
    - publish: on
      payload: "{{ trigger.state.n }}"
    - delay: 5m
    - publish: off
      payload: "{{ trigger.state.n }}"
`
	cases := []struct {
		mode string
		want []string
	}{
		{"single", []string{"20:00:00 on 1 a#1", "20:05:00 off 1 a#1"}},
		{"restart", []string{"20:00:00 on 1 a#1", "20:01:00 on 2 a#2", "20:06:00 off 2 a#2"}},
		{"queued", []string{"20:00:00 on 1 a#1", "20:05:00 off 1 a#1", "20:05:00 on 2 a#2", "20:10:00 off 2 a#2"}},
		{"parallel", []string{"20:00:00 on 1 a#1", "20:01:00 on 2 a#2", "20:05:00 off 1 a#1", "20:06:00 off 2 a#2"}},
	}
	for _, tc := range cases {
		t.Run("mode "+tc.mode, func(t *testing.T) {
			l := liveStart(t, "- id: a\n  mode: "+tc.mode+body, nil)
			l.state("motion", `{"n":1}`)
			l.advance(time.Minute)
			l.state("motion", `{"n":2}`)
			l.advance(20 * time.Minute)
			want(t, "commands", l.commands(), tc.want)
			if tc.mode == "restart" {
				trs := l.traces("a")
				if len(trs) != 2 || trs[1].Outcome != "cancelled" || trs[1].Error != "restarted" {
					t.Errorf("the restarted run's trace: %+v", trs[1])
				}
			}
			if tc.mode == "single" {
				m := l.e.stats["a"].nearMisses()
				if len(m) != 1 || m[0].Reason != "dropped" {
					t.Errorf("single did not record the dropped trigger: %+v", m)
				}
			}
		})
	}
}
