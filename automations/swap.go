package automations

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"hearth"
)

// Changes says what a swap of automations changed, by id.
type Changes struct {
	// Added are new ids; Changed had a different definition (their runs,
	// windows and timers were cancelled); Removed are gone (likewise);
	// Unchanged kept their runs, armed `for:` windows and pending timers.
	Added, Changed, Removed, Unchanged []string
}

// String says what changed, for logs: "added a, b; changed c; removed d".
func (c Changes) String() string {
	var parts []string
	for _, p := range []struct {
		what string
		ids  []string
	}{{"added", c.Added}, {"changed", c.Changed}, {"removed", c.Removed}} {
		if len(p.ids) > 0 {
			parts = append(parts, p.what+" "+strings.Join(p.ids, ", "))
		}
	}
	if len(parts) == 0 {
		return "nothing changed"
	}
	return strings.Join(parts, "; ")
}

// Load reads automations from a file or folder as Load does, with the
// devices the engine knows: a reference to another device is a warning.
// It does not swap them in (see Reload, Replace, WhatIf).
func (e *Engine) Load(path string) (*Set, error) {
	return e.loadOptions().Load(path)
}

// LoadBytes is Load for a document held in memory.
func (e *Engine) LoadBytes(name string, data []byte) (*Set, error) {
	return e.loadOptions().LoadBytes(name, data)
}

// LoadDocs is Load for documents held in memory (the demo's files).
func (e *Engine) LoadDocs(docs ...Doc) (*Set, error) {
	return e.loadOptions().LoadDocs(docs...)
}

// loadOptions check what automations refer to against what the engine
// knows: devices, their attributes, notification channels.
func (e *Engine) loadOptions() LoadOptions {
	return LoadOptions{Known: e.knownDevice, Attrs: e.deviceAttrs, Channels: e.channels}
}

// DeviceLoadOptions are load options that check what automations refer to
// against devices as they last were (the store's read model), as an
// engine's Load checks against the devices it knows: a device not among
// them is a warning, and so is a likely typo of an attribute of one that
// is. For loads outside a running hub (`hub automations test`).
func DeviceLoadOptions(devs []hearth.DeviceState) LoadOptions {
	known := make(map[string][]string, len(devs))
	for _, d := range devs {
		known[d.ID] = slices.Collect(maps.Keys(d.State))
	}
	return LoadOptions{
		Known: func(id string) bool { _, ok := known[id]; return ok },
		Attrs: func(id string) []string { return known[id] },
	}
}

// deviceAttrs returns the attributes a device is known to have: those
// its state holds (from the read model or, failing that, the engine's own
// states) and those its adapter describes (Zigbee2MQTT's exposes, for one).
func (e *Engine) deviceAttrs(id string) []string {
	var st map[string]any
	var caps []hearth.Capability
	if e.devices != nil {
		if d, ok := e.devices.Device(id); ok {
			st = d.State
		}
	}
	if e.infos != nil {
		if in, ok := e.infos.Info(id); ok {
			caps = in.Capabilities
		}
	}
	if st == nil {
		e.statesMu.RLock()
		st = e.states[id]
		e.statesMu.RUnlock()
	}
	attrs := slices.Collect(maps.Keys(st))
	for _, c := range caps {
		if !slices.Contains(attrs, c.Attr) {
			attrs = append(attrs, c.Attr)
		}
	}
	return attrs
}

// knownDevice reports whether the read model or the engine has seen a device.
func (e *Engine) knownDevice(id string) bool {
	if e.devices != nil {
		if _, ok := e.devices.Device(id); ok {
			return true
		}
	}
	e.statesMu.RLock()
	defer e.statesMu.RUnlock()
	_, ok := e.states[id]
	return ok
}

