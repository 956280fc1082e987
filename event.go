// Package hearth holds the vocabulary every part of the hub shares: events and
// their kinds, device state, commands, and the bus that carries events from the
// broker to the log, the device read model, the automations and the page.
//
// It depends on the standard library only.
package hearth

import (
	"encoding/json"
	"time"
)

// Kind says what an event records.
type Kind string

// The kinds of event in the log.
const (
	// KindMessage is an MQTT message accepted by the broker from a client.
	KindMessage Kind = "message"
	// KindState is a change of a device's state, folded from a message.
	KindState Kind = "state"
	// KindAvailability is a device going online or offline; the payload is
	// "online" or "offline".
	KindAvailability Kind = "availability"
	// KindCommand is a command the hub sent to a device (from an automation or the page).
	KindCommand Kind = "command"
	// KindRun is an automation run: what triggered it and how it ended.
	KindRun Kind = "run"
	// KindNotification is a notification to people (topic $hearth/notify,
	// its cause the automation run) or the outcome of its delivery through
	// one channel (topic $hearth/notify/<channel>, cause.seq the
	// notification's); see Notification and NotificationOutcome.
	KindNotification Kind = "notification"
	// KindGap is the log's own note that events were not written to it: while
	// the disk was full or read-only the hub held them in memory, and when
	// that was not enough it let the oldest go. Its topic is $hearth/log/gap
	// and its payload says how many, between which sequence numbers and why
	// (store.Gap).
	KindGap Kind = "gap"
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindMessage, KindState, KindAvailability, KindCommand, KindRun, KindNotification, KindGap:
		return true
	}
	return false
}

// Cause says why an event happened: the event that led to it and, when an
// automation or a person acted, who. Walking causes back answers "why did the
// light turn on?".
type Cause struct {
	// Seq is the sequence number of the event that caused this one, 0 if none.
	Seq uint64 `json:"seq,omitempty"`
	// Run names the automation run that acted ("hall_light_on_motion#12").
	Run string `json:"run,omitempty"`
	// Source is who acted when it was not a device: "automation", "web", "hub".
	Source string `json:"source,omitempty"`
}

// IsZero reports whether the cause is empty.
func (c Cause) IsZero() bool { return c == Cause{} }

// Event is one entry of the append-only log. Events are values: once published
// on the bus nobody changes them, so their byte slices are shared read-only.
type Event struct {
	// Seq is the position in the log, assigned by the bus, strictly increasing.
	Seq uint64
	// Time is when the hub accepted the event.
	Time time.Time
	// Kind says what the event records.
	Kind Kind
	// Topic is the MQTT topic of a message or command.
	Topic string
	// Device is the device the event concerns, if any.
	Device string
	// Payload is the message body; for a state event the device's whole new
	// state as a JSON object.
	Payload []byte
	// Prev is, for a state event, the device's state before the change.
	Prev []byte
	// Client is the MQTT client id that sent a message.
	Client string
	// QoS and Retain are the MQTT delivery flags of a message or command.
	QoS    byte
	Retain bool
	// Cause links the event to what led to it.
	Cause Cause
}

type eventJSON struct {
	Seq     uint64          `json:"seq"`
	Time    time.Time       `json:"time"`
	Kind    Kind            `json:"kind"`
	Topic   string          `json:"topic,omitempty"`
	Device  string          `json:"device,omitempty"`
	Client  string          `json:"client,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Prev    json.RawMessage `json:"prev,omitempty"`
	QoS     byte            `json:"qos,omitempty"`
	Retain  bool            `json:"retain,omitempty"`
	Cause   *Cause          `json:"cause,omitempty"`
}

// MarshalJSON writes the event with its payload inline when the payload is
// JSON, and as a JSON string when it is not.
func (e Event) MarshalJSON() ([]byte, error) {
	out := eventJSON{
		Seq: e.Seq, Time: e.Time, Kind: e.Kind, Topic: e.Topic, Device: e.Device, Client: e.Client,
		Payload: rawOrString(e.Payload), Prev: rawOrString(e.Prev),
		QoS: e.QoS, Retain: e.Retain,
	}
	if !e.Cause.IsZero() {
		c := e.Cause
		out.Cause = &c
	}
	return json.Marshal(out)
}

func rawOrString(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b)) // a string always marshals
	return s
}
