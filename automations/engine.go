package automations

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"hearth"
)

// Publisher logs an event on the bus (*hearth.Bus): the engine publishes
// each finished run's trace as a KindRun event.
type Publisher interface {
	Publish(e hearth.Event) (hearth.Event, error)
}

// EventLog reads runs back from the log (the store): the traces of one
// automation (Events, for the page) and, at start, the newest run of each
// automation at once, from which run numbers go on.
type EventLog interface {
	hearth.EventLog
	// NewestOnTopics returns the newest event of kind on each of topics, in
	// log order; a topic without one has none.
	NewestOnTopics(ctx context.Context, kind hearth.Kind, topics []string) ([]hearth.Event, error)
}

// DeviceInfos describes devices; *devices.Registry is one.
type DeviceInfos interface {
	Info(id string) (hearth.DeviceInfo, bool)
}

// Options configure an Engine.
type Options struct {
	// PlanThrough wraps a what-if's recorder of commands in what the live
	// hub sends commands through (its device commander: a Zigbee2MQTT
	// device's topic, refusals), so that Engine.WhatIf plans them as they
	// would go; nil plans them as the automations give them.
	PlanThrough func(hearth.Commander) hearth.Commander
	// Commander sends the commands of set, publish and scene actions.
	Commander hearth.Commander
	// Devices seeds the engine's view of device states when it starts; after
	// that the engine folds state events itself, in log order. It also tells
	// Load which devices exist (unknown ones are warnings).
	Devices hearth.DeviceReader
	// Infos say what devices have besides their state (Zigbee2MQTT's
	// exposes): Load counts their attributes among those an expression may
	// read without a typo warning. None when nil.
	Infos DeviceInfos
	// Clock arms delays and time triggers; the system clock when nil.
	Clock Clock
	// Logger receives the engine's logs; nothing is logged when nil.
	Logger *slog.Logger
	// BaseTopic is the first level of device topics; "home" when empty.
	BaseTopic string
	// Persist keeps pending timers and enabled flags across restarts; nil:
	// nothing survives a restart.
	Persist Persist
	// Events receives each finished run's trace as a KindRun event (the
	// *hearth.Bus); nil: traces stay in memory (the last few per automation).
	Events Publisher
	// Log reads traces back (the store); nil: from memory.
	Log EventLog
	// Latitude and Longitude (degrees, north and east positive) place the
	// house for sun triggers and the sunrise()/sunset() helpers; both zero
	// means not given, and sun triggers never fire.
	Latitude, Longitude float64
	// Location is the time zone of at, cron and time-window conditions;
	// time.Local when nil.
	Location *time.Location
	// MaxChain is how many runs may follow one another along causes (a run's
	// command triggering the next) before the chain is taken for a loop and
	// stopped; 8 when zero, no limit when negative.
	MaxChain int
	// StormRuns is how many runs one automation may start within StormWindow
	// before it is paused until the window ends; 60 when zero, no limit when
	// negative. StormWindow is 10s when zero.
	StormRuns   int
	StormWindow time.Duration
	// Notifier sends the notifications of notify actions (*notify.Notifier);
	// nil: a notify action is traced as not sent.
	Notifier Notifier
	// Channels are the notification channels there are; when set, a notify
	// action naming another is a load problem. Nil: not checked.
	Channels []string
}

// Notifier sends notifications to people (*notify.Notifier): Notify logs
// the notification as an event and returns it, and its channels deliver it
// afterwards, so a channel that is down never holds the run.
type Notifier interface {
	Notify(ctx context.Context, n hearth.Notification) (hearth.Event, error)
}

