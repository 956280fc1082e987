package broker

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"hearth"
)

// errNotLogged is the v5 PUBACK reason for a message the log could not
// confirm. It is returned unwrapped: mochi type-asserts hook errors.
var errNotLogged = packets.Code{Code: packets.ErrImplementationSpecificError.Code, Reason: "message not logged"}

// hook connects mochi to the hub. mochi calls it on the sending client's
// goroutine, so it parses, stamps, hands the event to the bus and returns;
// the waits are a QoS 1/2 publish waiting for the log (mochi sends PUBACK
// or PUBREC when OnPublish returns) and a client over its publish rate
// waiting for it, which is how the broker stops reading from that client.
type hook struct {
	mqtt.HookBase
	events         Events
	server         *mqtt.Server
	log            *slog.Logger
	ctx            context.Context // cancelled when the broker closes
	durableTimeout time.Duration
	maxPacketSize  uint32
	maxKeepalive   uint16

	auth     *auth     // who may connect, and what each client may read and write
	limits   Limits    // per-client limits
	throttle *throttle // the publish rate per client; nil without one
	retained *retained // retained messages held per client id
	notes    *notes    // repeated refusals are logged once in a while
	unlogged *unlogged // clients refused while the log could not be written

	takeovers *takeovers // the connections of one client id take turns
}

var hookProvides = []byte{
	mqtt.OnConnectAuthenticate,
	mqtt.OnACLCheck,
	mqtt.OnConnect,
	mqtt.OnPacketEncode,
	mqtt.OnPublish,
	mqtt.OnWillSent,
	mqtt.OnSubscribe,
	mqtt.OnRetainMessage,
}

// ID names the hook in mochi's logs.
func (h *hook) ID() string { return "hearth" }

// Provides lists the hook methods mochi should call.
func (h *hook) Provides(b byte) bool { return bytes.IndexByte(hookProvides, b) >= 0 }

// OnConnect caps the keepalive, then authenticates the client (access.go).
// Both run here rather than in OnConnectAuthenticate because a refusal
// must be answered with the CONNACK code that says why. An authenticated
// client then waits for the previous connection of its id to be finished
// with (takeover.go): mochi looks for that one's session next.
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	if err := h.capKeepalive(cl, pk); err != nil {
		return err
	}
	if err := h.authenticate(cl, pk); err != nil {
		return err
	}
	return h.takeovers.take(h.ctx, cl)
}

// capKeepalive caps the keepalive. An MQTT 5 client asking for more than the
// cap, or for none, gets the cap as Server Keep Alive in its CONNACK. An MQTT
// 3 client cannot be told, and would be cut off at the capped deadline while
// still idling within its own; it is refused with "identifier rejected", as
// Mosquitto does.
func (h *hook) capKeepalive(cl *mqtt.Client, pk packets.Packet) error {
	ka := pk.Connect.Keepalive
	if ka != 0 && ka <= h.maxKeepalive {
		return nil
	}
	if cl.Properties.ProtocolVersion == 5 {
		cl.State.Keepalive = h.maxKeepalive
		cl.State.ServerKeepalive = true
		return nil
	}
	if ka == 0 {
		return nil // no keepalive: TCP keepalive still finds dead peers
	}
	h.log.Warn("refusing client: keepalive above the maximum",
		"client", cl.ID, "remote", cl.Net.Remote, "keepalive", ka, "max", h.maxKeepalive)
	if err := h.server.SendConnack(cl, packets.ErrClientIdentifierNotValid, false, nil); err != nil {
		return fmt.Errorf("refuse keepalive %ds: %w", ka, err)
	}
	return fmt.Errorf("keepalive %ds above the maximum of %ds", ka, h.maxKeepalive)
}

// OnPacketEncode advertises the maximum packet size in the v5 CONNACK,
// which mochi enforces but does not tell.
func (h *hook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && cl.Properties.ProtocolVersion == 5 &&
		pk.ReasonCode < packets.ErrUnspecifiedError.Code {
		pk.Properties.MaximumPacketSize = h.maxPacketSize
	}
	return pk
}

