package broker

import (
	"errors"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// errResend ends the connection of a client whose messages were refused
// while the log could not be written, once it can: an MQTT 3.1.1 client
// sends unacknowledged messages again only when it reconnects.
var errResend = errors.New("the log is written again: reconnect and send the refused messages again")

// unlogged refuses QoS 1 and 2 messages while the log cannot be written (a
// full or read-only disk), before they reach the bus: a refused message
// must not reach the log later either, or the copy the client sends again
// would be logged twice.
//
// An MQTT 5 client gets a failure PUBACK and knows at once. An MQTT 3.1.1
// client cannot be told: its PUBLISH goes unanswered and the client keeps
// it. Disconnecting it would make it send the message again right away,
// only to be refused again, and every disconnection publishes its will
// (its devices "offline") for as long as the disk is full. So the
// connection stays up, and the client is remembered; the first time it
// publishes once the log works again, it is disconnected, and it sends
// everything it kept when it reconnects.
type unlogged struct {
	n       atomic.Int32 // len(clients), read without the lock on every publish
	mu      sync.Mutex
	clients map[*mqtt.Client]struct{} // connections with refused messages
}

func newUnlogged() *unlogged {
	return &unlogged{clients: make(map[*mqtt.Client]struct{})}
}

// refuseUnlogged turns down a QoS 1 or 2 message while the log fails with
// logErr.
func (h *hook) refuseUnlogged(cl *mqtt.Client, pk packets.Packet, logErr error) (packets.Packet, error) {
	v5 := cl.Properties.ProtocolVersion == 5
	if ok, suppressed := h.notes.allow("unlogged " + cl.ID); ok {
		h.log.Warn("QoS 1/2 message refused: the log cannot be written", "client", cl.ID, "topic", pk.TopicName,
			"v5_failure_puback", v5 && pk.FixedHeader.Qos == 1, "refused_before", suppressed, "err", logErr)
	}
	if v5 && pk.FixedHeader.Qos == 1 {
		return pk, errNotLogged
	}
	// A v5 QoS 2 refusal would need a PUBREC with a reason code, which mochi
	// does not send from a hook: that client waits too, like a v3 one.
	h.unlogged.remember(cl)
	return pk, packets.ErrRejectPacket
}

func (u *unlogged) remember(cl *mqtt.Client) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for c := range u.clients {
		if c.Closed() {
			delete(u.clients, c) // reconnected as a new connection, or gone
		}
	}
	u.clients[cl] = struct{}{}
	u.n.Store(int32(len(u.clients)))
}

// any reports whether some client had messages refused.
func (u *unlogged) any() bool { return u.n.Load() > 0 }

// due reports, once, whether cl had messages refused and should now
// reconnect to send them again: the log works again.
func (u *unlogged) due(cl *mqtt.Client, logErr error) bool {
	if logErr != nil {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.clients[cl]; !ok {
		return false
	}
	delete(u.clients, cl)
	u.n.Store(int32(len(u.clients)))
	return true
}
