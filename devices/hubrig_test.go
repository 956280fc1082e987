package devices

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"

	"hearth"
)

// fakeClock is a Clock that only moves when told to; timers due run on
// the goroutine that calls Advance.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c  *fakeClock
	at time.Time
	f  func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 20, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	i := slices.Index(t.c.timers, t)
	if i < 0 {
		return false
	}
	t.c.timers = slices.Delete(t.c.timers, i, i+1)
	return true
}

// Advance moves the clock by d, running the timers that come due, earliest
// first, each with the clock at its due time.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		next := -1
		for i, t := range c.timers {
			if !t.at.After(target) && (next < 0 || t.at.Before(c.timers[next].at)) {
				next = i
			}
		}
		if next < 0 {
			c.now = target
			c.mu.Unlock()
			return
		}
		t := c.timers[next]
		c.timers = slices.Delete(c.timers, next, next+1)
		c.now = t.at
		c.mu.Unlock()
		t.f()
	}
}

// busCommander is the broker's Commander in small: the command is logged
// on the bus first, then published through mochi's inline client, which
// the live hub does not log again.
type busCommander struct {
	bus *hearth.Bus
	srv *mochi.Server
}

func (c *busCommander) Command(_ context.Context, cmd hearth.Command) (hearth.Event, error) {
	payload := bytes.Clone(cmd.Payload)
	ev, err := c.bus.Publish(hearth.Event{
		Kind: hearth.KindCommand, Topic: cmd.Topic, Device: cmd.Device, Payload: payload,
		QoS: cmd.QoS, Retain: cmd.Retain, Cause: cmd.Cause,
	})
	if err != nil {
		return hearth.Event{}, err
	}
	return ev, c.srv.Publish(cmd.Topic, payload, cmd.Retain, cmd.QoS)
}

// lockedBuffer collects log lines from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// hubRig is a live hub (a throwaway mochi broker, a real bus and registry)
// with a fake clock and a commander, for the hub's own devices.
type hubRig struct {
	*liveHub
	clock   *fakeClock
	cmd     *busCommander
	logs    *lockedBuffer
	pending []hearth.Event // read from the bus, not yet looked at
}

// awaitEvent looks at the events in log order until one satisfies ok and
// returns it; the events after it are looked at by the next call.
func (g *hubRig) awaitEvent(t *testing.T, what string, ok func(hearth.Event) bool) hearth.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	buf := make([]hearth.Event, 64)
	for {
		for len(g.pending) > 0 {
			e := g.pending[0]
			g.pending = g.pending[1:]
			if ok(e) {
				return e
			}
		}
		got, err := g.sub.Read(ctx, buf)
		if err != nil && err != hearth.ErrGap {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		g.pending = append(g.pending, got...)
	}
}

func newHubRig(t *testing.T, o Options) *hubRig {
	t.Helper()
	h := startLiveHub(t, o)
	return &hubRig{liveHub: h, clock: newFakeClock(), cmd: &busCommander{bus: h.bus, srv: h.srv}, logs: &lockedBuffer{}}
}

func (g *hubRig) options() HubOptions {
	log := slog.New(slog.NewTextHandler(g.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return HubOptions{Registry: g.reg, Commander: g.cmd, Clock: g.clock, Logger: log}
}

// consume runs a component's Consume on a must-not-miss subscription until
// the test ends, then closes the component.
func (g *hubRig) consume(t *testing.T, name string, run func(context.Context, *hearth.Subscription) error, closeIt func()) {
	t.Helper()
	sub := g.bus.Subscribe(name, hearth.MustNotMiss)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, sub) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
		sub.Close()
		closeIt()
	})
}

func (g *hubRig) startAlarm(t *testing.T, cfg AlarmConfig) *Alarm {
	t.Helper()
	a, err := NewAlarm(cfg, g.options())
	if err != nil {
		t.Fatal(err)
	}
	g.consume(t, "alarm", a.Consume, a.Close)
	return a
}

func (g *hubRig) startHouse(t *testing.T, cfg HouseConfig) *House {
	t.Helper()
	h, err := NewHouse(cfg, g.options())
	if err != nil {
		t.Fatal(err)
	}
	g.consume(t, "house", h.Consume, h.Close)
	return h
}

// command sends a hub command to device id the way the page and the
// automations do: CommandFor, then the Commander. It returns the logged
// command event.
func (g *hubRig) command(t *testing.T, id, payload string, cause hearth.Cause) hearth.Event {
	t.Helper()
	cmds, err := g.reg.CommandFor(id, []byte(payload))
	if err != nil {
		t.Fatalf("CommandFor(%s, %s): %v", id, payload, err)
	}
	c := cmds[0]
	c.Cause = cause
	ev, err := g.cmd.Command(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// reply waits for what a hub device published in answer to the event with
// sequence number seq, and returns it decoded.
func (g *hubRig) reply(t *testing.T, id string, seq uint64) map[string]any {
	t.Helper()
	ev := g.awaitEvent(t, id+"'s answer to event "+itoa(seq), func(e hearth.Event) bool {
		return e.Kind == hearth.KindCommand && e.Topic == "home/"+id && e.Cause.Seq == seq
	})
	return decodeState(t, ev.Payload)
}

// awaitState waits for a state event of device id for which ok holds, and
// returns the new state.
func (g *hubRig) awaitState(t *testing.T, id, what string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	var st map[string]any
	g.awaitEvent(t, what, func(e hearth.Event) bool {
		if e.Kind != hearth.KindState || e.Device != id {
			return false
		}
		st = decodeState(t, e.Payload)
		return ok(st)
	})
	return st
}

// awaitAlarm waits for the alarm's state to become state.
func (g *hubRig) awaitAlarm(t *testing.T, state string) map[string]any {
	t.Helper()
	return g.awaitState(t, AlarmID, "the alarm "+state, func(m map[string]any) bool { return m["state"] == state })
}

func decodeState(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("payload %s: %v", b, err)
	}
	return m
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
