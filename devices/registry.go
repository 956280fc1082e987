// Package devices keeps the hub's device read model. Adapters read the topic
// conventions devices speak (the native one, Zigbee2MQTT, Tasmota, Home
// Assistant MQTT discovery, and hand mappings from a devices file) into one
// device model: each device's state is a JSON object folded from its
// messages, and every change is emitted as an event. A hub command
// ({"state":"ON"}) is translated back into what the device's adapter expects
// by CommandFor.
//
// The native topics, under a base topic ("home"):
//
//	<base>/<id>               state: a JSON object merged into the known state
//	<base>/<id>/set           a command to the device; never folded into state
//	<base>/<id>/availability  "online" or "offline"
//	<base>/<id>/<anything>    another message of the device (a button), not state
//
// docs/devices.md describes every adapter and the devices file.
package devices

import (
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"hearth"
)

var (
	_ hearth.Stage        = (*Registry)(nil)
	_ hearth.DeviceReader = (*Registry)(nil)
)

// DefaultBaseTopic is the base topic used when New is given none.
const DefaultBaseTopic = "home"

// maxInterned bounds the table of attribute names shared between messages, so
// that payloads with ever new keys cannot grow it without limit.
const maxInterned = 4096

// device is one entry of the read model. Everything it points to is immutable
// once stored: a change replaces the map, the key list and the encoding.
type device struct {
	st   hearth.DeviceState
	keys []string // the keys of st.State, sorted
	raw  []byte   // st.State as canonical JSON: the Prev of the next state event
}

// Registry is the device read model. Apply folds events into it under the
// bus's ordering; Device, Devices, Info and CommandFor read it from any
// goroutine.
//
// A device's Seq and Updated are those of the message that last changed it,
// which is the Cause of the state or availability event emitted for the
// change: a stage cannot know the number its emitted event will get, and
// ApplyLogged reads the cause back, so replaying the log rebuilds exactly
// the same read model. A device appears with its first change; a first
// message that leaves its state empty ({} or null) changes nothing.
//
// Apply finds the adapter of a message in two map lookups: the exact topic
// (a Home Assistant entity's or a devices file mapping's topics) and then
// the topic's first level (the adapters' base topics). Nothing scans the
// devices.
type Registry struct {
	base string
	log  *slog.Logger

	mu      sync.RWMutex
	devices map[string]*device
	ids     []string // sorted, for Devices

	// Devices past max are refused (admitLocked); refused counts the
	// messages that were.
	max     int
	refused atomic.Uint64

	// noted is when each kind of mistake in a message was last logged
	// (noteLocked): a few constant keys.
	noted map[string]time.Time

	// The adapters and what they learned; written under mu by Apply (a
	// discovery message) and by SetFile.
	adapters []adapter
	prefixes map[string][]prefix   // by first topic level
	routes   map[string][]route    // by exact topic
	meta     map[string]*meta      // by device id
	file     *File                 // the devices file in force, or nil
	hub      map[string]*hubDevice // the hub's own devices (hubdevice.go), by id
	secrets  secretBox             // codes taken out of commands, for the alarm

	// Used only by writers, under mu.
	p      parser
	enc    encoder
	intern map[string]string
	upd    update
	env    *tplEnv
}

// prefix is one base topic an adapter reads.
type prefix struct {
	base string
	a    adapter
}

// New makes an empty registry for the native devices under baseTopic
// (DefaultBaseTopic if empty), with no other adapter.
func New(baseTopic string, log *slog.Logger) *Registry {
	r, err := NewRegistry(Options{BaseTopic: baseTopic, Logger: log})
	if err != nil {
		// Only a base topic with a wildcard can fail, and the hub's flags
		// are checked before this; keep the old behaviour of accepting it.
		r = newRegistry(strings.Trim(baseTopic, "/"), log)
		r.addAdapter(&native{base: r.base})
	}
	return r
}

