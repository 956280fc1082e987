package automations

import (
	"context"
	"testing"
	"time"

	"hearth"
)

const lightOnMotion = `
- id: light
  mode: restart
  triggers: [{device: motion, when: "occupancy == true"}]
  actions:
    - set: hall_light
      state: {state: "ON"}
    - delay: 5m
    - set: hall_light
      state: {state: "OFF"}
`

// restart closes l's engine and starts another on the same clock, store
// and log with content, as the hub does across a restart: the devices'
// states are the last ones in the log, as the hub's read model has them.
func restart(t *testing.T, l *live, content string) *live {
	t.Helper()
	l.close()
	seed := devicesFromLog(l.log.all())
	l2 := liveOn(t, l.clock, l.persist, l.log, content, func(o *Options) { o.Devices = seed })
	if err := l2.e.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	l2.settle()
	return l2
}

func TestARestartInTheMiddleOfADelayStillSendsTheCommandOnTime(t *testing.T) {
	l := liveStart(t, lightOnMotion, nil)
	l.state("motion", `{"occupancy":true}`)
	l.advance(2 * time.Minute)
	want(t, "stored timers while the delay runs", l.timerIDs(), []string{"light#1/1"})

	l2 := restart(t, l, lightOnMotion)
	l2.advance(2*time.Minute + 59*time.Second)
	want(t, "commands a second before the delay ends", l2.commands(), []string{`20:00:00 home/hall_light/set {"state":"ON"} light#1`})
	l2.advance(time.Second)
	want(t, "commands", l2.commands(), []string{
		`20:00:00 home/hall_light/set {"state":"ON"} light#1`,
		`20:05:00 home/hall_light/set {"state":"OFF"} light#1`,
	})
	want(t, "stored timers once the delay is over", l2.timerIDs(), nil)

	trs := l2.traces("light")
	if len(trs) != 2 || trs[0].Outcome != "done" || trs[1].Outcome != "interrupted" || trs[0].Run != "light#1" {
		t.Fatalf("traces: %+v", trs)
	}
	// Run numbers go on from the log.
	l2.state("motion", `{"occupancy":false}`)
	l2.state("motion", `{"occupancy":true}`)
	if trs := l2.traces("light"); trs[0].Run != "light#2" {
		t.Errorf("the next run after the restart is %s, want light#2", trs[0].Run)
	}
}

func TestADelayThatCameDueWhileTheHubWasDownFiresAtStartOrIsSkipped(t *testing.T) {
	for _, tc := range []struct {
		missed string
		want   []string
	}{
		{"", []string{`20:00:00 home/hall_light/set {"state":"ON"} light#1`, `21:00:00 home/hall_light/set {"state":"OFF"} light#1`}},
		{"\n  missed: fire", []string{`20:00:00 home/hall_light/set {"state":"ON"} light#1`, `21:00:00 home/hall_light/set {"state":"OFF"} light#1`}},
		{"\n  missed: skip", []string{`20:00:00 home/hall_light/set {"state":"ON"} light#1`}},
	} {
		t.Run("missed"+tc.missed, func(t *testing.T) {
			content := "\n- id: light" + tc.missed + lightOnMotion[len("\n- id: light"):]
			l := liveStart(t, content, nil)
			l.state("motion", `{"occupancy":true}`)
			l.close()
			l.clock.moveTo(l.clock.Now().Add(time.Hour)) // the hub is down for an hour
			l2 := restart(t, l, content)
			l2.advance(time.Hour)
			want(t, "commands", l2.commands(), tc.want)
			want(t, "stored timers", l2.timerIDs(), nil)
		})
	}
}

func TestARunResumesInsideNestedActions(t *testing.T) {
	const content = `
- id: nested
  triggers: [{mqtt: go}]
  actions:
    - publish: out
      payload: start
    - if: "true"
      then:
        - choose:
            - conditions: "false"
              actions: [{publish: out, payload: wrong}]
          default:
            - repeat:
                count: 3
                actions:
                  - publish: out
                    payload: "round {{ repeat.index }}"
                  - delay: 10m
    - publish: out
      payload: "end {{ trigger.topic }}"
`
	l := liveStart(t, content, nil)
	l.message("go", "")
	l.advance(15 * time.Minute) // in round 2's delay
	want(t, "stored timers", l.timerIDs(), []string{"nested#1/1.0.0.1.0.1.1"})
	l2 := restart(t, l, content)
	l2.advance(time.Hour)
	want(t, "commands", l2.commands(), []string{
		"20:00:00 out start nested#1", "20:00:00 out round 1 nested#1", "20:10:00 out round 2 nested#1",
		"20:20:00 out round 3 nested#1", "20:30:00 out end go nested#1",
	})
}

