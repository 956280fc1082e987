package automations

import (
	"context"
	"encoding/json"
	"errors"

	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"hearth"
)

// WhatIfOptions configure a what-if run.
type WhatIfOptions struct {
	// Devices gives the state of devices before the first event, for those
	// whose first state event in the events does not say (its prev does).
	// Nil: such devices are unknown until they change.
	Devices hearth.DeviceReader
	// Until keeps the virtual clock going after the last event, so that
	// delays and time triggers due before it happen; zero: stop at the
	// last event.
	Until time.Time
	// BaseTopic, Latitude, Longitude and Location are as in Options.
	BaseTopic           string
	Latitude, Longitude float64
	Location            *time.Location
	// Logger receives the engine's logs; nothing is logged when nil.
	Logger *slog.Logger
	// PlanThrough wraps the run's recorder of commands in what the live
	// hub sends commands through, so that they are planned as they would
	// go (through the device's adapter, refused as it would refuse them);
	// nil plans them as the automations give them.
	PlanThrough func(hearth.Commander) hearth.Commander
}

// PlannedCommand is a command a what-if run would have sent, and when.
type PlannedCommand struct {
	Time       time.Time       `json:"time"`
	Automation string          `json:"automation"`
	Run        string          `json:"run"`
	Device     string          `json:"device,omitempty"`
	Topic      string          `json:"topic"`
	Payload    json.RawMessage `json:"payload"`
	QoS        byte            `json:"qos,omitempty"`
	Retain     bool            `json:"retain,omitempty"`
	// Cause is the sequence number of the event that triggered the run
	// (0 for a time trigger); Seq the command's own, numbered after the
	// events given (it exists only in this run).
	Cause uint64 `json:"cause,omitempty"`
	Seq   uint64 `json:"seq"`
}

// WhatIfResult is what a what-if run would have done.
type WhatIfResult struct {
	// From and To bound the virtual time the run covered.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Events is how many events were replayed.
	Events int `json:"events"`
	// Commands are in the order they would have been sent.
	Commands []PlannedCommand `json:"commands"`
	// Traces are every run, oldest first.
	Traces []hearth.Trace `json:"traces"`
	// NearMisses are, by automation, the events that reached a trigger
	// without starting a run (the newest few), newest first.
	NearMisses map[string][]hearth.NearMiss `json:"near_misses,omitempty"`
}

// maxPlanned stops a what-if run that would send an endless stream.
const maxPlanned = 100000

// errTooMany stops a what-if run past maxPlanned commands.
var errTooMany = errors.New("what-if: more than 100000 commands; stopped")

// WhatIf runs set against recorded events on a virtual clock driven by the
// events' times, without publishing anything, and returns the commands it
// would have sent (with their times and causes), its traces and near
// misses. Events are taken in sequence order. Run traces (KindRun) and the
// commands automations sent (KindCommand with Cause.Source "automation")
// are skipped: they are what the live engine did, and the what-if engine
// makes its own, which it feeds back to itself as the bus would. Commands
// from the page are replayed. Everything due at one instant happens before
// the clock moves on. Timers are not stored and `event: started` triggers
// do not fire.
func WhatIf(ctx context.Context, set *Set, events []hearth.Event, o WhatIfOptions) (*WhatIfResult, error) {
	evs := make([]hearth.Event, 0, len(events))
	var maxSeq uint64
	for _, ev := range events {
		maxSeq = max(maxSeq, ev.Seq)
		if ev.Kind == hearth.KindRun || (ev.Kind == hearth.KindCommand && ev.Cause.Source == "automation") {
			continue
		}
		evs = append(evs, ev)
	}
	slices.SortStableFunc(evs, func(a, b hearth.Event) int { return compareSeq(a.Seq, b.Seq) })
	res := &WhatIfResult{Events: len(evs), Commands: []PlannedCommand{}, Traces: []hearth.Trace{}}
	switch {
	case len(evs) > 0:
		res.From, res.To = evs[0].Time, evs[len(evs)-1].Time
	case !o.Until.IsZero():
		res.From, res.To = o.Until, o.Until
	default:
		return res, nil
	}
	if o.Until.After(res.To) {
		res.To = o.Until
	}

	clock := NewFakeClock(res.From)
	rec := &planner{clock: clock, next: maxSeq + 1}
	var cmd hearth.Commander = rec
	if o.PlanThrough != nil {
		cmd = o.PlanThrough(rec)
	}
	e := New(Options{Commander: cmd, Devices: whatIfSeeds(o.Devices, evs), Clock: clock, Logger: o.Logger,
		BaseTopic: o.BaseTopic, Latitude: o.Latitude, Longitude: o.Longitude, Location: o.Location})
	e.now = nil
	e.resumed.Store(true)
	e.Replace(set)
	defer e.Close()

	drain := func() error {
		for {
			if err := e.settle(ctx); err != nil {
				return err
			}
			fed := rec.take()
			if len(fed) == 0 {
				return rec.err()
			}
			for _, ev := range fed {
				e.Handle(ev)
			}
		}
	}
	advance := func(target time.Time) error {
		for {
			if err := drain(); err != nil {
				return err
			}
			if !clock.fireNext(target) {
				break
			}
		}
		clock.moveTo(target)
		return drain()
	}
	for _, ev := range evs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := advance(ev.Time); err != nil {
			return nil, err
		}
		e.Handle(ev)
	}
	if err := advance(res.To); err != nil {
		return nil, err
	}
	res.Commands = rec.planned()
	l := e.active.Load()
	for _, rn := range l.runners {
		res.Traces = append(res.Traces, rn.stats.memTraces()...)
		rn.mu.Lock()
		live := append([]*run(nil), rn.live...)
		rn.mu.Unlock()
		for _, r := range live {
			res.Traces = append(res.Traces, r.snapshot())
		}
		if m := rn.stats.nearMisses(); len(m) > 0 {
			if res.NearMisses == nil {
				res.NearMisses = map[string][]hearth.NearMiss{}
			}
			res.NearMisses[rn.def().ID] = m
		}
	}
	slices.SortStableFunc(res.Traces, func(a, b hearth.Trace) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return strings.Compare(a.Run, b.Run)
	})
	return res, nil
}

