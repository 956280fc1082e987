package automations

import (
	"context"
	"fmt"
	"testing"
	"time"

	"hearth"
	"hearth/internal/benchhouse"
)

// chanCommander hands each command to the benchmark through a channel.
type chanCommander chan hearth.Command

func (c chanCommander) Command(ctx context.Context, cmd hearth.Command) (hearth.Event, error) {
	c <- cmd
	return hearth.Event{}, nil
}

// noLog is an event log that holds nothing: the engine keeps no traces in
// memory when it has a log, as in the hub.
type noLog struct{}

func (noLog) Events(context.Context, hearth.EventQuery) ([]hearth.Event, error) { return nil, nil }
func (noLog) NewestOnTopics(context.Context, hearth.Kind, []string) ([]hearth.Event, error) {
	return nil, nil
}

// benchEngine loads n automations motion_i -> light_i (a `when`, and a
// condition over lux_i's state) with every lux_i dark.
func benchEngine(b *testing.B, n int) (*Engine, chanCommander) {
	b.Helper()
	set, err := LoadBytes("bench.yaml", []byte(manyAutomations(n)))
	if err != nil {
		b.Fatal(err)
	}
	devs := devices{}
	for i := range n {
		id := fmt.Sprintf("lux_%d", i)
		devs[id] = hearth.DeviceState{ID: id, State: map[string]any{"illuminance": 10.0}}
	}
	cmds := make(chanCommander, 1)
	// The storm guard is off: a benchmark starts far more runs a second than a house.
	e := New(Options{Commander: cmds, Devices: devs, StormRuns: -1})
	e.Replace(set)
	b.Cleanup(e.Close)
	return e, cmds
}

// BenchmarkHandle is the hot path: a motion sensor's state event in,
// matched against 1,000 automations, its conditions checked, a run started
// and the light's command out.
func BenchmarkHandle(b *testing.B) {
	e, cmds := benchEngine(b, 1000)
	ev := hearth.Event{
		Seq: 1, Kind: hearth.KindState, Topic: "home/motion_500", Device: "motion_500",
		Payload: []byte(`{"occupancy":true,"illuminance":3,"battery":97}`),
		Prev:    []byte(`{"occupancy":false,"illuminance":3,"battery":97}`),
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Handle(ev)
		if c := <-cmds; c.Device != "light_500" {
			b.Fatalf("command to %s", c.Device)
		}
	}
}

// BenchmarkHandleUninteresting is an event no automation names: what most
// events cost (the engine still folds the state). The temperature goes up
// and down in turn, so that each state is new and its previous state the
// one before.
func BenchmarkHandleUninteresting(b *testing.B) {
	e, _ := benchEngine(b, 1000)
	up, down := []byte(`{"temperature":21.5,"humidity":40}`), []byte(`{"temperature":21.4,"humidity":40}`)
	evs := [2]hearth.Event{
		{Kind: hearth.KindState, Topic: "home/thermometer", Device: "thermometer", Payload: up, Prev: down},
		{Kind: hearth.KindState, Topic: "home/thermometer", Device: "thermometer", Payload: down, Prev: up},
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev := evs[i%2]
		ev.Seq = uint64(i + 1)
		e.Handle(ev)
	}
}

// BenchmarkMatchTopic matches a topic against 1,000 exact filters and a few
// wildcards.
func BenchmarkMatchTopic(b *testing.B) {
	var trie topicTrie[int]
	for i := range 1000 {
		trie.insert(fmt.Sprintf("home/button_%d/action", i), i)
	}
	for i, f := range []string{"home/+/action", "home/#", "zigbee2mqtt/+/set", "+/button_500/+"} {
		trie.insert(f, 1000+i)
	}
	var dst []int
	b.ReportAllocs()
	for b.Loop() {
		dst = trie.match("home/button_500/action", dst[:0])
	}
	if len(dst) != 4 {
		b.Fatalf("matched %v", dst)
	}
}

// BenchmarkMatch10000 is an event few of 10,000 automations care about: a
// state event of a device one of them names, whose `when` is false (a near
// miss is recorded), and a message whose topic only wildcards come near.
func BenchmarkMatch10000(b *testing.B) {
	e, _ := benchEngine(b, 10000)
	state := hearth.Event{
		Seq: 1, Kind: hearth.KindState, Topic: "home/motion_5000", Device: "motion_5000",
		Payload: []byte(`{"occupancy":false,"battery":97}`), Prev: []byte(`{"occupancy":false,"battery":98}`),
	}
	msg := hearth.Event{Seq: 2, Kind: hearth.KindMessage, Topic: "home/garden/soil", Payload: []byte(`{"moisture":40}`)}
	b.Run("a state event one automation names", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e.Handle(state)
		}
	})
	b.Run("a message no filter matches", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e.Handle(msg)
		}
	})
}