func TestARestartDropsATimerOfAChangedAutomation(t *testing.T) {
	l := liveStart(t, lightOnMotion, nil)
	l.state("motion", `{"occupancy":true}`)
	changed := lightOnMotion + "    - publish: extra\n      payload: x\n"
	l2 := restart(t, l, changed)
	l2.advance(time.Hour)
	want(t, "commands", l2.commands(), []string{`20:00:00 home/hall_light/set {"state":"ON"} light#1`})
	want(t, "stored timers", l2.timerIDs(), nil)
}

func TestAForWindowIsReconciledAfterARestart(t *testing.T) {
	const content = `
- id: open
  triggers: [{device: door, when: "contact == false", for: 10m}]
  actions: [{publish: notify, payload: "open"}]
`
	cases := []struct {
		name   string
		down   time.Duration // how long the hub is down
		door   string        // the door's state while it is down ("" unchanged)
		want   []string
		stored []string // an hour later: a window that fired stays stored (as fired) while the door is open
	}{
		{"a window still holding is re-armed for the rest of it", 3 * time.Minute, "", []string{"20:10:00 notify open open#1"}, []string{"open/for/0"}},
		{"a window that ended while the hub was down fires at start", 30 * time.Minute, "", []string{"20:30:00 notify open open#1"}, []string{"open/for/0"}},
		{"a window whose condition stopped holding is dropped", 3 * time.Minute, `{"contact":true}`, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := liveStart(t, content, nil)
			l.state("door", `{"contact":false}`)
			want(t, "stored timers", l.timerIDs(), []string{"open/for/0"})
			if tc.door != "" {
				l.state("door", tc.door) // (the window is forgotten here already)
			}
			l.close()
			l.clock.moveTo(l.clock.Now().Add(tc.down))
			l2 := restart(t, l, content)
			l2.advance(time.Hour)
			want(t, "commands", l2.commands(), tc.want)
			want(t, "stored timers", l2.timerIDs(), tc.stored)
		})
	}
}

func TestAForWindowThatFiredDoesNotFireAgainForTheSameHoldAfterARestart(t *testing.T) {
	const content = `
- id: open
  triggers: [{device: front_door, when: "contact == false", for: 3s}]
  actions: [{publish: notify, payload: "open"}]
`
	l := liveStart(t, content, nil)
	l.state("front_door", `{"contact":false}`)
	l.advance(3 * time.Second) // fires
	l.state("front_door", `{"contact":false,"battery":99}`)
	l.advance(time.Minute)
	want(t, "commands before the restart", l.commands(), []string{"20:00:03 notify open open#1"})

	l2 := restart(t, l, content)
	l2.state("front_door", `{"contact":false,"battery":98}`) // still the same hold
	l2.advance(time.Minute)
	want(t, "commands after the restart", l2.commands(), []string{"20:00:03 notify open open#1"})

	l2.state("front_door", `{"contact":true}`)
	want(t, "stored timers once the door closed", l2.timerIDs(), nil)
	l2.state("front_door", `{"contact":false}`) // a new hold
	l2.advance(time.Minute)
	want(t, "commands", l2.commands(), []string{"20:00:03 notify open open#1", "20:02:06 notify open open#2"})
}

// TestAWindowWithoutWhenThatFiredStartsAgainOnAChangeWhileTheEngineWasDown:
// "unchanged for 3 s" fired, then the device changed while the engine was
// down (a split hub: the recorder saw it) and stayed quiet. The change
// starts a new window; the fired mark must not swallow it.
func TestAWindowWithoutWhenThatFiredStartsAgainOnAChangeWhileTheEngineWasDown(t *testing.T) {
	const content = `
- id: settled
  triggers: [{device: thermostat, for: 3s}]
  actions: [{publish: out, payload: "settled"}]
`
	l := liveStart(t, content, nil)
	l.state("thermostat", `{"target":20}`)
	l.advance(10 * time.Second) // fires at 20:00:03
	want(t, "commands before the restart", l.commands(), []string{"20:00:03 out settled settled#1"})
	l.close()
	seed := devicesFromLog(l.log.all())
	l.clock.Advance(10 * time.Second)
	seed["thermostat"] = hearth.DeviceState{ID: "thermostat", State: map[string]any{"target": 21.0}, Updated: l.clock.Now()}
	l2 := liveOn(t, l.clock, l.persist, l.log, content, func(o *Options) { o.Devices = seed })
	if err := l2.e.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	l2.settle()
	l2.advance(5 * time.Second)
	want(t, "commands after the restart", l2.commands(), []string{"20:00:03 out settled settled#1", "20:00:23 out settled settled#2"})
}

