package automations

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"hearth"
)

const houseRules = `
- id: hall
  mode: restart
  triggers: [{device: hall_motion, when: "occupancy == true"}]
  conditions: ["states.hall_lux.illuminance < 30"]
  actions:
    - set: hall_light
      state: {state: "ON", brightness: "{{ trigger.state.illuminance < 10 ? 80 : 200 }}"}
    - delay: 5m
    - set: hall_light
      state: {state: "OFF"}
- id: door
  triggers: [{device: door, when: "contact == false", for: 2m}]
  actions: [{publish: notify, payload: "door open"}]
- id: audit
  mode: parallel
  triggers: [{mqtt: "home/+/set"}]
  actions: [{publish: audit, payload: "{{ trigger.topic }}"}]
- id: nightly
  triggers: [{at: "20:30"}]
  actions: [{publish: nightly, payload: "{{ states.hall_lux.illuminance }}"}]
`

func TestAWhatIfRunOverARecordedLogGivesTheCommandsTheLiveEngineGave(t *testing.T) {
	l := liveStart(t, houseRules, nil)
	l.state("hall_lux", `{"illuminance":12}`)
	l.state("hall_motion", `{"occupancy":true,"illuminance":5}`)
	l.advance(3 * time.Minute)
	l.state("hall_motion", `{"occupancy":false,"illuminance":5}`)
	l.state("door", `{"contact":false}`)
	l.advance(time.Minute)
	l.state("hall_motion", `{"occupancy":true,"illuminance":20}`) // restarts the hall run
	l.advance(time.Minute)
	l.state("door", `{"contact":true}`) // the door's window is forgotten
	l.state("door", `{"contact":false}`)
	l.advance(40 * time.Minute)
	l.state("hall_lux", `{"illuminance":90}`)
	l.state("hall_motion", `{"occupancy":false}`)
	l.state("hall_motion", `{"occupancy":true}`) // too bright
	l.advance(time.Minute)

	var liveCmds []string
	for _, ev := range l.log.all() {
		if ev.Kind == hearth.KindCommand {
			liveCmds = append(liveCmds, fmt.Sprintf("%s %s %s %s cause=%d", ev.Time.Format("15:04:05"), ev.Topic, ev.Payload, ev.Cause.Run, ev.Cause.Seq))
		}
	}
	if len(liveCmds) < 8 {
		t.Fatalf("the live engine did too little to compare: %q", liveCmds)
	}

	set, err := LoadBytes("rules.yaml", []byte(houseRules))
	if err != nil {
		t.Fatal(err)
	}
	res, err := WhatIf(context.Background(), set, l.log.all(), WhatIfOptions{Until: l.clock.Now(), Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	// Commands caused by commands carry virtual seqs in a what-if run (they
	// were never logged); they are compared by the run that caused them.
	virtual := map[uint64]string{}
	for _, c := range res.Commands {
		virtual[c.Seq] = c.Run
	}
	liveRun := map[uint64]string{}
	for _, ev := range l.log.all() {
		if ev.Kind == hearth.KindCommand {
			liveRun[ev.Seq] = ev.Cause.Run
		}
	}
	var got []string
	for _, c := range res.Commands {
		cause := fmt.Sprintf("cause=%d", c.Cause)
		if r, ok := virtual[c.Cause]; ok {
			cause = "after " + r
		}
		payload := string(c.Payload)
		var text string
		if json.Unmarshal(c.Payload, &text) == nil {
			payload = text // a payload that is not JSON is carried as a JSON string
		}
		got = append(got, fmt.Sprintf("%s %s %s %s %s", c.Time.Format("15:04:05"), c.Topic, payload, c.Run, cause))
	}
	var wantCmds []string
	for _, ev := range l.log.all() {
		if ev.Kind == hearth.KindCommand {
			cause := fmt.Sprintf("cause=%d", ev.Cause.Seq)
			if r, ok := liveRun[ev.Cause.Seq]; ok {
				cause = "after " + r
			}
			wantCmds = append(wantCmds, fmt.Sprintf("%s %s %s %s %s", ev.Time.Format("15:04:05"), ev.Topic, ev.Payload, ev.Cause.Run, cause))
		}
	}
	want(t, "what-if commands", got, wantCmds)
	if len(res.Traces) != len(l.traces("hall"))+len(l.traces("door"))+len(l.traces("audit"))+len(l.traces("nightly")) {
		t.Errorf("what-if traces: %d", len(res.Traces))
	}
	if m := res.NearMisses["hall"]; len(m) == 0 || m[0].Reason != "condition" {
		t.Errorf("what-if near misses of hall: %+v", m)
	}
}

func TestAWhatIfRunOfANewAutomationSaysWhatItWouldHaveDone(t *testing.T) {
	l := liveStart(t, "", nil)
	l.state("hall_motion", `{"occupancy":true}`)
	l.advance(10 * time.Minute)
	l.state("hall_motion", `{"occupancy":false}`)
	set, err := LoadBytes("new.yaml", []byte(`
- id: new
  triggers: [{device: hall_motion, when: "occupancy == false", for: 1m}]
  actions: [{set: fan, state: {state: "OFF"}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := WhatIf(context.Background(), set, l.log.all(), WhatIfOptions{Until: l.clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Commands) != 1 || res.Commands[0].Time.Format("15:04") != "20:11" || res.Commands[0].Topic != "home/fan/set" || res.Events != 2 {
		t.Errorf("what-if: %+v", res)
	}
	if len(l.commands()) != 0 {
		t.Errorf("the what-if run published: %q", l.commands())
	}
}

func TestAWhatIfRunGoesOnAfterAParallelBranchStops(t *testing.T) {
	l := liveStart(t, "", nil)
	l.message("test/par/go", "")
	set, err := LoadBytes("par.yaml", []byte(fmt.Sprintf(parallelStops, `{stop: "branch stop"}`)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := WhatIf(context.Background(), set, l.log.all(), WhatIfOptions{Until: l.clock.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range res.Commands {
		got = append(got, c.Time.Format("15:04:05")+" "+c.Topic)
	}
	want(t, "what-if commands", got, []string{"20:00:00 home/hall_light/set", "20:00:01 test/par/out", "20:00:01 test/par/after"})
	if len(res.Traces) != 1 || res.Traces[0].Outcome != "done" {
		t.Errorf("what-if traces: %+v", res.Traces)
	}
}
