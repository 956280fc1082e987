package broker

import (
	"errors"
	"fmt"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// The hook's access checks: who connects (OnConnect, through auth), what a
// client may read and write (OnACLCheck, which mochi asks before a PUBLISH
// reaches OnPublish, for every filter of a SUBSCRIBE, and for every message
// it delivers), and the per-client limits on subscriptions and retained
// messages.

// authenticate lets a client in or refuses it with the CONNACK code that
// says why, logging who and why (once in a while per address and reason, so
// that a device retrying a wrong password does not fill the log). Nothing
// secret is logged: not the password, not the hash.
func (h *hook) authenticate(cl *mqtt.Client, pk packets.Packet) error {
	r := h.auth.admit(h.server, cl, pk)
	if r == nil {
		return nil
	}
	ip, _, err := net.SplitHostPort(cl.Net.Remote)
	if err != nil {
		ip = cl.Net.Remote
	}
	user := string(pk.Connect.Username)
	if ok, suppressed := h.notes.allow("refuse " + ip + " " + user + " " + r.reason); ok {
		h.log.Warn("refusing client: "+r.reason, "client", cl.ID, "user", user, "remote", cl.Net.Remote,
			"listener", cl.Net.Listener, "refused_before", suppressed)
	}
	code := r.code
	if cl.Properties.ProtocolVersion < 5 {
		code = errCredentials // mochi turns it into 3.1.1's "not authorized", which has no other spelling
	}
	if err := h.server.SendConnack(cl, code, false, nil); err != nil {
		return fmt.Errorf("refuse client: %w", err)
	}
	return errors.New(r.reason)
}

// OnConnectAuthenticate lets in every client that OnConnect let through:
// OnConnect runs first and has already authenticated it.
func (h *hook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

// OnACLCheck reports whether cl may write (publish to) or read (subscribe to,
// be sent) topic. The hub's own inline client may do everything.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline {
		return true
	}
	ok := h.auth.allowed(cl, topic, write)
	if !ok && write {
		h.note(cl, "acl "+topic, "message refused: the client may not write to this topic", "topic", topic)
	}
	return ok
}

// OnSubscribe enforces the subscription limit, and logs the filters the ACL
// is about to refuse (mochi then answers them with a failure code in the
// SUBACK). A client asking for more subscriptions than the limit is cut off
// and none of the packet's filters is subscribed.
func (h *hook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if cl.Net.Inline {
		return pk
	}
	have := cl.State.Subscriptions.Len()
	fresh := 0
	for i, sub := range pk.Filters {
		if _, ok := cl.State.Subscriptions.Get(sub.Filter); ok || seenBefore(pk.Filters[:i], sub.Filter) {
			continue
		}
		fresh++
	}
	if have+fresh > h.limits.MaxSubscriptions {
		h.note(cl, "subscriptions", "disconnecting client: too many subscriptions",
			"subscriptions", have, "asked", fresh, "max", h.limits.MaxSubscriptions)
		filters := make(packets.Subscriptions, len(pk.Filters))
		for i, sub := range pk.Filters {
			sub.Filter = "" // an invalid filter: mochi subscribes none of them
			filters[i] = sub
		}
		pk.Filters = filters
		h.cutOff(cl, packets.ErrQuotaExceeded)
		return pk
	}
	for _, sub := range pk.Filters {
		if !h.auth.allowed(cl, sub.Filter, false) {
			h.note(cl, "acl sub "+sub.Filter, "subscription refused: the client may not read this filter", "filter", sub.Filter)
		}
	}
	return pk
}

func seenBefore(subs packets.Subscriptions, filter string) bool {
	for _, s := range subs {
		if s.Filter == filter {
			return true
		}
	}
	return false
}

// retainAllowed enforces the retained-message limit on a PUBLISH: a client
// holding its share of retained messages that retains one on a new topic is
// cut off, and the message reaches neither the subscribers nor the log.
func (h *hook) retainAllowed(cl *mqtt.Client, pk packets.Packet) bool {
	if !pk.FixedHeader.Retain || len(pk.Payload) == 0 {
		return true
	}
	if h.retained.allow(cl.ID, pk.TopicName, h.limits.MaxRetained) {
		return true
	}
	h.note(cl, "retained", "disconnecting client: too many retained messages",
		"topic", pk.TopicName, "max", h.limits.MaxRetained)
	h.cutOff(cl, packets.ErrQuotaExceeded)
	return false
}

// OnRetainMessage records who holds each retained message, after mochi
// kept (or, for an empty payload, deleted) it. The hub's own retained
// commands are counted too, under the inline client, which has no limit.
func (h *hook) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, _ int64) {
	h.retained.set(cl.ID, pk.TopicName, len(pk.Payload) == 0)
}

// cutOff disconnects a client that broke a limit: an MQTT 5 client is told
// why in a DISCONNECT; MQTT 3.1.1 has no server DISCONNECT, so the socket
// is closed.
func (h *hook) cutOff(cl *mqtt.Client, code packets.Code) {
	if cl.Properties.ProtocolVersion == 5 {
		_ = h.server.DisconnectClient(cl, code) // returns code itself: nothing to add
		return
	}
	cl.Stop(code)
}

// note logs a refusal with who and why, once in a while per client and key.
func (h *hook) note(cl *mqtt.Client, key, msg string, args ...any) {
	if ok, suppressed := h.notes.allow(cl.ID + "\x00" + key); ok {
		args = append(args, "client", cl.ID, "user", string(cl.Properties.Username), "remote", cl.Net.Remote)
		if suppressed > 0 {
			args = append(args, "refused_before", suppressed)
		}
		h.log.Warn(msg, args...)
	}
}
