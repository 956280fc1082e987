package broker

import (
	"bytes"
	"strings"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// MQTT's "#" also matches the level above it: home/+/# matches home/hall as
// well as home/hall/set, and +/# matches every topic. mochi v2.7.9 misses
// that level when "+" comes right before "#" (home/+/#, +/#, a/+/+/#; it
// gets a/# and a/+/b/# right). A client that subscribes to home/+/# to
// follow every device would never get home/hall, a device's state.
//
// plusHash mends it in mochi's topic index: beside such a filter it files
// the filter without its "/#" (home/+) for the same client with the same
// options, and takes it away with the filter. The two filters share no
// topic, and mochi sends a client each message once whatever the number of
// its filters that match. The added filter is not one of the client's own
// (mochi's session does not list it): it goes when the filter that brought
// it does, which covers a session's end and a clean start too (mochi
// unsubscribes the session's filters through OnUnsubscribed), and when a
// kept session expires; one the client subscribes to itself is left to
// the client.
//
// Left as mochi has them: a client holding both home/+ and home/+/# gets
// home/hall with home/+'s options only (MQTT 5 would take the higher QoS
// and both subscription identifiers), and mochi's count of subscriptions
// ($SYS) can drift by the filings it counts as the client's.
//
// Not mended: the retained message on the level above (home/hall) is not
// sent when the client subscribes to home/+/#; mochi scans for retained
// messages with the same gap.
type plusHash struct {
	mqtt.HookBase
	topics *mqtt.TopicsIndex

	mu    sync.Mutex
	added map[string]map[string]packets.Subscription // client id → filter ending in +/# → what was filed beside it
}

func newPlusHash(topics *mqtt.TopicsIndex) *plusHash {
	return &plusHash{topics: topics, added: make(map[string]map[string]packets.Subscription)}
}

var plusHashProvides = []byte{mqtt.OnSubscribed, mqtt.OnUnsubscribed, mqtt.OnClientExpired}

// ID names the hook in mochi's logs.
func (h *plusHash) ID() string { return "hearth-plus-hash" }

// Provides lists the hook methods mochi should call.
func (h *plusHash) Provides(b byte) bool { return bytes.IndexByte(plusHashProvides, b) >= 0 }

// levelAbove returns the filter for the level a filter ending in "+/#"
// also matches (home/+/# → home/+), or "" for any other filter. Shared
// subscriptions are left as mochi has them.
func levelAbove(filter string) string {
	if mqtt.IsSharedFilter(filter) {
		return ""
	}
	above, ok := strings.CutSuffix(filter, "/#")
	if !ok || (above != "+" && !strings.HasSuffix(above, "/+")) {
		return ""
	}
	return above
}

// OnSubscribed files the level above of each filter ending in +/# that
// the client was granted and still holds: a takeover's clean-up may have
// taken its filters away since mochi granted them, and the hub's own
// inline subscriptions (bridges), which mochi keeps apart, are no client's
// to file for.
func (h *plusHash) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cl.IsTakenOver() {
		return
	}
	for i, sub := range pk.Filters {
		above := levelAbove(sub.Filter)
		if above == "" || i >= len(codes) || codes[i] > packets.CodeGrantedQos2.Code {
			continue
		}
		if _, held := cl.State.Subscriptions.Get(sub.Filter); !held {
			continue
		}
		extra := sub
		extra.Filter = above
		if h.added[cl.ID] == nil {
			h.added[cl.ID] = make(map[string]packets.Subscription)
		}
		h.added[cl.ID][sub.Filter] = extra
		h.fileLocked(cl, extra)
	}
}

// fileLocked puts extra in the topic index for cl, unless cl subscribed to
// that filter itself: its own options stay.
func (h *plusHash) fileLocked(cl *mqtt.Client, extra packets.Subscription) {
	if _, own := cl.State.Subscriptions.Get(extra.Filter); own {
		return
	}
	h.topics.Subscribe(cl.ID, extra)
}

// OnUnsubscribed takes away what the filters the client left brought, and
// files again what a filter it still holds needs when it unsubscribed from
// the level above itself (it had that on its own as well). A filter the
// client still holds was not left: mochi refused that unsubscribe (its
// packet id was in use) yet calls this all the same.
func (h *plusHash) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	h.mu.Lock()
	defer h.mu.Unlock()
	added := h.added[cl.ID]
	for _, sub := range pk.Filters {
		if _, held := cl.State.Subscriptions.Get(sub.Filter); held {
			continue
		}
		if extra, ok := added[sub.Filter]; ok {
			delete(added, sub.Filter)
			if _, own := cl.State.Subscriptions.Get(extra.Filter); !own {
				h.topics.Unsubscribe(extra.Filter, cl.ID)
			}
		}
	}
	for _, extra := range added {
		if containsFilter(pk.Filters, extra.Filter) {
			h.fileLocked(cl, extra)
		}
	}
	if len(added) == 0 {
		delete(h.added, cl.ID)
	}
}

func containsFilter(subs []packets.Subscription, filter string) bool {
	for _, s := range subs {
		if s.Filter == filter {
			return true
		}
	}
	return false
}

// OnClientExpired takes away, when a kept session expires, what its
// filters brought and the filters themselves: mochi forgets the client
// without unsubscribing it, and a later client of the same id would be
// sent what the expired session had subscribed to. No connection of the
// id is live then: mochi expires only a client that is gone.
func (h *plusHash) OnClientExpired(cl *mqtt.Client) {
	for filter := range cl.State.Subscriptions.GetAll() {
		h.topics.Unsubscribe(filter, cl.ID)
	}
	h.drop(cl.ID)
}

func (h *plusHash) drop(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, extra := range h.added[id] {
		h.topics.Unsubscribe(extra.Filter, id)
	}
	delete(h.added, id)
}
