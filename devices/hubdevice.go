package devices

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"hearth"
)

// The hub's own devices: the house mode, the alarm panel and people. No
// device reports their state over MQTT; a component of the hub (House,
// Alarm) keeps it and publishes it, retained, on the device's native state
// topic (<base>/house, <base>/alarm) through the hub's Commander, the way a
// device would: MQTT keypads and sirens see it there, and the broker logs
// the publish as a KindCommand event, which the registry folds into the
// device's state. Commands to them (<base>/<id>/set, from the page, an
// automation or an MQTT client) are events the component reads from the
// bus, never published for a device that does not exist.
//
// Why the component is a bus subscriber and not part of the registry's
// stage: the alarm's delays are timed and its code check (bcrypt) takes
// tens of milliseconds, and nothing slow or timed may run under the bus
// lock. The stage does only what must be in log order: it names the
// device, folds what the hub published, refuses to take a client's
// message on a hub device's state topic for its state (anyone could
// otherwise publish {"state":"disarmed"} on home/alarm), and takes codes
// out of commands before they are logged.

// adapterHub is the adapter name of the devices the hub keeps itself.
const adapterHub = "hub"

// The ids of the hub's own devices.
const (
	// HouseID is the device holding the house mode ({"mode":"away"}).
	HouseID = "house"
	// AlarmID is the alarm panel's device ({"state":"armed_away",...}).
	AlarmID = "alarm"
)

// hubKind says which of the hub's own devices a device is.
type hubKind uint8

const (
	hubHouse hubKind = iota + 1
	hubAlarm
	hubPerson
)

// hubDevice is a device whose state the hub publishes itself. It is its
// own controller: CommandFor checks a command's shape (so that the HTTP API
// answers 400 for a mode that does not exist) and sends it to the native
// /set topic, where the component reads it.
type hubDevice struct {
	kind   hubKind
	set    string                   // <base>/<id>/set
	check  func(c hubCommand) error // nil: any command
	secret string                   // an attribute of commands kept out of the log ("code")
}

var _ controller = (*hubDevice)(nil)

func (h *hubDevice) command(id string, c hubCommand, _ map[string]any) ([]hearth.Command, error) {
	if h.check != nil {
		if err := h.check(c); err != nil {
			return nil, err
		}
	}
	return []hearth.Command{{Device: id, Topic: h.set, Payload: c.raw}}, nil
}

// addHubLocked makes id one of the hub's own devices, read by adapter (hub,
// or owntracks for a person its phone made known) and shown with info.
func (r *Registry) addHubLocked(id, adapter string, h *hubDevice, info hearth.DeviceInfo) {
	if r.hub == nil {
		r.hub = make(map[string]*hubDevice)
	}
	h.set = r.SetTopic(id)
	r.hub[id] = h
	if m := r.meta[id]; m != nil && m.adapter != adapter {
		info.Warnings = append(slices.Clip(m.info.Warnings), "also reported by the "+m.adapter+" adapter; the hub keeps it")
	}
	r.setMetaLocked(id, &meta{adapter: adapter, info: info, ctl: h})
}

// addHub is addHubLocked for the components, outside the bus.
func (r *Registry) addHub(id, adapter string, h *hubDevice, info hearth.DeviceInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addHubLocked(id, adapter, h, info)
}

// hubKindOf says which of the hub's own devices id is; 0 if none.
func (r *Registry) hubKindOf(id string) hubKind {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if h := r.hub[id]; h != nil {
		return h.kind
	}
	return 0
}

// applyHubLocked reads an event on a hub device's native topics: the hub's
// own publish on the state topic is its state; a client's message there is
// logged but is not its state; a command has its secret taken out.
func (r *Registry) applyHubLocked(e *hearth.Event, id string, kind topicKind, h *hubDevice, emit func(hearth.Event)) {
	e.Device = id
	switch {
	case kind == topicState && e.Kind == hearth.KindCommand:
		r.foldPayloadLocked(e, id, emit)
	case kind == topicState:
		r.log.Debug("a client's message on a hub device's state topic is not its state", "device", id, "client", e.Client, "seq", e.Seq)
	case kind == topicSet && h.secret != "":
		r.redactLocked(e, h.secret)
	}
}

// redactedCode replaces a secret in a logged command.
const redactedCode = "***"

// maxSecretPayload bounds a command whose secret is taken out under the
// bus lock; the alarm refuses larger ones.
const maxSecretPayload = 4096

// redactLocked takes attribute attr (the alarm code) out of a command
// before it is logged, stored and streamed to the page: the payload the
// bus keeps says "***", and the value waits in the registry, by sequence
// number, for the alarm to take it (takeSecret). The payload's bytes may be
// shared with the broker's deliveries, so a new slice replaces them.
func (r *Registry) redactLocked(e *hearth.Event, attr string) {
	if len(e.Payload) > maxSecretPayload {
		return
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(e.Payload, &m) != nil {
		return
	}
	// A keypad sending "Code" is refused by the alarm ("no code given"),
	// and its code stays out of the log all the same.
	redacted := false
	for k := range m {
		if k != attr && strings.EqualFold(k, attr) {
			m[k], redacted = json.RawMessage(strconv.Quote(redactedCode)), true
		}
	}
	var (
		secret string
		taken  bool // else not a code the alarm would take either
		v      any
	)
	if raw, ok := m[attr]; ok && json.Unmarshal(raw, &v) == nil {
		switch v := v.(type) {
		case string:
			secret, taken = v, true
		case float64:
			secret, taken = strconv.FormatFloat(v, 'f', -1, 64), true
		}
		if taken {
			m[attr], redacted = json.RawMessage(strconv.Quote(redactedCode)), true
		}
	}
	if !redacted {
		return
	}
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	e.Payload = b
	if taken {
		r.secrets.put(e.Seq, secret)
	}
}

// takeSecret returns the secret taken out of the event with sequence
// number seq, once.
func (r *Registry) takeSecret(seq uint64) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.secrets.take(seq)
}

// maxSecrets bounds the secrets waiting to be taken: when nothing takes
// them (no alarm runs in this process) the oldest go.
const maxSecrets = 64

// secretBox holds secrets taken out of events until the alarm takes them.
type secretBox struct {
	seqs []uint64
	vals map[uint64]string
}

func (b *secretBox) put(seq uint64, v string) {
	if b.vals == nil {
		b.vals = make(map[uint64]string)
	}
	if len(b.seqs) >= maxSecrets {
		delete(b.vals, b.seqs[0])
		b.seqs = slices.Delete(b.seqs, 0, 1)
	}
	b.seqs = append(b.seqs, seq)
	b.vals[seq] = v
}

func (b *secretBox) take(seq uint64) (string, bool) {
	v, ok := b.vals[seq]
	if !ok {
		return "", false
	}
	delete(b.vals, seq)
	if i := slices.Index(b.seqs, seq); i >= 0 {
		b.seqs = slices.Delete(b.seqs, i, i+1)
	}
	return v, true
}