// BenchmarkConditions evaluates an automation's conditions as the consumer
// does when a trigger fires: an expression over states, an or block with a
// helper, and a time window.
func BenchmarkConditions(b *testing.B) {
	set, err := LoadBytes("c.yaml", []byte(`
- id: c
  triggers: [{device: d}]
  conditions:
    - states.hall_lux.illuminance < 30 && trigger.state.occupancy == true
    - or: ['since("hall_motion") > duration("10m")', "now.Hour() >= 18"]
    - {after: "17:00", before: "06:00"}
  actions: [{delay: 1s}]
`))
	if err != nil {
		b.Fatal(err)
	}
	e := New(Options{Clock: NewFakeClock(time.Date(2025, 11, 25, 20, 0, 0, 0, time.UTC)), Location: time.UTC})
	b.Cleanup(e.Close)
	e.states["hall_lux"] = map[string]any{"illuminance": 10.0}
	a := set.automations[0]
	env := &runEnv{helpers: e.helpers, States: e.states, Trigger: triggerVars{State: map[string]any{"occupancy": true}}, Now: e.clock.Now()}
	ev := &e.scope.ev
	b.ReportAllocs()
	for b.Loop() {
		if failed, _ := allHold(ev, env, a.conditions); failed != nil {
			b.Fatalf("%s does not hold", failed.text())
		}
	}
}

// BenchmarkRunWithTrace is a whole run: the event in, conditions, a run
// started, two commands, and its trace written as JSON and published on a
// bus as a KindRun event.
func BenchmarkRunWithTrace(b *testing.B) {
	set, err := LoadBytes("r.yaml", []byte(`
- id: r
  mode: parallel
  triggers: [{device: motion, when: "occupancy == true"}]
  conditions: ["states.lux.illuminance < 30"]
  actions:
    - set: light
      state: {state: "ON", brightness: "{{ trigger.state.illuminance < 10 ? 80 : 254 }}"}
    - publish: log/motion
      payload: "motion in {{ trigger.device }}"
`))
	if err != nil {
		b.Fatal(err)
	}
	bus := hearth.NewBus(hearth.BusOptions{}) // no reader: publishing never waits
	b.Cleanup(bus.Close)
	cmds := make(chanCommander, 2)
	e := New(Options{Commander: cmds, Events: bus, StormRuns: -1,
		Devices: devices{"lux": {ID: "lux", State: map[string]any{"illuminance": 10.0}}}})
	b.Cleanup(e.Close)
	e.Replace(set)
	ev := hearth.Event{
		Seq: 1, Kind: hearth.KindState, Topic: "home/motion", Device: "motion",
		Payload: []byte(`{"occupancy":true,"illuminance":3}`), Prev: []byte(`{"occupancy":false,"illuminance":3}`),
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e.Handle(ev)
		<-cmds
		<-cmds
		if err := e.settle(ctx); err != nil { // the trace is published before the run counts as done
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad is the start-up's share of the automations: reading,
// checking and compiling the file of the end-to-end benchmark (1,000 pairs of
// motion i turns light i on and off, with conditions).
func BenchmarkLoad(b *testing.B) {
	data := benchhouse.Automations(1000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadBytes("bench.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBenchHouseEvent is one sensor event of the end-to-end benchmark
// (scripts/bench), as the engine sees it with 2,000 automations loaded: a
// motion sensor's message, its state change (which fires one automation,
// whose two conditions hold, and is a near miss for the opposite one), the
// light's command coming back, and the run's trace written as JSON and
// published. As in the benchmark, the events go round the 1,000 sensors and
// each sensor's occupancy goes on and off in turn.
func BenchmarkBenchHouseEvent(b *testing.B) {
	const n = 1000
	set, err := LoadBytes("bench.yaml", benchhouse.Automations(n))
	if err != nil {
		b.Fatal(err)
	}
	devs := devices{"house": {ID: "house", State: map[string]any{"mode": "home"}}}
	motion, topics, lights := make([]string, n), make([]string, n), make([]string, n)
	for i := range n {
		id := fmt.Sprintf("lux_%d", i)
		devs[id] = hearth.DeviceState{ID: id, State: map[string]any{"illuminance": 12.0}}
		motion[i], lights[i] = fmt.Sprintf("motion_%d", i), fmt.Sprintf("light_%d", i)
		topics[i] = "home/" + motion[i]
	}
	bus := hearth.NewBus(hearth.BusOptions{}) // no reader: publishing never waits
	b.Cleanup(bus.Close)
	cmds := make(chanCommander, 1)
	// As in the hub, traces go to the log rather than being kept in memory.
	e := New(Options{Commander: cmds, Events: bus, Log: noLog{}, Devices: devs, StormRuns: -1})
	b.Cleanup(e.Close)
	e.Replace(set)
	on, off := []byte(`{"occupancy":true}`), []byte(`{"occupancy":false}`)
	ctx := context.Background()
	seq := uint64(0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d := i % n
		now, before, light := on, off, `{"brightness":200,"state":"ON"}`
		if i/n%2 == 1 {
			now, before, light = off, on, `{"state":"OFF"}`
		}
		seq += 3
		e.Handle(hearth.Event{Seq: seq - 2, Kind: hearth.KindMessage, Topic: topics[d], Payload: now})
		e.Handle(hearth.Event{Seq: seq - 1, Kind: hearth.KindState, Topic: topics[d], Device: motion[d], Payload: now, Prev: before})
		c := <-cmds
		if c.Device != lights[d] || string(c.Payload) != light {
			b.Fatalf("command %s to %s", c.Payload, c.Device)
		}
		e.Handle(hearth.Event{Seq: seq, Kind: hearth.KindCommand, Topic: c.Topic, Device: c.Device, Payload: c.Payload, Cause: c.Cause})
		if err := e.settle(ctx); err != nil { // the trace is published before the run counts as done
			b.Fatal(err)
		}
	}
}
