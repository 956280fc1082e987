// Package devices keeps the hub's device read model: it reads the native topic
// convention (the same shape as Zigbee2MQTT's), folds state messages into each
// device's known state and emits an event for every change.
//
// Topics, under a base topic ("home"):
//
//	<base>/<id>               state: a JSON object merged into the known state
//	<base>/<id>/set           a command to the device; never folded into state
//	<base>/<id>/availability  "online" or "offline"
//	<base>/<id>/<anything>    another message of the device (a button), not state
package devices

import (
	"log/slog"
	"slices"
	"strings"
	"sync"

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
// bus's ordering; Device and Devices read it from any goroutine.
//
// A device's Seq and Updated are those of the message that last changed it,
// which is the Cause of the state or availability event emitted for the
// change: a stage cannot know the number its emitted event will get, and
// ApplyLogged reads the cause back, so replaying the log rebuilds exactly
// the same read model. A device appears with its first change; a first
// message that leaves its state empty ({} or null) changes nothing.
type Registry struct {
	base string
	log  *slog.Logger

	mu      sync.RWMutex
	devices map[string]*device
	ids     []string // sorted, for Devices

	// Used only by writers, under mu.
	p      parser
	enc    encoder
	intern map[string]string
}

// New makes an empty registry for the devices under baseTopic (DefaultBaseTopic if empty).
func New(baseTopic string, log *slog.Logger) *Registry {
	baseTopic = strings.Trim(baseTopic, "/")
	if baseTopic == "" {
		baseTopic = DefaultBaseTopic
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{
		base:    baseTopic,
		log:     log.With("component", "devices"),
		devices: make(map[string]*device),
		intern:  make(map[string]string),
	}
}

// BaseTopic returns the topic under which devices live ("home").
func (r *Registry) BaseTopic() string { return r.base }

// SetTopic returns the topic commands to device id are published to.
func (r *Registry) SetTopic(id string) string { return r.base + "/" + id + "/" + subSet }

// Apply fills in the device of a message or command on a device topic and
// folds state and availability messages into the read model, emitting a
// KindState or KindAvailability event when the device actually changed.
// It is a hearth.Stage: the bus calls it under its lock for every event.
func (r *Registry) Apply(e *hearth.Event, emit func(hearth.Event)) {
	if e.Kind != hearth.KindMessage && e.Kind != hearth.KindCommand {
		return
	}
	id, kind := parseTopic(r.base, e.Topic)
	if kind == topicNone {
		return
	}
	e.Device = id
	if e.Kind != hearth.KindMessage {
		return // a command is what someone asked for, not what the device is
	}
	var out hearth.Event
	var changed bool
	switch kind {
	case topicState:
		out, changed = r.foldState(e, id)
	case topicAvailability:
		out, changed = r.foldAvailability(e, id)
	}
	if changed {
		emit(out)
	}
}

// foldState merges a state message into the device's state.
func (r *Registry) foldState(e *hearth.Event, id string) (hearth.Event, bool) {
	if len(e.Payload) == 0 {
		// An empty publish is how MQTT clears a retained message; it says
		// nothing about the device.
		r.log.Debug("empty state payload ignored", "device", id, "seq", e.Seq)
		return hearth.Event{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.devices[id]
	var old map[string]any
	if d != nil {
		old = d.st.State
	}
	next, keys, newKeys, ok := r.merge(old, r.decode(e.Payload))
	if !ok {
		return hearth.Event{}, false
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
	return hearth.Event{
		Time:    e.Time,
		Kind:    hearth.KindState,
		Topic:   e.Topic,
		Device:  d.st.ID,
		Payload: raw,
		Prev:    prev,
		Cause:   hearth.Cause{Seq: e.Seq},
	}, true
}

// foldAvailability records an online/offline message.
func (r *Registry) foldAvailability(e *hearth.Event, id string) (hearth.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	av, ok := r.parseAvailability(e.Payload)
	if !ok {
		r.log.Debug("availability payload ignored", "device", id, "seq", e.Seq, "payload", string(e.Payload))
		return hearth.Event{}, false
	}
	d := r.devices[id]
	var prev []byte
	if d == nil {
		d = r.insertLocked(id)
	} else if d.st.Availability == av {
		return hearth.Event{}, false
	} else if d.st.Availability != hearth.AvailabilityUnknown {
		prev = []byte(d.st.Availability)
	}
	d.st.Availability = av
	d.st.Seq, d.st.Updated = e.Seq, e.Time
	return hearth.Event{
		Time:    e.Time,
		Kind:    hearth.KindAvailability,
		Topic:   e.Topic,
		Device:  d.st.ID,
		Payload: []byte(av),
		Prev:    prev,
		Cause:   hearth.Cause{Seq: e.Seq},
	}, true
}

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

// ApplyLogged applies a KindState or KindAvailability event read back from
// the log (replaying it past the snapshot) without emitting anything. A
// device's Seq becomes the event's cause, as it was when the event was made.
func (r *Registry) ApplyLogged(e hearth.Event) {
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