// Engine matches events against a Set of automations and runs their actions.
// One goroutine feeds it events (Consume, or Handle in tests); every run is a
// goroutine of its own that Close cancels and waits for.
type Engine struct {
	cmd         hearth.Commander
	notifier    Notifier
	channels    []string
	devices     hearth.DeviceReader
	infos       DeviceInfos
	planThrough func(hearth.Commander) hearth.Commander // what-if runs plan commands through it
	clock       Clock
	log         *slog.Logger
	base        string
	persist     Persist
	events      Publisher
	eventLog    EventLog
	where       where
	helpers     helpers
	maxChain    int
	stormRuns   int
	stormWindow time.Duration
	now         func() time.Time // the machine's clock, for latencies
	outcomes    outcomeCounts

	active atomic.Pointer[loaded]

	ctx      context.Context // parent of every run; cancelled by Close
	cancel   context.CancelFunc
	mu       sync.Mutex // guards closed and wg.Add against Close
	closed   bool
	shutdown atomic.Bool // Close has begun: stored timers stay stored
	wg       sync.WaitGroup
	idle     idle

	// handleMu serializes the consumer (Handle), the timers that fire
	// triggers, reloads and enabling: the scope, the runners' windows and
	// the states belong to whoever holds it.
	handleMu sync.Mutex
	scope    scope
	seeded   bool
	seeds    map[string]uint64 // seq of each seeded device state, until an event passes it
	resumed  atomic.Bool
	sched    scheduler

	// statesMu guards states and changed against runs reading them; the
	// consumer writes them (holding handleMu too) and reads them without it.
	statesMu sync.RWMutex
	states   states
	changed  map[string]int64  // when each device's state last changed (Unix ns)
	parsed   map[string][]byte // the payload each device's states entry was parsed from (consumer only)

	waitMu  sync.Mutex
	waiters map[*gate]struct{}
	nWait   atomic.Int32 // len(waiters), read without the lock

	lineage   lineage
	writer    *persister
	traceBufs sync.Pool // *[]byte, for writing traces as JSON

	ctlMu    sync.Mutex
	stats    map[string]*stats
	disabled map[string]bool
	problems []Problem
	loadedAt time.Time
}

// loaded is a Set with the engine's per-automation run state.
type loaded struct {
	set     *Set
	runners []*runner // by Automation.pos
}