// Reload loads path and, when it has no mistakes, swaps it in as Replace
// does. A file with mistakes never replaces the running set: its problems
// are kept for List and returned (a *LoadError), and the automations
// loaded before keep running.
func (e *Engine) Reload(path string) (Changes, error) {
	set, err := e.Load(path)
	if err != nil {
		var le *LoadError
		problems := []Problem{{File: path, Msg: err.Error()}}
		if errors.As(err, &le) {
			problems = le.Problems
		}
		e.ctlMu.Lock()
		e.problems = problems
		e.ctlMu.Unlock()
		e.log.Error("automations not reloaded: the previous ones keep running", "path", path, "problems", len(problems), "err", err)
		return Changes{}, err
	}
	return e.Replace(set), nil
}

// Replace swaps in a new set of automations; the next event is matched
// against it. It is a diff by id: an automation whose definition (Hash) did
// not change keeps its runs, `for:` windows, pending timers and the due
// times of its time triggers; one
// that changed or was removed has its runs cancelled, its windows disarmed
// and its stored timers deleted. Run numbers carry on for ids that stay.
// The problems of a failed Reload are cleared.
func (e *Engine) Replace(set *Set) Changes {
	if set == nil {
		set = newSet(nil, nil)
	}
	prev := e.active.Load()
	old := map[string]*runner{}
	if prev != nil {
		for _, r := range prev.runners {
			old[r.def().ID] = r
		}
	}
	// New ids take their run numbers from the log, before the lock.
	var fresh []*runner
	runners := make([]*runner, len(set.automations))
	for i, a := range set.automations {
		if _, ok := old[a.ID]; !ok {
			runners[i] = newRunner(a, new(atomic.Uint64), e.statsFor(a.ID))
			fresh = append(fresh, runners[i])
		}
	}
	if e.eventLog != nil && e.resumed.Load() && len(fresh) > 0 {
		e.loadRunNumbers(context.Background(), fresh)
	}

	e.handleMu.Lock()
	defer e.handleMu.Unlock()
	var ch Changes
	for i, a := range set.automations {
		o, ok := old[a.ID]
		if !ok {
			ch.Added = append(ch.Added, a.ID)
			runners[i].disabled.Store(e.isDisabled(a.ID))
			continue
		}
		delete(old, a.ID)
		if o.def().Hash == a.Hash && a.Hash != "" {
			o.auto.Store(a)
			runners[i] = o
			ch.Unchanged = append(ch.Unchanged, a.ID)
			continue
		}
		e.retire(o, "changed by a reload")
		runners[i] = newRunner(a, o.seq, o.stats)
		runners[i].disabled.Store(e.isDisabled(a.ID))
		ch.Changed = append(ch.Changed, a.ID)
	}
	for id, o := range old {
		e.retire(o, "removed by a reload")
		ch.Removed = append(ch.Removed, id)
		e.ctlMu.Lock()
		delete(e.stats, id)
		e.ctlMu.Unlock()
	}
	l := &loaded{set: set, runners: runners}
	e.active.Store(l)
	if !e.stopping() {
		e.rebuildSchedule(l)
	}
	e.ctlMu.Lock()
	e.problems = nil
	e.loadedAt = e.clock.Now()
	e.ctlMu.Unlock()
	if prev != nil && (len(ch.Added)+len(ch.Changed)+len(ch.Removed) > 0 || len(prev.runners) > 0) {
		e.log.Info("automations loaded", "added", ch.Added, "changed", ch.Changed, "removed", ch.Removed, "unchanged", len(ch.Unchanged))
	}
	return ch
}

// retire cancels what a runner has going: its runs, windows and timers.
// The caller holds handleMu.
func (e *Engine) retire(rn *runner, why string) {
	for _, w := range rn.windows {
		if w != nil {
			w.forget(e)
		}
	}
	rn.mu.Lock()
	live := append([]*run(nil), rn.live...)
	rn.mu.Unlock()
	for _, r := range live {
		r.stop(why)
	}
}

func (e *Engine) isDisabled(id string) bool {
	e.ctlMu.Lock()
	defer e.ctlMu.Unlock()
	return e.disabled[id]
}