// WhatIf runs set against recorded events as the package's WhatIf does,
// with this engine's base topic, location and device states (as they are
// now) for devices the events do not describe.
func (e *Engine) WhatIf(ctx context.Context, set *Set, events []hearth.Event, until time.Time) (*WhatIfResult, error) {
	return WhatIf(ctx, set, events, WhatIfOptions{
		Devices: e.devices, Until: until, BaseTopic: e.base,
		Latitude: e.where.lat, Longitude: e.where.lon, Location: e.where.loc,
		PlanThrough: e.planThrough,
	})
}

func compareSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// whatIfSeeds is the state of each device before the first event: the prev
// of its first state event, or else what devices says (as unnumbered
// seeds, so every replayed event folds over them).
func whatIfSeeds(devs hearth.DeviceReader, evs []hearth.Event) hearth.DeviceReader {
	seeds := seedReader{}
	if devs != nil {
		for _, d := range devs.Devices() {
			d.Seq = 0
			seeds[d.ID] = d
		}
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		if ev.Kind != hearth.KindState || ev.Device == "" || seen[ev.Device] {
			continue
		}
		seen[ev.Device] = true
		if prev, ok := parseObject(ev.Prev); ok {
			seeds[ev.Device] = hearth.DeviceState{ID: ev.Device, State: prev}
		} else {
			delete(seeds, ev.Device)
		}
	}
	return seeds
}

// seedReader is a DeviceReader over fixed states.
type seedReader map[string]hearth.DeviceState

func (s seedReader) Device(id string) (hearth.DeviceState, bool) {
	d, ok := s[id]
	return d, ok
}

func (s seedReader) Devices() []hearth.DeviceState {
	out := make([]hearth.DeviceState, 0, len(s))
	for _, d := range s {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b hearth.DeviceState) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// planner is the Commander of a what-if run: it records commands and
// queues them as events, to be fed back to the engine.
type planner struct {
	clock *FakeClock
	mu    sync.Mutex
	next  uint64
	cmds  []PlannedCommand
	fed   []hearth.Event
	over  bool
}

func (p *planner) Command(ctx context.Context, c hearth.Command) (hearth.Event, error) {
	if err := ctx.Err(); err != nil {
		return hearth.Event{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.cmds) >= maxPlanned {
		p.over = true
		return hearth.Event{}, errTooMany
	}
	now := p.clock.Now()
	ev := hearth.Event{Seq: p.next, Time: now, Kind: hearth.KindCommand, Topic: c.Topic, Device: c.Device,
		Payload: c.Payload, QoS: c.QoS, Retain: c.Retain, Cause: c.Cause}
	p.next++
	auto, _, _ := strings.Cut(c.Cause.Run, "#")
	p.cmds = append(p.cmds, PlannedCommand{Time: now, Automation: auto, Run: c.Cause.Run, Device: c.Device, Topic: c.Topic,
		Payload: rawJSON(c.Payload), QoS: c.QoS, Retain: c.Retain, Cause: c.Cause.Seq, Seq: ev.Seq})
	p.fed = append(p.fed, ev)
	return ev, nil
}

func (p *planner) take() []hearth.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	fed := p.fed
	p.fed = nil
	return fed
}

func (p *planner) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.over {
		return errTooMany
	}
	return nil
}

func (p *planner) planned() []PlannedCommand {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.cmds)
}

// rawJSON is b when it is JSON, else b as a JSON string.
func rawJSON(b []byte) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}
