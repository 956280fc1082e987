package automations

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"hearth"
)

// live is an engine fed from a real bus, with a commander that logs its
// commands on the bus as the broker does, a log of every event (an
// EventLog, as the store is) and a fake clock that also stamps events.
// The test goroutine pumps the bus into the engine (pump, settle), so every
// step is deterministic.
type live struct {
	t       *testing.T
	bus     *hearth.Bus
	e       *Engine
	clock   *FakeClock
	sub     *hearth.Subscription
	logSub  *hearth.Subscription
	log     *memLog
	cmds    *busCommander
	persist *memPersist
	buf     []hearth.Event
}

// liveStart starts an engine on content; opt may change the options.
func liveStart(t *testing.T, content string, opt func(*Options)) *live {
	t.Helper()
	return liveOn(t, NewFakeClock(time.Date(2025, 11, 25, 20, 0, 0, 0, time.UTC)), newMemPersist(), &memLog{}, content, opt)
}

// liveOn starts an engine on a given clock, store and log, as a restart does.
func liveOn(t *testing.T, clock *FakeClock, p *memPersist, log *memLog, content string, opt func(*Options)) *live {
	t.Helper()
	l := &live{t: t, clock: clock, persist: p, log: log, buf: make([]hearth.Event, 64)}
	var next uint64 = 1
	if evs := log.all(); len(evs) > 0 {
		next = evs[len(evs)-1].Seq + 1 // the log goes on after a restart
	}
	l.bus = hearth.NewBus(hearth.BusOptions{Now: clock.Now, Size: 1024, NextSeq: next})
	l.sub = l.bus.Subscribe("automations", hearth.MustNotMiss)
	l.logSub = l.bus.Subscribe("log", hearth.MustNotMiss)
	l.cmds = &busCommander{bus: l.bus}
	o := Options{Commander: l.cmds, Clock: clock, Logger: testLogger(t), Events: l.bus, Log: l.log, Persist: p, Location: time.UTC}
	if opt != nil {
		opt(&o)
	}
	l.e = New(o)
	if content != "" {
		set, err := l.e.LoadBytes("automations.yaml", []byte(content))
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		l.e.Replace(set)
	}
	t.Cleanup(l.close)
	return l
}

// close stops the engine, as the hub's shutdown does, and pumps what it
// logged on the way (the interrupted runs' traces).
func (l *live) close() {
	l.e.Close()
	l.pump()
	l.bus.Close()
}

// pump hands every event published so far to the engine and the log; it
// returns how many there were.
func (l *live) pump() int {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Read returns what is there, and an error when nothing is
	n := 0
	for {
		evs, err := l.sub.Read(ctx, l.buf)
		if err != nil {
			break
		}
		for _, ev := range evs {
			if ev.Kind != hearth.KindRun {
				l.e.Handle(ev)
			}
		}
		n += len(evs)
	}
	for {
		evs, err := l.logSub.Read(ctx, l.buf)
		if err != nil {
			break
		}
		l.log.add(evs...)
	}
	return n
}

// settle pumps until the engine is idle and the bus has nothing new: every
// run is done or waiting on the clock or a state.
func (l *live) settle() {
	l.t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := l.e.settle(ctx)
		cancel()
		if err != nil {
			l.t.Fatalf("the engine did not settle: %v", err)
		}
		if l.pump() == 0 {
			return
		}
	}
}

// publish publishes ev on the bus and settles.
func (l *live) publish(ev hearth.Event) hearth.Event {
	l.t.Helper()
	ev.Seq = 0
	ev.Time = time.Time{}
	out, err := l.bus.Publish(ev)
	if err != nil {
		l.t.Fatal(err)
	}
	l.settle()
	return out
}

// state publishes a state event of device, as the devices stage would:
// after {} when it is the device's first.
func (l *live) state(device, js string) hearth.Event {
	l.t.Helper()
	prev, ok := l.lastState(device)
	if !ok {
		prev = []byte("{}")
	}
	return l.publish(hearth.Event{Kind: hearth.KindState, Topic: "home/" + device, Device: device, Payload: []byte(js), Prev: prev})
}

// message publishes an MQTT message.
func (l *live) message(topic, payload string) hearth.Event {
	l.t.Helper()
	return l.publish(hearth.Event{Kind: hearth.KindMessage, Topic: topic, Payload: []byte(payload)})
}

func (l *live) lastState(device string) ([]byte, bool) {
	for _, ev := range slices.Backward(l.log.all()) {
		if ev.Kind == hearth.KindState && ev.Device == device {
			return ev.Payload, true
		}
	}
	return nil, false
}