func TestDisablingIsRememberedAcrossARestart(t *testing.T) {
	l := liveStart(t, lightOnMotion, nil)
	l.state("motion", `{"occupancy":true}`)
	if err := l.e.Disable(context.Background(), "light"); err != nil {
		t.Fatal(err)
	}
	l.settle()
	want(t, "stored timers once disabled", l.timerIDs(), nil)
	l2 := restart(t, l, lightOnMotion)
	l2.state("motion", `{"occupancy":false}`)
	l2.state("motion", `{"occupancy":true}`)
	want(t, "commands", l2.commands(), []string{`20:00:00 home/hall_light/set {"state":"ON"} light#1`})
	info, _ := l2.e.Get(context.Background(), "light")
	if info.Enabled || info.NearMisses[0].Reason != "disabled" {
		t.Errorf("after the restart: enabled %v, near misses %+v", info.Enabled, info.NearMisses)
	}
	if err := l2.e.Enable(context.Background(), "light"); err != nil {
		t.Fatal(err)
	}
	l2.state("motion", `{"occupancy":false}`)
	l2.state("motion", `{"occupancy":true}`)
	if n := len(l2.commands()); n != 2 {
		t.Errorf("after enabling: %q", l2.commands())
	}
}

func TestARestartResumesEveryParallelBranchStillWaiting(t *testing.T) {
	const content = `
- id: par
  triggers: [{mqtt: go}]
  actions:
    - publish: out
      payload: start
    - parallel:
        - [{delay: 10m}, {publish: out, payload: a}]
        - [{delay: 20m}, {publish: out, payload: b}, {delay: 5m}, {publish: out, payload: b2}]
        - [{delay: 2m}, {publish: out, payload: c}]
    - publish: out
      payload: after
`
	cases := []struct {
		name   string
		at     time.Duration // when the hub restarts
		stored []string      // the stored timers then
		want   []string
	}{
		{"a restart while two branches are in a delay resumes both and then goes on after the block", 5 * time.Minute,
			[]string{"par#1/1.0.0", "par#1/1.1.0"},
			[]string{"20:00:00 out start par#1", "20:02:00 out c par#1", "20:10:00 out a par#1", "20:20:00 out b par#1", "20:25:00 out b2 par#1", "20:25:00 out after par#1"}},
		{"a restart while one branch is in its second delay resumes it alone", 22 * time.Minute,
			[]string{"par#1/1.1.2"},
			[]string{"20:00:00 out start par#1", "20:02:00 out c par#1", "20:10:00 out a par#1", "20:20:00 out b par#1", "20:25:00 out b2 par#1", "20:25:00 out after par#1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := liveStart(t, content, nil)
			l.message("go", "")
			l.advance(tc.at)
			want(t, "stored timers at the restart", l.timerIDs(), tc.stored)
			l2 := restart(t, l, content)
			want(t, "stored timers after the restart", l2.timerIDs(), tc.stored)
			l2.advance(time.Hour)
			want(t, "commands", l2.commands(), tc.want)
			want(t, "stored timers at the end", l2.timerIDs(), nil)
			if trs := l2.traces("par"); len(trs) != 2 || trs[0].Outcome != "done" || trs[0].Run != "par#1" {
				t.Fatalf("traces: %+v", trs)
			}
		})
	}
}

func TestARestartDuringAWaitWithoutTimeoutWaitsAgain(t *testing.T) {
	const content = `
- id: door
  triggers: [{mqtt: go}]
  actions:
    - publish: out
      payload: waiting
    - wait: "states.door.contact == true"
    - publish: out
      payload: "closed {{ trigger.topic }}"
`
	l := liveStart(t, content, nil)
	l.state("door", `{"contact":false}`)
	l.message("go", "")
	l.advance(time.Hour)
	want(t, "stored timers while it waits", l.timerIDs(), []string{"door#1/1"})
	l.close()
	l.clock.moveTo(l.clock.Now().Add(24 * time.Hour)) // no due time to miss
	l2 := restart(t, l, content)
	l2.advance(time.Hour)
	want(t, "commands before the door closes", l2.commands(), []string{"20:00:00 out waiting door#1"})
	want(t, "stored timers before the door closes", l2.timerIDs(), []string{"door#1/1"})
	l2.state("door", `{"contact":true}`)
	l2.settle()
	want(t, "commands", l2.commands(), []string{"20:00:00 out waiting door#1", "22:00:00 out closed go door#1"})
	want(t, "stored timers once the door closed", l2.timerIDs(), nil)
}

