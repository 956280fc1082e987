package automations

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"hearth"
)

// recorder is a Commander that keeps what it was asked to send.
type recorder struct {
	mu      sync.Mutex
	cmds    []hearth.Command
	changed chan struct{}
}

var _ hearth.Commander = (*recorder)(nil)

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) Command(ctx context.Context, c hearth.Command) (hearth.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmds = append(r.cmds, c)
	close(r.changed)
	r.changed = make(chan struct{})
	return hearth.Event{Kind: hearth.KindCommand, Topic: c.Topic, Payload: c.Payload, Cause: c.Cause}, nil
}

// all returns the commands so far.
func (r *recorder) all() []hearth.Command {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.cmds)
}

// wait returns the commands once there are at least n.
func (r *recorder) wait(t *testing.T, n int) []hearth.Command {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		cmds, ch := slices.Clone(r.cmds), r.changed
		r.mu.Unlock()
		if len(cmds) >= n {
			return cmds
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("waited for %d commands, got %d: %v", n, len(cmds), describe(cmds))
		}
	}
}

// describe shows commands as "topic payload run" lines for failures.
func describe(cmds []hearth.Command) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = c.Topic + " " + string(c.Payload) + " " + c.Cause.Run
	}
	return out
}

// devices is a DeviceReader over fixed states.
type devices map[string]hearth.DeviceState

func (d devices) Device(id string) (hearth.DeviceState, bool) {
	s, ok := d[id]
	return s, ok
}

func (d devices) Devices() []hearth.DeviceState {
	out := make([]hearth.DeviceState, 0, len(d))
	for _, s := range d {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b hearth.DeviceState) int {
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	return out
}

// house makes events the way the bus and the devices stage would: sequence
// numbers in order, state events carrying the previous state.
type house struct {
	seq   uint64
	state map[string][]byte
}

func newHouse() *house { return &house{state: map[string][]byte{}} }

// set returns the state event of device's state becoming the JSON object js.
// A device's first state has {} before it, as the devices stage sends it.
func (h *house) set(device, js string) hearth.Event {
	h.seq++
	prev, ok := h.state[device]
	if !ok {
		prev = []byte("{}")
	}
	h.state[device] = []byte(js)
	return hearth.Event{
		Seq: h.seq, Time: time.Unix(int64(h.seq), 0), Kind: hearth.KindState,
		Topic: "home/" + device, Device: device, Payload: []byte(js), Prev: prev,
	}
}

// message returns the event of an MQTT message.
func (h *house) message(topic, payload string) hearth.Event {
	h.seq++
	return hearth.Event{Seq: h.seq, Time: time.Unix(int64(h.seq), 0), Kind: hearth.KindMessage, Topic: topic, Payload: []byte(payload)}
}

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// load loads automations from a real file in a temporary folder.
func load(t *testing.T, content string) *Set {
	t.Helper()
	set, err := Load(writeFile(t, t.TempDir(), "automations.yaml", content))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return set
}

// testLogger logs to the test's output at debug level.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

var _ io.Writer = testWriter{}

// fixture is an engine running automations from YAML with a fake clock.
type fixture struct {
	e     *Engine
	rec   *recorder
	clock *FakeClock
	house *house
}

// start loads content and starts an engine on it; the engine is closed when
// the test ends.
func start(t *testing.T, content string, known ...hearth.DeviceState) *fixture {
	t.Helper()
	f := &fixture{
		rec:   newRecorder(),
		clock: NewFakeClock(time.Date(2025, 11, 25, 20, 0, 0, 0, time.UTC)),
		house: newHouse(),
	}
	devs := devices{}
	for _, d := range known {
		devs[d.ID] = d
	}
	f.e = New(Options{Commander: f.rec, Devices: devs, Clock: f.clock, Logger: testLogger(t)})
	f.e.Replace(load(t, content))
	t.Cleanup(f.e.Close)
	return f
}

// finish lets every run end, closes the engine and returns all commands.
func (f *fixture) finish() []hearth.Command {
	f.e.wg.Wait() // no Handle is running, so no run can start meanwhile
	f.e.Close()
	return f.rec.all()
}

// blockUntil waits until n timers are armed on the fake clock.
func (f *fixture) blockUntil(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.clock.BlockUntil(ctx, n); err != nil {
		t.Fatalf("waiting for %d timers (have %d): %v", n, f.clock.Pending(), err)
	}
}

// causes returns the sorted sequence numbers of the events that caused cmds.
func causes(cmds []hearth.Command) []uint64 {
	out := make([]uint64, len(cmds))
	for i, c := range cmds {
		out[i] = c.Cause.Seq
	}
	slices.Sort(out)
	return out
}

// jsonEqual reports whether a and b hold the same JSON value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xj, _ := json.Marshal(x)
	yj, _ := json.Marshal(y)
	return string(xj) == string(yj)
}

type hearthCommand = hearth.Command

// finishAfter waits for n commands, then lets runs end and closes.
func (f *fixture) finishAfter(t *testing.T, n int) []hearth.Command {
	t.Helper()
	f.rec.wait(t, n)
	return f.finish()
}

// failing is a Commander whose every command fails after it is recorded.
type failing struct{ *recorder }

func (f *failing) Command(ctx context.Context, c hearth.Command) (hearth.Event, error) {
	f.recorder.Command(ctx, c)
	return hearth.Event{}, errors.New("broker is down")
}