// advance moves the clock by d, one timer at a time, settling after each.
func (l *live) advance(d time.Duration) {
	l.t.Helper()
	target := l.clock.Now().Add(d)
	for {
		l.settle()
		if !l.clock.fireNext(target) {
			break
		}
	}
	l.clock.moveTo(target)
	l.settle()
}

// commands returns the commands logged so far as "HH:MM:SS topic payload run".
func (l *live) commands() []string {
	var out []string
	for _, ev := range l.log.all() {
		if ev.Kind == hearth.KindCommand {
			out = append(out, fmt.Sprintf("%s %s %s %s", ev.Time.Format("15:04:05"), ev.Topic, ev.Payload, ev.Cause.Run))
		}
	}
	return out
}

// traces returns an automation's traces, newest first.
func (l *live) traces(id string) []hearth.Trace {
	l.t.Helper()
	trs, err := l.e.Traces(context.Background(), id, 100)
	if err != nil {
		l.t.Fatal(err)
	}
	return trs
}

// busCommander logs a command on the bus as the broker does.
type busCommander struct{ bus *hearth.Bus }

func (b *busCommander) Command(ctx context.Context, c hearth.Command) (hearth.Event, error) {
	return b.bus.Publish(hearth.Event{Kind: hearth.KindCommand, Topic: c.Topic, Device: c.Device, Payload: c.Payload, QoS: c.QoS, Retain: c.Retain, Cause: c.Cause})
}

// memLog is an EventLog in memory.
type memLog struct {
	mu  sync.Mutex
	evs []hearth.Event
}

func (m *memLog) add(evs ...hearth.Event) {
	m.mu.Lock()
	m.evs = append(m.evs, evs...)
	m.mu.Unlock()
}

func (m *memLog) all() []hearth.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.evs)
}

// NewestOnTopics is what the store does in one query, by a walk back.
func (m *memLog) NewestOnTopics(ctx context.Context, kind hearth.Kind, topics []string) ([]hearth.Event, error) {
	var out []hearth.Event
	for _, topic := range topics {
		evs, _ := m.Events(ctx, hearth.EventQuery{Kind: kind, Topic: topic, Limit: 1})
		out = append(out, evs...)
	}
	slices.SortFunc(out, func(a, b hearth.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

func (m *memLog) Events(ctx context.Context, q hearth.EventQuery) ([]hearth.Event, error) {
	var out []hearth.Event
	for _, ev := range slices.Backward(m.all()) {
		if (q.Kind != "" && ev.Kind != q.Kind) || (q.Topic != "" && ev.Topic != q.Topic) || (q.Device != "" && ev.Device != q.Device) ||
			(q.Before != 0 && ev.Seq >= q.Before) {
			continue
		}
		out = append(out, ev)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

// memPersist is a Persist in memory.
type memPersist struct {
	mu       sync.Mutex
	timers   map[string]hearth.PendingTimer
	disabled map[string]bool
}

var _ Persist = (*memPersist)(nil)

func newMemPersist() *memPersist {
	return &memPersist{timers: map[string]hearth.PendingTimer{}, disabled: map[string]bool{}}
}

func (m *memPersist) SaveTimer(ctx context.Context, t hearth.PendingTimer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.timers[t.ID] = t
	return nil
}

func (m *memPersist) DeleteTimer(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.timers, id)
	return nil
}

func (m *memPersist) Timers(ctx context.Context) ([]hearth.PendingTimer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []hearth.PendingTimer
	for _, t := range m.timers {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b hearth.PendingTimer) int { return a.Due.Compare(b.Due) })
	return out, nil
}

func (m *memPersist) SetEnabled(ctx context.Context, automation string, enabled bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if enabled {
		delete(m.disabled, automation)
	} else {
		m.disabled[automation] = true
	}
	return nil
}

func (m *memPersist) Disabled(ctx context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for id := range m.disabled {
		out = append(out, id)
	}
	slices.Sort(out)
	return out, nil
}

// timerIDs returns the ids of the stored timers, once the engine wrote them.
func (l *live) timerIDs() []string {
	if l.e.writer != nil {
		l.e.writer.sync()
	}
	l.persist.mu.Lock()
	defer l.persist.mu.Unlock()
	var out []string
	for id := range l.persist.timers {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// want compares string lists.
func want(t *testing.T, what string, got, wanted []string) {
	t.Helper()
	if !slices.Equal(got, wanted) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, wanted)
	}
}

// devicesFromLog is the read model a restarted hub would have: the last
// state event of each device in the log.
func devicesFromLog(evs []hearth.Event) devices {
	d := devices{}
	for _, ev := range evs {
		if ev.Kind == hearth.KindState {
			st, _ := parseObject(ev.Payload)
			d[ev.Device] = hearth.DeviceState{ID: ev.Device, State: st, Updated: ev.Time, Seq: ev.Seq}
		}
	}
	return d
}
