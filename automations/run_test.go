package automations

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// onDelayOff is an automation that turns a light on, waits 5 minutes and
// turns it off: a run that stays going until the clock moves.
func onDelayOff(mode string, max int) string {
	m := ""
	if max > 0 {
		m = fmt.Sprintf("\n  max: %d", max)
	}
	return fmt.Sprintf(`
- id: light
  mode: %s%s
  triggers:
    - device: motion
  actions:
    - set: light
      state: {state: "ON"}
    - delay: 5m
    - set: light
      state: {state: "OFF"}
`, mode, m)
}

// runs lists commands as "<payload state> <run>" for comparing.
func runs(cmds []hearthCommand) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = fmt.Sprintf("%s %s", c.Payload, c.Cause.Run)
	}
	return out
}

func TestModeSingleIgnoresTriggersWhileRunning(t *testing.T) {
	f := start(t, onDelayOff("single", 0))
	f.e.Handle(f.house.set("motion", `{"n":1}`))
	f.rec.wait(t, 1)
	f.blockUntil(t, 1)
	f.e.Handle(f.house.set("motion", `{"n":2}`)) // ignored: light#1 is in its delay
	f.clock.Advance(5 * time.Minute)
	f.rec.wait(t, 2)
	f.e.wg.Wait()                                // light#1 has ended
	f.e.Handle(f.house.set("motion", `{"n":3}`)) // so this starts light#2
	f.rec.wait(t, 3)
	f.blockUntil(t, 1)
	f.clock.Advance(5 * time.Minute)
	want := []string{`{"state":"ON"} light#1`, `{"state":"OFF"} light#1`, `{"state":"ON"} light#2`, `{"state":"OFF"} light#2`}
	if got := runs(f.finishAfter(t, 4)); !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestModeRestartCancelsTheRunningRunAndStartsAgain(t *testing.T) {
	f := start(t, onDelayOff("restart", 0))
	f.e.Handle(f.house.set("motion", `{"n":1}`))
	f.rec.wait(t, 1)
	f.blockUntil(t, 1)
	f.clock.Advance(4 * time.Minute)
	f.e.Handle(f.house.set("motion", `{"n":2}`)) // cancels light#1 in its delay
	f.rec.wait(t, 2)                             // light#2 starts once light#1 has ended
	f.blockUntil(t, 1)
	if n := f.clock.Pending(); n != 1 {
		t.Fatalf("%d timers armed, want only light#2's", n)
	}
	f.clock.Advance(4 * time.Minute) // light#1's delay would have ended here
	if n := len(f.rec.all()); n != 2 {
		t.Fatalf("%d commands after light#1's delay would have ended, want 2", n)
	}
	f.clock.Advance(time.Minute)
	want := []string{`{"state":"ON"} light#1`, `{"state":"ON"} light#2`, `{"state":"OFF"} light#2`}
	if got := runs(f.finishAfter(t, 3)); !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestModeQueuedRunsOneAfterAnotherInOrder(t *testing.T) {
	f := start(t, onDelayOff("queued", 2))
	f.e.Handle(f.house.set("motion", `{"n":1}`))
	f.e.Handle(f.house.set("motion", `{"n":2}`)) // queued behind light#1
	f.e.Handle(f.house.set("motion", `{"n":3}`)) // dropped: two runs already
	f.rec.wait(t, 1)
	f.blockUntil(t, 1)
	f.clock.Advance(5 * time.Minute)
	f.rec.wait(t, 3) // light#1 OFF, then light#2 ON
	f.blockUntil(t, 1)
	f.clock.Advance(5 * time.Minute)
	want := []string{`{"state":"ON"} light#1`, `{"state":"OFF"} light#1`, `{"state":"ON"} light#2`, `{"state":"OFF"} light#2`}
	if got := runs(f.finishAfter(t, 4)); !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestModeParallelRunsSideBySideUpToMax(t *testing.T) {
	f := start(t, onDelayOff("parallel", 2))
	f.e.Handle(f.house.set("motion", `{"n":1}`))
	f.e.Handle(f.house.set("motion", `{"n":2}`))
	f.e.Handle(f.house.set("motion", `{"n":3}`)) // dropped: two runs going
	f.rec.wait(t, 2)
	f.blockUntil(t, 2)
	f.clock.Advance(5 * time.Minute)
	got := runs(f.finishAfter(t, 4))
	slices.Sort(got)
	want := []string{`{"state":"OFF"} light#1`, `{"state":"OFF"} light#2`, `{"state":"ON"} light#1`, `{"state":"ON"} light#2`}
	if !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestAnAutomationFiresOnceForAnEventThatMatchesTwoOfItsTriggers(t *testing.T) {
	f := start(t, `
- id: twice
  mode: parallel
  triggers:
    - device: d
      when: a == 1
    - device: d
  actions: [{set: l, state: {on: true}}]
`)
	f.e.Handle(f.house.set("d", `{"a":1}`))
	if got := len(f.finish()); got != 1 {
		t.Errorf("got %d runs, want 1", got)
	}
}

func TestAFailingCommandEndsTheRun(t *testing.T) {
	rec := &failing{recorder: newRecorder()}
	e := New(Options{Commander: rec, Logger: testLogger(t)})
	e.Replace(load(t, "- {id: a, triggers: [{device: d}], actions: [{set: one, state: {on: true}}, {set: two, state: {on: true}}]}\n"))
	e.Handle(newHouse().set("d", `{"x":1}`))
	e.wg.Wait()
	e.Close()
	if got := rec.all(); len(got) != 1 || got[0].Topic != "home/one/set" {
		t.Errorf("got %v, want only the first (failed) command", describe(got))
	}
}
