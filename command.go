package hearth

import (
	"context"
	"errors"
)

// ErrBadCommand is wrapped by the error of a command that does not fit its
// device: not a JSON object, an attribute the device does not take, a value
// it cannot carry. It is the sender's mistake, not trouble reaching the
// device: the HTTP API answers it with 400, where other errors of a
// Commander are 502.
var ErrBadCommand = errors.New("bad command")

// Command is something the hub asks a device to do: a payload published to
// a topic, carrying why it was sent.
type Command struct {
	// Device is the device commanded, if the topic belongs to one.
	Device string
	// Topic is where the payload is published.
	Topic string
	// Payload is the message body.
	Payload []byte
	// QoS and Retain are the MQTT delivery flags.
	QoS    byte
	Retain bool
	// Cause says what led to the command; it is logged with it.
	Cause Cause
}

// Commander sends commands to devices. The command is logged as an event
// before it is published, so the log always explains what the hub did.
type Commander interface {
	Command(ctx context.Context, c Command) (Event, error)
}

// DeviceReader answers "what is the state of X" from the read model.
type DeviceReader interface {
	// Device returns the state of one device and whether it is known.
	Device(id string) (DeviceState, bool)
	// Devices returns every known device, sorted by id.
	Devices() []DeviceState
}