// New returns an engine with no automations; give it some with Replace or
// Reload, then Resume (or let Consume do it) and Consume.
func New(o Options) *Engine {
	if o.Clock == nil {
		o.Clock = RealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BaseTopic == "" {
		o.BaseTopic = "home"
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.MaxChain == 0 {
		o.MaxChain = 8
	}
	if o.StormRuns == 0 {
		o.StormRuns = 60
	}
	if o.StormWindow <= 0 {
		o.StormWindow = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		cmd:         o.Commander,
		notifier:    o.Notifier,
		channels:    o.Channels,
		devices:     o.Devices,
		infos:       o.Infos,
		planThrough: o.PlanThrough,
		clock:       o.Clock,
		log:         o.Logger.With("component", "automations"),
		base:        o.BaseTopic,
		persist:     o.Persist,
		events:      o.Events,
		eventLog:    o.Log,
		where:       where{loc: o.Location, lat: o.Latitude, lon: o.Longitude, known: o.Latitude != 0 || o.Longitude != 0},
		maxChain:    o.MaxChain,
		stormRuns:   o.StormRuns,
		stormWindow: o.StormWindow,
		now:         time.Now,
		ctx:         ctx,
		cancel:      cancel,
		seeds:       map[string]uint64{},
		states:      states{},
		changed:     map[string]int64{},
		parsed:      map[string][]byte{},
		waiters:     map[*gate]struct{}{},
		stats:       map[string]*stats{},
		disabled:    map[string]bool{},
	}
	e.helpers = e.bindHelpers()
	e.scope = newScope(e.clock, e.log, e.states, e.helpers, e.where.loc)
	if e.persist != nil {
		e.writer = newPersister(e.persist, e.log)
	}
	e.Replace(nil)
	return e
}

// Set returns the automations the engine runs.
func (e *Engine) Set() *Set { return e.active.Load().set }

// Consume feeds the engine the events of sub until the bus is closed (nil)
// or ctx is done (nil). It resumes the stored timers first if Resume was
// not called. Call Close after it returns to end the runs.
func (e *Engine) Consume(ctx context.Context, sub *hearth.Subscription) error {
	if err := e.Resume(ctx); err != nil {
		e.log.Warn("pending timers not restored", "err", err)
	}
	buf := make([]hearth.Event, 256)
	for {
		evs, err := sub.Read(ctx, buf)
		for _, ev := range evs {
			if ev.Kind == hearth.KindRun {
				continue // the engine's own traces
			}
			e.Handle(ev)
		}
		switch {
		case err == nil:
		case errors.Is(err, hearth.ErrClosed), ctx.Err() != nil:
			return nil
		case errors.Is(err, hearth.ErrGap):
			// Only a MayLag subscription gets gaps; automations should not be one.
			e.log.Warn("events were skipped: subscribe the engine with hearth.MustNotMiss", "subscription", sub.Name())
		default:
			return fmt.Errorf("automations: read events: %w", err)
		}
	}
}

// Handle matches one event and starts the runs it triggers; it returns once
// they are started, not finished. Events must come in log order.
func (e *Engine) Handle(ev hearth.Event) {
	e.handleMu.Lock()
	defer e.handleMu.Unlock()
	if !e.seeded {
		e.seed()
	}
	l := e.active.Load()
	s := &e.scope
	s.begin(ev)
	defer s.end()
	switch ev.Kind {
	case hearth.KindState:
		if ev.Device == "" {
			break
		}
		e.fold(s)
		e.notifyWaiters()
		for _, t := range l.set.index.devices[ev.Device] {
			e.deviceEvent(l, t, s)
		}
	case hearth.KindMessage, hearth.KindCommand:
		s.matched = l.set.index.topics.match(ev.Topic, s.matched[:0])
		for _, t := range s.matched {
			if ok, err := t.fires(s); ok {
				e.fire(l, &t.triggerBase, s)
			} else {
				e.missWhen(l.runners[t.auto.pos], &t.triggerBase, t.when, s.mqttEnv(), s, err)
			}
		}
	}
}

// Close cancels every run and waits for them to end; timers that were
// stored stay stored, so the next start resumes them. Handle starts no run
// after Close.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.shutdown.Store(true)
	e.handleMu.Lock()
	e.sched.stop()
	if l := e.active.Load(); l != nil {
		for _, rn := range l.runners {
			for _, w := range rn.windows {
				if w != nil {
					w.stop()
				}
			}
		}
	}
	e.handleMu.Unlock()
	e.cancel()
	e.wg.Wait()
	if e.writer != nil {
		e.writer.close()
	}
}

// stopping reports whether Close has begun.
func (e *Engine) stopping() bool { return e.shutdown.Load() }

// seed takes the device states known when the engine starts.
func (e *Engine) seed() {
	e.seeded = true
	if e.devices == nil {
		return
	}
	e.statesMu.Lock()
	defer e.statesMu.Unlock()
	for _, d := range e.devices.Devices() {
		e.states[d.ID] = d.State
		if !d.Updated.IsZero() {
			e.changed[d.ID] = d.Updated.UnixNano()
		}
		e.seeds[d.ID] = d.Seq
	}
}

// fold records a state event's new attributes in the engine's view of the
// house, unless the seed was already newer. The previous state is most
// often the one folded last for the device, byte for byte: its attributes
// are taken from there rather than parsed again (nobody changes them).
func (e *Engine) fold(s *scope) {
	dev := s.event.Device
	old, last := e.states[dev], e.parsed[dev]
	if last != nil && bytes.Equal(last, s.event.Prev) {
		s.prev, s.havePrev = old, true
	}
	var attrs map[string]any
	ok := false
	if last != nil && bytes.Equal(last, s.event.Payload) {
		attrs, ok = old, true // a state repeated
	} else {
		attrs, ok = parseObject(s.event.Payload)
	}
	if !ok {
		e.log.Warn("state event payload is not a JSON object", "seq", s.event.Seq, "device", dev)
		attrs = map[string]any{}
	}
	s.attrs = attrs
	if seen, ok := e.seeds[dev]; ok {
		if s.event.Seq <= seen {
			return
		}
		delete(e.seeds, dev)
	}
	if ok {
		e.parsed[dev] = s.event.Payload
	} else {
		delete(e.parsed, dev)
	}
	e.statesMu.Lock()
	e.states[dev] = attrs
	if s.changed() && !s.event.Time.IsZero() {
		e.changed[dev] = s.event.Time.UnixNano()
	}
	e.statesMu.Unlock()
}

// notifyWaiters wakes the wait actions, to check their conditions again.
func (e *Engine) notifyWaiters() {
	if e.nWait.Load() == 0 {
		return
	}
	e.waitMu.Lock()
	defer e.waitMu.Unlock()
	for g := range e.waiters {
		g.open()
		delete(e.waiters, g)
	}
	e.nWait.Store(int32(len(e.waiters)))
}

func (e *Engine) addWaiter(g *gate) {
	e.waitMu.Lock()
	e.waiters[g] = struct{}{}
	e.nWait.Store(int32(len(e.waiters)))
	e.waitMu.Unlock()
}

func (e *Engine) removeWaiter(g *gate) {
	e.waitMu.Lock()
	delete(e.waiters, g)
	e.nWait.Store(int32(len(e.waiters)))
	e.waitMu.Unlock()
}

// statsFor returns the statistics kept for an automation id.
func (e *Engine) statsFor(id string) *stats {
	e.ctlMu.Lock()
	defer e.ctlMu.Unlock()
	st, ok := e.stats[id]
	if !ok {
		st = &stats{topic: traceTopic(id)}
		e.stats[id] = st
	}
	return st
}
