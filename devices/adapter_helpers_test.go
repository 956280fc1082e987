package devices

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"hearth"
)

// rig applies messages to a registry with every adapter on, the way the bus
// does, numbering them.
type rig struct {
	t   *testing.T
	r   *Registry
	seq uint64
}

// allAdapters turns every adapter on with its default base topic.
func newRig(t *testing.T) *rig {
	t.Helper()
	return newRigWith(t, Options{BaseTopic: "home", Adapters: Adapters()})
}

func newRigWith(t *testing.T, o Options) *rig {
	t.Helper()
	r, err := NewRegistry(o)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return &rig{t: t, r: r}
}

// send applies one event and returns it (as the stage left it) and what
// the registry emitted.
func (g *rig) send(kind hearth.Kind, topic string, payload []byte) (hearth.Event, []hearth.Event) {
	g.t.Helper()
	g.seq++
	e := hearth.Event{
		Seq: g.seq, Time: time.Unix(1700000000+int64(g.seq), 0).UTC(),
		Kind: kind, Topic: topic, Payload: payload,
	}
	var out []hearth.Event
	g.r.Apply(&e, func(d hearth.Event) {
		g.seq++
		d.Seq = g.seq
		out = append(out, d)
	})
	return e, out
}

// msg applies a message and returns what was emitted.
func (g *rig) msg(topic string, payload []byte) []hearth.Event {
	g.t.Helper()
	_, out := g.send(hearth.KindMessage, topic, payload)
	return out
}

// msgs applies a message given as a string.
func (g *rig) msgs(topic, payload string) []hearth.Event {
	g.t.Helper()
	return g.msg(topic, []byte(payload))
}

// state returns a device's state, failing when the device is unknown.
func (g *rig) state(id string) map[string]any {
	g.t.Helper()
	d, ok := g.r.Device(id)
	if !ok {
		g.t.Fatalf("device %q unknown; known: %v", id, g.ids())
	}
	return d.State
}

func (g *rig) ids() []string {
	var ids []string
	for _, d := range g.r.Devices() {
		ids = append(ids, d.ID)
	}
	return ids
}

// info returns a device's info, failing when the device is unknown.
func (g *rig) info(id string) hearth.DeviceInfo {
	g.t.Helper()
	in, ok := g.r.Info(id)
	if !ok {
		g.t.Fatalf("no info for device %q", id)
	}
	return in
}

// commands translates a hub command, failing on an error.
func (g *rig) commands(id, payload string) []hearth.Command {
	g.t.Helper()
	cmds, err := g.r.CommandFor(id, []byte(payload))
	if err != nil {
		g.t.Fatalf("CommandFor(%s, %s): %v", id, payload, err)
	}
	return cmds
}

// testdata reads a recorded payload.
func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameState compares a state with what is wanted, numbers as float64.
func sameState(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	w := map[string]any{}
	b, _ := json.Marshal(want)
	_ = json.Unmarshal(b, &w)
	if !reflect.DeepEqual(got, w) {
		t.Errorf("%s = %v\nwant %v", what, got, w)
	}
}

// capability finds a capability by attribute.
func capability(t *testing.T, in hearth.DeviceInfo, attr string) hearth.Capability {
	t.Helper()
	i := slices.IndexFunc(in.Capabilities, func(c hearth.Capability) bool { return c.Attr == attr })
	if i < 0 {
		t.Fatalf("device %s has no capability %q: %+v", in.ID, attr, in.Capabilities)
	}
	return in.Capabilities[i]
}

// cmdRow is a command as the tests compare it.
type cmdRow struct {
	Topic, Payload string
}

func rows(cmds []hearth.Command) []cmdRow {
	out := make([]cmdRow, len(cmds))
	for i, c := range cmds {
		out[i] = cmdRow{c.Topic, string(c.Payload)}
	}
	return out
}
