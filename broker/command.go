package broker

import (
	"bytes"
	"context"
	"fmt"

	"hearth"
)

// Command logs c as a KindCommand event on the bus, then publishes its
// payload to its topic through mochi's inline client (no socket). The event
// comes first so that the log always explains what the hub did; it does not
// wait for the log to be durable, so a command is not held up by a disk
// write. The hook skips inline publishes, so the command is logged once.
//
// Call it from its own goroutine, not from a bus consumer's: publishing on
// the bus waits when a must-not-miss reader is a full ring behind, and
// delivering to a subscriber that stopped reading can take up to the write
// timeout. It returns the event as published.
func (b *Broker) Command(ctx context.Context, c hearth.Command) (hearth.Event, error) {
	if err := checkCommand(ctx, c); err != nil {
		return hearth.Event{}, err
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return hearth.Event{}, fmt.Errorf("command to %q: %w", c.Topic, ErrClosed)
	}

	payload := bytes.Clone(c.Payload) // the event and mochi's deliveries share it read-only
	ev, err := b.events.Publish(commandEvent(c, payload))
	if err != nil {
		return hearth.Event{}, fmt.Errorf("command to %q: log: %w", c.Topic, err)
	}
	if err := b.server.Publish(c.Topic, payload, c.Retain, c.QoS); err != nil {
		return ev, fmt.Errorf("command to %q (event %d): publish: %w", c.Topic, ev.Seq, err)
	}
	return ev, nil
}

// checkCommand refuses a command that cannot be sent: a cancelled context,
// a topic hearth.TopicProblem refuses (the rule automations are loaded
// by), a QoS above 2.
func checkCommand(ctx context.Context, c hearth.Command) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("command to %q: %w", c.Topic, err)
	}
	if why := hearth.TopicProblem(c.Topic); why != "" {
		return fmt.Errorf("command: topic %q %s", c.Topic, why)
	}
	if c.QoS > 2 {
		return fmt.Errorf("command to %q: QoS %d", c.Topic, c.QoS)
	}
	return nil
}

// commandEvent is the event that logs c, with payload as published.
func commandEvent(c hearth.Command, payload []byte) hearth.Event {
	return hearth.Event{
		Kind:    hearth.KindCommand,
		Topic:   c.Topic,
		Device:  c.Device,
		Payload: payload,
		QoS:     c.QoS,
		Retain:  c.Retain,
		Cause:   c.Cause,
	}
}
