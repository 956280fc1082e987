package automations

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"hearth"
)

func TestADeviceTriggerFiresOnTheEdgeOfItsWhen(t *testing.T) {
	cases := []struct {
		name   string
		when   string // "" for none
		states []string
		want   []uint64 // seqs of the events that fire
	}{
		{
			name:   "a threshold fires once on crossing and again only after dropping below",
			when:   "temperature > 25",
			states: []string{`{"temperature":20}`, `{"temperature":26}`, `{"temperature":27}`, `{"temperature":30}`, `{"temperature":24}`, `{"temperature":26}`},
			want:   []uint64{2, 6},
		},
		{
			name:   "a sensor repeating occupancy true does not fire again until it was false",
			when:   "occupancy == true",
			states: []string{`{"occupancy":false}`, `{"occupancy":true}`, `{"occupancy":true,"battery":90}`, `{"occupancy":true,"battery":89}`, `{"occupancy":false}`, `{"occupancy":true}`},
			want:   []uint64{2, 6},
		},
		{
			name:   "a first state that holds fires, as the state before it is unknown",
			when:   "occupancy == true",
			states: []string{`{"occupancy":true}`},
			want:   []uint64{1},
		},
		{
			name:   "a first state fires a when about an attribute it does not have, as the state before it is unknown",
			when:   `state != "ON"`,
			states: []string{`{"linkquality":80}`, `{"linkquality":70}`, `{"state":"OFF"}`, `{"state":"ON"}`, `{"state":"OFF"}`},
			want:   []uint64{1, 5},
		},
		{
			name:   "a first state fires a when that an attribute is missing",
			when:   "humidity == nil",
			states: []string{`{"temperature":20}`, `{"temperature":21}`, `{"humidity":50}`, `{"temperature":22}`},
			want:   []uint64{1, 4},
		},
		{
			name:   "a missing attribute counts as false, not as an error that fires",
			when:   "temperature > 25",
			states: []string{`{"humidity":50}`, `{"humidity":60,"temperature":30}`, `{"humidity":60}`, `{"temperature":26}`},
			want:   []uint64{2, 4},
		},
		{
			name:   "without a when every change fires",
			states: []string{`{"contact":true}`, `{"contact":false}`, `{"contact":true}`},
			want:   []uint64{1, 2, 3},
		},
		{
			name:   "prev holds the previous state",
			when:   "brightness > prev.brightness",
			states: []string{`{"brightness":10}`, `{"brightness":20}`, `{"brightness":5}`, `{"brightness":30}`},
			want:   []uint64{2, 4},
		},
		{
			name:   "device and now are known to a when",
			when:   `device == "sensor" && now.Hour() == 20 && value == "x"`,
			states: []string{`{"value":"x"}`},
			want:   []uint64{1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			when := ""
			if tc.when != "" {
				when = fmt.Sprintf("\n      when: '%s'", tc.when)
			}
			f := start(t, fmt.Sprintf(`
- id: edge
  mode: parallel
  max: 100
  triggers:
    - device: sensor%s
  actions:
    - set: lamp
      state: {state: "ON"}
`, when))
			for _, s := range tc.states {
				f.e.Handle(f.house.set("sensor", s))
			}
			if got := causes(f.finish()); !slices.Equal(got, tc.want) {
				t.Errorf("fired on events %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAWhenSeesTheEventsOwnPreviousState(t *testing.T) {
	// The engine takes the previous state from the state it folded last
	// when the event's is the same; these events say otherwise.
	state := func(seq uint64, js, prev string) hearth.Event {
		return hearth.Event{Seq: seq, Time: time.Unix(int64(seq), 0), Kind: hearth.KindState, Topic: "home/sensor",
			Device: "sensor", Payload: []byte(js), Prev: []byte(prev)}
	}
	cases := []struct {
		name   string
		events []hearth.Event
		want   []uint64
	}{
		{
			name:   "the state folded last is the previous one",
			events: []hearth.Event{state(1, `{"brightness":10}`, ``), state(2, `{"brightness":20}`, `{"brightness":10}`)},
			want:   []uint64{2},
		},
		{
			name:   "a previous state other than the one folded last is the event's",
			events: []hearth.Event{state(1, `{"brightness":10}`, ``), state(2, `{"brightness":20}`, `{"brightness":30}`)},
			want:   []uint64{},
		},
		{
			name:   "a state repeated after another previous state compares with that one",
			events: []hearth.Event{state(1, `{"brightness":10}`, ``), state(2, `{"brightness":10}`, `{"brightness":5}`)},
			want:   []uint64{2},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := start(t, `
- id: brighter
  mode: parallel
  triggers:
    - device: sensor
      when: brightness > prev.brightness
  actions:
    - set: lamp
      state: {state: "ON"}
`)
			for _, ev := range tc.events {
				f.e.Handle(ev)
			}
			if got := causes(f.finish()); !slices.Equal(got, tc.want) {
				t.Errorf("fired on events %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAStateEventThatChangesNothingDoesNotFireATriggerWithoutWhen(t *testing.T) {
	f := start(t, "- {id: any, mode: parallel, triggers: [{device: d}], actions: [{set: l, state: {on: true}}]}\n")
	f.e.Handle(f.house.set("d", `{"a":1}`))
	f.e.Handle(f.house.set("d", `{"a":1}`))
	if got := causes(f.finish()); !slices.Equal(got, []uint64{1}) {
		t.Errorf("fired on %v, want [1]", got)
	}
}

func TestAnMQTTTriggerFiresOnEveryMatchingMessage(t *testing.T) {
	f := start(t, `
- id: button
  mode: parallel
  triggers:
    - mqtt: home/+/button
      when: payload.action == "single" && topic != "home/ignored/button"
  actions:
    - set: lamp
      state: {state: "TOGGLE"}
- id: raw
  mode: parallel
  triggers:
    - mqtt: doorbell/#
  actions:
    - publish: log/doorbell
      payload: rang
`)
	h := f.house
	events := []hearth.Event{
		h.message("home/hall/button", `{"action":"single"}`),    // 1: fires button
		h.message("home/hall/button", `{"action":"double"}`),    // 2: when is false
		h.message("home/hall/button", `single`),                 // 3: not JSON: payload.action fails, false
		h.message("home/kitchen/button", `{"action":"single"}`), // 4: fires again: messages have no edge
		h.message("home/ignored/button", `{"action":"single"}`), // 5: when is false
		h.message("home/hall/button/x", `{"action":"single"}`),  // 6: + is one level
		h.message("doorbell", `anything`),                       // 7: fires raw (# matches the parent)
		h.message("doorbell/front", ``),                         // 8: fires raw
	}
	state := h.set("hall", `{"action":"single"}`) // 9: a state event is not a message
	state.Topic = "home/hall/button"
	events = append(events, state)
	for _, ev := range events {
		f.e.Handle(ev)
	}
	var button, raw []uint64
	for _, c := range f.finish() {
		switch c.Topic {
		case "home/lamp/set":
			button = append(button, c.Cause.Seq)
		case "log/doorbell":
			raw = append(raw, c.Cause.Seq)
		}
	}
	slices.Sort(button)
	slices.Sort(raw)
	if !slices.Equal(button, []uint64{1, 4}) || !slices.Equal(raw, []uint64{7, 8}) {
		t.Errorf("button fired on %v (want [1 4]), raw on %v (want [7 8])", button, raw)
	}
}

func TestConditionsSeeStatesTriggerAndNow(t *testing.T) {
	f := start(t, `
- id: dark_motion
  mode: parallel
  triggers:
    - device: hall_motion
      when: occupancy == true
  conditions:
    - states.hall_lux.illuminance < 30
    - trigger.device == "hall_motion" && trigger.state.occupancy == true && trigger.prev.occupancy != true
    - now.Hour() >= 18
  actions:
    - set: hall_light
      state: {state: "ON"}
- id: by_topic
  mode: parallel
  triggers:
    - mqtt: home/+/button
  conditions:
    - trigger.topic == "home/hall/button" && trigger.payload.action == "single"
  actions:
    - set: hall_light
      state: {state: "TOGGLE"}
`, hearth.DeviceState{ID: "hall_lux", State: map[string]any{"illuminance": 80.0}, Seq: 1})
	h := f.house
	h.seq = 1                                                         // the seed above is event 1
	f.e.Handle(h.set("hall_motion", `{"occupancy":true}`))            // 2: too bright (seeded state)
	f.e.Handle(h.set("hall_motion", `{"occupancy":false}`))           // 3
	f.e.Handle(h.set("hall_lux", `{"illuminance":12}`))               // 4: the engine folds it
	f.e.Handle(h.set("hall_motion", `{"occupancy":true}`))            // 5: fires
	f.e.Handle(h.message("home/hall/button", `{"action":"single"}`))  // 6: fires
	f.e.Handle(h.message("home/attic/button", `{"action":"single"}`)) // 7: condition false
	if got := causes(f.finish()); !slices.Equal(got, []uint64{5, 6}) {
		t.Errorf("fired on %v, want [5 6]", got)
	}
}

func TestAnEventOlderThanTheSeededStateDoesNotOverwriteIt(t *testing.T) {
	f := start(t, `
- id: c
  mode: parallel
  triggers: [{device: button}]
  conditions: ["states.lux.illuminance == 5"]
  actions: [{set: l, state: {on: true}}]
`, hearth.DeviceState{ID: "lux", State: map[string]any{"illuminance": 5.0}, Seq: 10})
	old := f.house.set("lux", `{"illuminance":99}`) // seq 1, older than the seed
	f.e.Handle(old)
	f.e.Handle(f.house.set("button", `{"pressed":true}`))
	if got := len(f.finish()); got != 1 {
		t.Errorf("got %d commands, want 1: the seeded state should stand", got)
	}
}

func TestSetThenDelayThenSetWaitsForTheClock(t *testing.T) {
	f := start(t, designExample, hearth.DeviceState{ID: "hall_lux", State: map[string]any{"illuminance": 10.0}})
	ev := f.house.set("hall_motion", `{"occupancy":true}`)
	f.e.Handle(ev)

	on := f.rec.wait(t, 1)[0]
	want := hearth.Command{
		Device: "hall_light", Topic: "home/hall_light/set", Payload: []byte(`{"brightness":200,"state":"ON"}`),
		Cause: hearth.Cause{Seq: ev.Seq, Run: "hall_light_on_motion#1", Source: "automation"},
	}
	if on.Device != want.Device || on.Topic != want.Topic || !jsonEqual(t, on.Payload, want.Payload) || on.Cause != want.Cause || on.QoS != 0 || on.Retain {
		t.Errorf("first command\n  %+v\nwant\n  %+v", on, want)
	}

	f.blockUntil(t, 1)
	f.clock.Advance(5*time.Minute - time.Second)
	if n := len(f.rec.all()); n != 1 || f.clock.Pending() != 1 {
		t.Fatalf("after 4m59s: %d commands and %d timers, want 1 and 1", n, f.clock.Pending())
	}
	f.clock.Advance(time.Second)
	off := f.rec.wait(t, 2)[1]
	if off.Topic != "home/hall_light/set" || string(off.Payload) != `{"state":"OFF"}` || off.Cause != want.Cause {
		t.Errorf("second command %+v, want OFF caused like the first", off)
	}
}

func TestABaseTopicOtherThanHomeIsUsedForSet(t *testing.T) {
	rec := newRecorder()
	e := New(Options{Commander: rec, BaseTopic: "house"})
	defer e.Close()
	e.Replace(load(t, "- {id: a, triggers: [{device: d}], actions: [{set: lamp, state: {on: true}}]}\n"))
	e.Handle(newHouse().set("d", `{"x":1}`))
	if got := rec.wait(t, 1)[0].Topic; got != "house/lamp/set" {
		t.Errorf("set published to %s, want house/lamp/set", got)
	}
}

func TestCloseCancelsADelayedRun(t *testing.T) {
	f := start(t, "- {id: a, triggers: [{device: d}], actions: [{delay: 1h}, {set: l, state: {on: true}}]}\n")
	f.e.Handle(f.house.set("d", `{"x":1}`))
	f.blockUntil(t, 1)
	f.e.Close()
	if cmds := f.rec.all(); len(cmds) != 0 {
		t.Errorf("got %v after Close, want nothing", describe(cmds))
	}
	if f.clock.Pending() != 0 {
		t.Errorf("Close left %d timers armed", f.clock.Pending())
	}
	f.e.Handle(f.house.set("d", `{"x":2}`)) // after Close: no run starts, nothing leaks
}

func TestReplaceSwapsTheAutomationsAndKeepsRunNumbers(t *testing.T) {
	f := start(t, "- {id: a, mode: parallel, triggers: [{device: d}], actions: [{set: one, state: {on: true}}]}\n")
	f.e.Handle(f.house.set("d", `{"x":1}`))
	f.rec.wait(t, 1)
	f.e.Replace(load(t, "- {id: a, mode: parallel, triggers: [{device: e}], actions: [{set: two, state: {on: true}}]}\n"))
	f.e.Handle(f.house.set("d", `{"x":2}`)) // no longer a trigger
	f.e.Handle(f.house.set("e", `{"x":1}`))
	cmds := f.finish()
	if got := describe(cmds); len(cmds) != 2 || cmds[1].Topic != "home/two/set" || cmds[1].Cause.Run != "a#2" {
		t.Errorf("got %v, want one then two, run a#2", got)
	}
}

func TestRunConsumesTheBusUntilItCloses(t *testing.T) {
	bus := hearth.NewBus(hearth.BusOptions{Size: 64})
	sub := bus.Subscribe("automations", hearth.MustNotMiss)
	rec := newRecorder()
	e := New(Options{Commander: rec, Logger: testLogger(t)})
	e.Replace(load(t, designExample))
	done := make(chan error, 1)
	go func() { done <- e.Consume(context.Background(), sub) }()

	// The devices stage is not here, so publish the state event it would emit.
	h := newHouse()
	for _, ev := range []hearth.Event{h.set("hall_lux", `{"illuminance":3}`), h.set("hall_motion", `{"occupancy":true}`)} {
		ev.Seq = 0
		if _, err := bus.Publish(ev); err != nil {
			t.Fatal(err)
		}
	}
	if c := rec.wait(t, 1)[0]; c.Cause.Seq != 2 || c.Cause.Run != "hall_light_on_motion#1" {
		t.Errorf("command caused by %+v, want event 2 and run hall_light_on_motion#1", c.Cause)
	}
	bus.Close()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v after the bus closed, want nil", err)
	}
	e.Close()
}

func TestRunStopsWhenItsContextIsDone(t *testing.T) {
	bus := hearth.NewBus(hearth.BusOptions{})
	defer bus.Close()
	e := New(Options{})
	defer e.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Consume(ctx, bus.Subscribe("automations", hearth.MustNotMiss)) }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}
