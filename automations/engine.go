package automations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"hearth"
)

// Options configure an Engine.
type Options struct {
	// Commander sends the commands of set and publish actions.
	Commander hearth.Commander
	// Devices seeds the engine's view of device states when it starts; after
	// that the engine folds state events itself, in log order.
	Devices hearth.DeviceReader
	// Clock arms delays; the system clock when nil.
	Clock Clock
	// Logger receives the engine's logs; nothing is logged when nil.
	Logger *slog.Logger
	// BaseTopic is the first level of device topics; "home" when empty.
	BaseTopic string
}

// Engine matches events against a Set of automations and runs their actions.
// One goroutine feeds it events (Run, or Handle in tests); every run is a
// goroutine of its own that Close cancels and waits for.
type Engine struct {
	cmd     hearth.Commander
	devices hearth.DeviceReader
	clock   Clock
	log     *slog.Logger
	base    string

	active atomic.Pointer[loaded]

	ctx    context.Context // parent of every run; cancelled by Close
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add against Close
	closed bool
	wg     sync.WaitGroup

	// handleMu serializes Handle: the scope and the states it holds belong
	// to whichever goroutine is handling an event.
	handleMu sync.Mutex
	scope    scope
	seeded   bool
	seeds    map[string]uint64 // seq of each seeded device state, until an event passes it
}

// loaded is a Set with the engine's per-automation run state.
type loaded struct {
	set     *Set
	runners []*runner // by Automation.pos
}

// New returns an engine with no automations; give it some with Replace.
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
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		cmd:     o.Commander,
		devices: o.Devices,
		clock:   o.Clock,
		log:     o.Logger.With("component", "automations"),
		base:    o.BaseTopic,
		ctx:     ctx,
		cancel:  cancel,
		seeds:   map[string]uint64{},
	}
	e.scope = newScope(e.clock, e.log)
	e.Replace(nil)
	return e
}

// Replace swaps in a new set of automations at once; the next event is
// matched against it. Runs already going finish as their old definition
// says. Run numbers carry on for automations that keep their id.
func (e *Engine) Replace(set *Set) {
	if set == nil {
		set = newSet(nil)
	}
	old := map[string]*runner{}
	if prev := e.active.Load(); prev != nil {
		for _, r := range prev.runners {
			old[r.auto.ID] = r
		}
	}
	runners := make([]*runner, len(set.automations))
	for i, a := range set.automations {
		r := &runner{auto: a, seq: new(atomic.Uint64)}
		if o, ok := old[a.ID]; ok {
			r.seq = o.seq
		}
		runners[i] = r
	}
	e.active.Store(&loaded{set: set, runners: runners})
}

// Set returns the automations the engine runs.
func (e *Engine) Set() *Set { return e.active.Load().set }

// Run feeds the engine the events of sub until the bus is closed (nil) or
// ctx is done (nil). Call Close after Run returns to end the runs.
func (e *Engine) Run(ctx context.Context, sub *hearth.Subscription) error {
	buf := make([]hearth.Event, 256)
	for {
		evs, err := sub.Read(ctx, buf)
		for _, ev := range evs {
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
			return
		}
		e.fold(s)
		for _, t := range l.set.index.devices[ev.Device] {
			if t.fires(s) {
				e.fire(l, t.auto, s)
			}
		}
	case hearth.KindMessage:
		s.matched = l.set.index.topics.match(ev.Topic, s.matched[:0])
		for _, t := range s.matched {
			if t.fires(s) {
				e.fire(l, t.auto, s)
			}
		}
	}
}

// Close cancels every run and waits for them to end. Handle starts no run
// after Close.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
}

// seed takes the device states known when the engine starts.
func (e *Engine) seed() {
	e.seeded = true
	if e.devices == nil {
		return
	}
	for _, d := range e.devices.Devices() {
		e.scope.states[d.ID] = d.State
		e.seeds[d.ID] = d.Seq
	}
}

// fold records a state event's new attributes in the engine's view of the
// house, unless the seed was already newer.
func (e *Engine) fold(s *scope) {
	attrs, ok := parseObject(s.ev.Payload)
	if !ok {
		e.log.Warn("state event payload is not a JSON object", "seq", s.ev.Seq, "device", s.ev.Device)
		attrs = map[string]any{}
	}
	s.attrs = attrs
	if seen, ok := e.seeds[s.ev.Device]; ok {
		if s.ev.Seq <= seen {
			return
		}
		delete(e.seeds, s.ev.Device)
	}
	s.states[s.ev.Device] = attrs
}

// fire checks a's conditions and starts a run: at most one per automation
// and event, however many of its triggers fire.
func (e *Engine) fire(l *loaded, a *Automation, s *scope) {
	r := l.runners[a.pos]
	if r.lastEvent == s.gen {
		return
	}
	r.lastEvent = s.gen
	for _, c := range a.conditions {
		if !s.eval(a, c, s.conditionEnv()) {
			if e.log.Enabled(context.Background(), slog.LevelDebug) {
				e.log.Debug("condition not met", "automation", a.ID, "seq", s.ev.Seq, "condition", c.src)
			}
			return
		}
	}
	e.start(r, s.ev.Seq)
}