func TestRunNumbersAndLastRunsGoOnAfterARestart(t *testing.T) {
	const (
		hall = `
- id: hall
  triggers: [{device: motion, when: "occupancy == true"}]
  actions: [{set: hall_light, state: {state: "ON"}}]`
		porch = `
- id: porch
  triggers: [{device: door, when: "contact == false"}]
  actions: [{set: porch_light, state: {state: "ON"}}]`
		attic = `
- id: attic
  triggers: [{device: attic_sensor, when: "occupancy == true"}]
  actions: [{set: attic_light, state: {state: "ON"}}]`
	)
	for _, tc := range []struct {
		name  string
		again func(t *testing.T, l *live) *live
	}{
		{"the automations are loaded before the engine resumes", func(t *testing.T, l *live) *live {
			return restart(t, l, hall+porch+attic)
		}},
		{"the automations are added by a reload after it resumed", func(t *testing.T, l *live) *live {
			l2 := restart(t, l, attic)
			set, err := l2.e.LoadBytes("automations.yaml", []byte(hall+porch+attic))
			if err != nil {
				t.Fatal(err)
			}
			if ch := l2.e.Replace(set); len(ch.Added) != 2 {
				t.Fatalf("changes %+v, want hall and porch added", ch)
			}
			return l2
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := liveStart(t, hall+porch+attic, nil)
			l.state("motion", `{"occupancy":true}`)
			l.state("motion", `{"occupancy":false}`)
			l.state("motion", `{"occupancy":true}`)
			l.state("door", `{"contact":false}`)

			l2 := tc.again(t, l)
			for id, wantRun := range map[string]string{"hall": "hall#2", "porch": "porch#1", "attic": ""} {
				info, err := l2.e.Get(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				got := ""
				if info.LastRun != nil {
					got = info.LastRun.Run
				}
				if got != wantRun {
					t.Errorf("last run of %s after the restart: %q, want %q", id, got, wantRun)
				}
			}
			l2.state("motion", `{"occupancy":false}`)
			l2.state("motion", `{"occupancy":true}`)
			l2.state("door", `{"contact":true}`)
			l2.state("door", `{"contact":false}`)
			l2.state("attic_sensor", `{"occupancy":true}`)
			want(t, "commands", l2.commands(), []string{
				`20:00:00 home/hall_light/set {"state":"ON"} hall#1`,
				`20:00:00 home/hall_light/set {"state":"ON"} hall#2`,
				`20:00:00 home/porch_light/set {"state":"ON"} porch#1`,
				`20:00:00 home/hall_light/set {"state":"ON"} hall#3`,
				`20:00:00 home/porch_light/set {"state":"ON"} porch#2`,
				`20:00:00 home/attic_light/set {"state":"ON"} attic#1`,
			})
		})
	}
}

func TestARunByHandReadsAMissingPayloadOrStateAttributeAsNil(t *testing.T) {
	const content = `
- id: hand
  triggers: [{mqtt: button}]
  actions:
    - publish: out
      payload: {x: "{{ trigger.payload.x }}", level: "{{ trigger.state.level }}", kind: "{{ trigger.kind }}"}
    - delay: 5m
    - publish: out
      payload: {x: "{{ trigger.payload.x }}", level: "{{ trigger.state.level }}"}
`
	l := liveStart(t, content, nil)
	if _, err := l.e.Run(context.Background(), "hand"); err != nil {
		t.Fatal(err)
	}
	l.settle()
	l.advance(time.Minute)
	l2 := restart(t, l, content) // the run goes on from its stored delay
	l2.advance(5 * time.Minute)
	want(t, "commands", l2.commands(), []string{
		`20:00:00 out {"kind":"run","level":null,"x":null} hand#1`,
		`20:05:00 out {"level":null,"x":null} hand#1`,
	})
	// Newest first: the resumed run, then the first life's, interrupted.
	if trs := l2.traces("hand"); len(trs) != 2 || trs[0].Outcome != "done" || trs[1].Outcome != "interrupted" {
		t.Errorf("the run by hand's traces: %+v", trs)
	}
}