func newRegistry(base string, log *slog.Logger) *Registry {
	if base == "" {
		base = DefaultBaseTopic
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{
		base:     base,
		log:      log.With("component", "devices"),
		devices:  make(map[string]*device),
		intern:   make(map[string]string),
		prefixes: make(map[string][]prefix),
		routes:   make(map[string][]route),
		meta:     make(map[string]*meta),
		max:      DefaultMaxDevices,
	}
}

// addAdapter registers a's base topics, longest first within a first level
// so that a deeper base ("home/zigbee") is tried before a shorter one.
func (r *Registry) addAdapter(a adapter) {
	r.adapters = append(r.adapters, a)
	for _, b := range a.bases() {
		first, _, _ := strings.Cut(b, "/")
		list := append(r.prefixes[first], prefix{base: b, a: a})
		slices.SortStableFunc(list, func(x, y prefix) int { return len(y.base) - len(x.base) })
		r.prefixes[first] = list
	}
}

// BaseTopic returns the topic under which native devices live ("home").
func (r *Registry) BaseTopic() string { return r.base }

// SetTopic returns the topic native commands to device id are published to.
// CommandFor is the way to command a device whatever its adapter.
func (r *Registry) SetTopic(id string) string { return r.base + "/" + id + "/" + subSet }

// Apply fills in the device of a message or command on a device topic and
// folds state and availability messages into the read model, emitting a
// KindState or KindAvailability event when a device actually changed.
// It is a hearth.Stage: the bus calls it under its lock for every event.
func (r *Registry) Apply(e *hearth.Event, emit func(hearth.Event)) {
	if e.Kind != hearth.KindMessage && e.Kind != hearth.KindCommand {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dispatchLocked(e, emit)
}

// dispatchLocked hands e to the routes of its exact topic or else to the
// adapter whose base topic it is under.
func (r *Registry) dispatchLocked(e *hearth.Event, emit func(hearth.Event)) {
	if len(r.routes) > 0 {
		if rs, ok := r.routes[e.Topic]; ok {
			r.applyRoutesLocked(e, rs, emit)
			return
		}
	}
	first := e.Topic
	if i := strings.IndexByte(first, '/'); i >= 0 {
		first = first[:i]
	}
	for _, p := range r.prefixes[first] {
		t := e.Topic
		if len(t) > len(p.base)+1 && t[len(p.base)] == '/' && t[:len(p.base)] == p.base {
			if p.a.apply(r, e, p.base, t[len(p.base)+1:], emit) {
				return
			}
		}
	}
}

// claimedLocked reports whether an adapter other than self reads topic by
// its base topic: a Home Assistant entity on such a topic is left to that
// adapter.
func (r *Registry) claimedLocked(topic string, self adapter) bool {
	first, _, _ := strings.Cut(topic, "/")
	for _, p := range r.prefixes[first] {
		if p.a != self && len(topic) > len(p.base)+1 && topic[len(p.base)] == '/' && topic[:len(p.base)] == p.base {
			return true
		}
	}
	return false
}

// foldPayloadLocked merges a state payload (a JSON object, or any other
// value kept as {"value": ...}) into the device's state.
func (r *Registry) foldPayloadLocked(e *hearth.Event, id string, emit func(hearth.Event)) {
	if len(e.Payload) == 0 {
		// An empty publish is how MQTT clears a retained message; it says
		// nothing about the device.
		r.log.Debug("empty state payload ignored", "device", id, "seq", e.Seq)
		return
	}
	r.foldLocked(e, id, r.decode(e.Payload), emit)
}

// foldLocked merges members into the device's state and emits a state event
// when it changed. The members may alias the parser's buffers.
func (r *Registry) foldLocked(e *hearth.Event, id string, ms []member, emit func(hearth.Event)) {
	d := r.devices[id]
	var old map[string]any
	if d != nil {
		old = d.st.State
	}
	next, keys, newKeys, ok := r.merge(old, ms)
	if !ok || d == nil && !r.admitLocked(e, id) {
		return
	}
	if !newKeys {
		keys = d.keys // the same attributes as before, only values changed
	}
	var prev []byte
	if d == nil {
		d = r.insertLocked(id)
		prev = []byte("{}")
	} else {
		prev = d.raw
	}
	raw := r.enc.appendState(make([]byte, 0, len(prev)+32), next, keys)
	d.st.State, d.keys, d.raw = next, keys, raw
	d.st.Seq, d.st.Updated = e.Seq, e.Time
	emit(hearth.Event{
		Time:    e.Time,
		Kind:    hearth.KindState,
		Topic:   e.Topic,
		Device:  d.st.ID,
		Payload: raw,
		Prev:    prev,
		Cause:   hearth.Cause{Seq: e.Seq},
	})
	r.forgetEventsLocked(d)
}

// eventAttr is the attribute a button reports a press in ("single",
// "double", "hold"): what happened, not what the device is. Zigbee2MQTT
// and Home Assistant treat it so. The state event of a press carries it,
// and the device's state keeps none, so that the same press twice is two
// changes and a device trigger on `action == "single"` fires for each.
const eventAttr = "action"

// forgetEventsLocked takes eventAttr out of the device's kept state, in a
// new map: the old one may have been handed out.
func (r *Registry) forgetEventsLocked(d *device) {
	if _, ok := d.st.State[eventAttr]; !ok {
		return
	}
	st := maps.Clone(d.st.State)
	delete(st, eventAttr)
	d.keys = slices.DeleteFunc(slices.Clone(d.keys), func(k string) bool { return k == eventAttr })
	d.st.State, d.raw = st, r.enc.appendState(nil, st, d.keys)
}

// foldAvailabilityPayloadLocked records an online/offline message of the
// native form ("online", or Zigbee2MQTT's {"state":"online"}).
func (r *Registry) foldAvailabilityPayloadLocked(e *hearth.Event, id string, emit func(hearth.Event)) {
	if len(e.Payload) == 0 {
		return // an empty publish clears a retained message; it says nothing of the device
	}
	av, ok := r.parseAvailability(e.Payload)
	if !ok {
		r.noteLocked(e, "availability", `an availability message says neither "online" nor "offline" (nor {"state":"online"}): it is logged, the device's availability stays as it was`,
			"device", id, "payload", clip(e.Payload))
		return
	}
	r.foldAvailabilityLocked(e, id, av, emit)
}

// foldAvailabilityLocked records that a device went online or offline and
// emits an availability event when that is news.
func (r *Registry) foldAvailabilityLocked(e *hearth.Event, id string, av hearth.Availability, emit func(hearth.Event)) {
	d := r.devices[id]
	if d == nil && !r.admitLocked(e, id) {
		return
	}
	var prev []byte
	if d == nil {
		d = r.insertLocked(id)
	} else if d.st.Availability == av {
		return
	} else if d.st.Availability != hearth.AvailabilityUnknown {
		prev = []byte(d.st.Availability)
	}
	d.st.Availability = av
	d.st.Seq, d.st.Updated = e.Seq, e.Time
	emit(hearth.Event{
		Time:    e.Time,
		Kind:    hearth.KindAvailability,
		Topic:   e.Topic,
		Device:  d.st.ID,
		Payload: []byte(av),
		Prev:    prev,
		Cause:   hearth.Cause{Seq: e.Seq},
	})
}

// admitLocked reports whether a message may make id, a device the
// registry does not hold yet, a device: whether there is room under max.
// A refused message stays in the log; the refusal is logged at most once a
// minute of the events' time, with the client that sent it.
func (r *Registry) admitLocked(e *hearth.Event, id string) bool {
	if len(r.devices) < r.max {
		return true
	}
	n := r.refused.Add(1)
	r.noteLocked(e, "max devices", "too many devices: a message from a new device id is logged but makes no device; raise max_devices, or stop the client inventing ids",
		"max_devices", r.max, "device", id, "refused_so_far", n)
	return false
}

// noteLocked logs a mistake in a message, one that leaves the device as it
// was, as a warning: at most once a minute of the events' time for each
// kind, so that a client repeating it cannot flood the log.
func (r *Registry) noteLocked(e *hearth.Event, kind, msg string, args ...any) {
	if last, ok := r.noted[kind]; ok && e.Time.Sub(last) < time.Minute && !e.Time.Before(last) {
		return
	}
	if r.noted == nil {
		r.noted = map[string]time.Time{}
	}
	r.noted[kind] = e.Time
	r.log.Warn(msg, append([]any{"topic", e.Topic, "client", e.Client, "seq", e.Seq}, args...)...)
}

// clip is a payload as text for a log line, cut at 64 bytes.
func clip(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}

// Refused is how many messages the registry has refused to make a device
// of since it started, because it held MaxDevices already.
func (r *Registry) Refused() uint64 { return r.refused.Load() }

// insertLocked adds an empty device and keeps ids sorted.
func (r *Registry) insertLocked(id string) *device {
	id = strings.Clone(id) // do not pin the whole topic string
	d := &device{
		st:  hearth.DeviceState{ID: id, State: map[string]any{}},
		raw: []byte("{}"),
	}
	r.devices[id] = d
	i, _ := slices.BinarySearch(r.ids, id)
	r.ids = slices.Insert(r.ids, i, id)
	return d
}

// ApplyLogged applies an event read back from the log (replaying it past
// the snapshot) without emitting anything: a KindState or KindAvailability
// event sets the device's state or availability, and a message on a
// configuration topic (IsConfigTopic: Home Assistant discovery, Zigbee2MQTT's
// device list) is learned again. A device's Seq becomes the event's cause,
// as it was when the event was made.
func (r *Registry) ApplyLogged(e hearth.Event) {
	if e.Kind == hearth.KindMessage {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.isConfigLocked(e.Topic) {
			r.dispatchLocked(&e, func(hearth.Event) {})
		}
		return
	}
	id := e.Device
	if id == "" {
		id, _ = parseTopic(r.base, e.Topic)
	}
	if id == "" {
		return
	}
	seq := e.Seq
	if e.Cause.Seq != 0 {
		seq = e.Cause.Seq
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e.Kind {
	case hearth.KindState:
		st, keys, raw, ok := r.wholeState(e.Payload)
		if !ok {
			r.log.Warn("logged state is not a JSON object; skipped", "device", id, "seq", e.Seq)
			return
		}
		d := r.devices[id]
		if d == nil {
			d = r.insertLocked(id)
		}
		d.st.State, d.keys, d.raw = st, keys, raw
		d.st.Seq, d.st.Updated = seq, e.Time
		r.forgetEventsLocked(d)
	case hearth.KindAvailability:
		av, ok := r.parseAvailability(e.Payload)
		if !ok {
			r.log.Warn("logged availability is not online/offline; skipped", "device", id, "seq", e.Seq)
			return
		}
		d := r.devices[id]
		if d == nil {
			d = r.insertLocked(id)
		}
		d.st.Availability = av
		d.st.Seq, d.st.Updated = seq, e.Time
	}
}

// IsConfigTopic reports whether topic carries configuration an adapter
// learns devices from (a Home Assistant discovery config, Zigbee2MQTT's
// bridge/devices). Such messages are retained by the devices that send them;
// replaying the last one of each through ApplyLogged at start-up gives the
// registry back what it knew.
func (r *Registry) IsConfigTopic(topic string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.isConfigLocked(topic)
}

func (r *Registry) isConfigLocked(topic string) bool {
	first, _, _ := strings.Cut(topic, "/")
	for _, p := range r.prefixes[first] {
		if len(topic) > len(p.base)+1 && topic[len(p.base)] == '/' && topic[:len(p.base)] == p.base {
			if c, ok := p.a.(configReader); ok && c.isConfig(topic[len(p.base)+1:]) {
				return true
			}
		}
	}
	return false
}

// ConfigFilters returns MQTT topic filters matching every configuration
// topic of the adapters turned on (see IsConfigTopic).
func (r *Registry) ConfigFilters() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for _, a := range r.adapters {
		if c, ok := a.(configReader); ok {
			out = append(out, c.configFilters()...)
		}
	}
	return out
}

// Restore replaces the read model with states persisted earlier, at start-up.
// States are normalised to what the parser produces (numbers as float64, no
// null attributes) so that later changes compare correctly.
func (r *Registry) Restore(states []hearth.DeviceState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.devices = make(map[string]*device, len(states))
	r.ids = r.ids[:0]
	for _, s := range states {
		if s.ID == "" {
			continue
		}
		st, keys, raw, ok := r.wholeState(r.enc.appendState(nil, s.State, sortedKeys(s.State)))
		if !ok { // appendState always writes an object; this is a safeguard
			st, keys, raw = map[string]any{}, nil, []byte("{}")
		}
		d := r.devices[s.ID]
		if d == nil {
			d = r.insertLocked(s.ID)
		}
		d.st = hearth.DeviceState{
			ID: d.st.ID, State: st, Availability: s.Availability, Updated: s.Updated, Seq: s.Seq,
		}
		d.keys, d.raw = keys, raw
		r.forgetEventsLocked(d) // a snapshot folded from the events may hold one
	}
}

// Device returns the state of one device and whether it is known.
func (r *Registry) Device(id string) (hearth.DeviceState, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.devices[id]
	if !ok {
		return hearth.DeviceState{}, false
	}
	return d.st, true
}

// Devices returns every known device, sorted by id.
func (r *Registry) Devices() []hearth.DeviceState {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]hearth.DeviceState, len(r.ids))
	for i, id := range r.ids {
		out[i] = r.devices[id].st
	}
	return out
}