// OnPublish turns an accepted PUBLISH into a message event. A client over
// its publish rate waits here first (throttle.go). QoS 0 returns as soon as
// the event is on the bus; QoS 1 and 2 wait until the log has it, so that
// an acknowledged message is a durable one.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		// The hub's own command, or a message a bridge brought in: whoever
		// injected it logged it already (a bridge must know the event's
		// sequence number to acknowledge the remote broker once it is
		// durable, which mochi cannot hand back from here).
		return pk, nil
	}
	if h.throttle != nil {
		if err := h.throttle.wait(h.ctx, connDone(cl), cl.ID, cl.Net.Remote); err != nil {
			return pk, packets.ErrRejectPacket // the client is gone, or the broker: nothing to acknowledge
		}
	}
	// mochi asked OnACLCheck before calling here: a message reaching this
	// point may be written by its client. Only the retained limit is left.
	if !h.retainAllowed(cl, pk) {
		return pk, packets.ErrRejectPacket
	}
	qos := pk.FixedHeader.Qos
	if qos > 0 {
		if err := h.events.DurableErr(); err != nil {
			return h.refuseUnlogged(cl, pk, err) // unlogged.go
		}
	}
	resend := h.unlogged.any() && h.unlogged.due(cl, h.events.DurableErr())
	if resend && qos > 0 {
		h.log.Info("disconnecting client: the log is written again, and it resends the messages refused meanwhile", "client", cl.ID)
		cl.Stop(errResend)
		return pk, packets.ErrRejectPacket // this one comes again with them
	}
	ev, err := h.events.Publish(messageEvent(cl, pk))
	if err != nil {
		return h.refuse(cl, pk, fmt.Errorf("log message: %w", err))
	}
	if qos == 0 {
		if resend {
			h.log.Info("disconnecting client: the log is written again, and it resends the messages refused meanwhile", "client", cl.ID)
			cl.Stop(errResend)
		}
		return pk, nil
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.durableTimeout)
	err = h.events.WaitDurable(ctx, ev.Seq)
	cancel()
	if err != nil {
		if logErr := h.events.DurableErr(); logErr != nil {
			// The disk failed while this message waited: refused like the
			// ones that come after it. (It is held for the log, and may be
			// there twice once the client sends it again.)
			return h.refuseUnlogged(cl, pk, logErr)
		}
		return h.refuse(cl, pk, fmt.Errorf("wait for the log to hold event %d: %w", ev.Seq, err))
	}
	return pk, nil
}

// connDone returns a channel closed when the client's connection closes;
// nil (never) for a connection that is not the broker's own.
func connDone(cl *mqtt.Client) <-chan struct{} {
	if c, ok := cl.Net.Conn.(*conn); ok {
		return c.done
	}
	return nil
}

// refuse keeps a message the log did not take from being acknowledged. A v5
// QoS 1 publisher gets a failure PUBACK. mochi would acknowledge a v3 (or
// QoS 2) message whatever the hook says, so that client is disconnected
// instead, and resends the message when it reconnects.
func (h *hook) refuse(cl *mqtt.Client, pk packets.Packet, err error) (packets.Packet, error) {
	qos := pk.FixedHeader.Qos
	switch {
	case qos == 0:
		h.log.Debug("message dropped: not logged", "client", cl.ID, "topic", pk.TopicName, "error", err)
		return pk, packets.ErrRejectPacket
	case qos == 1 && cl.Properties.ProtocolVersion == 5:
		h.log.Warn("message refused: not logged", "client", cl.ID, "topic", pk.TopicName, "error", err)
		return pk, errNotLogged
	default:
		h.log.Warn("disconnecting client: its message was not logged", "client", cl.ID, "topic", pk.TopicName, "error", err)
		cl.Stop(err)
		return pk, packets.ErrRejectPacket
	}
}

// OnWillSent logs a client's will (its "offline"), which mochi publishes
// without going through OnPublish. Nobody waits for an acknowledgement.
func (h *hook) OnWillSent(cl *mqtt.Client, pk packets.Packet) {
	if _, err := h.events.Publish(messageEvent(cl, pk)); err != nil {
		h.log.Warn("will not logged", "client", cl.ID, "topic", pk.TopicName, "error", err)
	}
}

// messageEvent stamps a message. The payload is copied so that the event,
// which consumers keep and read for as long as they like, shares no memory
// with mochi's packet (held by retained messages and queued deliveries).
func messageEvent(cl *mqtt.Client, pk packets.Packet) hearth.Event {
	return newMessage(cl.ID, pk.TopicName, pk.Payload, pk.FixedHeader.Qos, pk.FixedHeader.Retain)
}

// newMessage stamps a message from client, copying its payload. Remote mode
// and bridges log the messages they receive with it too, so that every
// message event has the same shape whichever way it came in.
func newMessage(client, topic string, payload []byte, qos byte, retain bool) hearth.Event {
	return hearth.Event{
		Kind:    hearth.KindMessage,
		Topic:   topic,
		Payload: bytes.Clone(payload),
		QoS:     qos,
		Retain:  retain,
		Client:  client,
	}
}
