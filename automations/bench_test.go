package automations

import (
	"context"
	"fmt"
	"testing"

	"hearth"
)

// chanCommander hands each command to the benchmark through a channel.
type chanCommander chan hearth.Command

func (c chanCommander) Command(ctx context.Context, cmd hearth.Command) (hearth.Event, error) {
	c <- cmd
	return hearth.Event{}, nil
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
	e := New(Options{Commander: cmds, Devices: devs})
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
// events cost (the engine still folds the state).
func BenchmarkHandleUninteresting(b *testing.B) {
	e, _ := benchEngine(b, 1000)
	ev := hearth.Event{
		Seq: 1, Kind: hearth.KindState, Topic: "home/thermometer", Device: "thermometer",
		Payload: []byte(`{"temperature":21.5,"humidity":40}`),
		Prev:    []byte(`{"temperature":21.4,"humidity":40}`),
	}
	b.ReportAllocs()
	for b.Loop() {
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
