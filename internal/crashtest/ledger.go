package crashtest

import (
	"encoding/json"
	"strings"
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// ledger records, for every QoS 1 message one load client publishes, how
// many times paho put it on the wire and whether its PUBACK came back.
//
// It is the client's paho session store, which is where paho keeps a QoS 1
// message from its first send until its PUBACK: Put when the message is
// published, Get when a reconnect sends it again (with DUP set), Del when
// its PUBACK arrives (and for nothing else, with a persistent session). A
// publish token cannot say this: paho completes the token of a message it
// will resend, without error, when the reconnect replaces it.
type ledger struct {
	mqtt.Store // the memory store paho really uses

	// slots bounds the messages in flight: a publisher takes a slot before
	// it publishes and the PUBACK gives it back.
	slots chan struct{}

	mu      sync.Mutex
	byKey   map[string]string // paho store key ("o.17") -> message id
	msgs    map[string]*sent
	order   []string // message ids as published
	pending int      // published, not yet acknowledged
}

// sent is what happened to one message.
type sent struct {
	sends int
	acked bool
}

func newLedger(window int) *ledger {
	return &ledger{
		Store: mqtt.NewMemoryStore(),
		slots: make(chan struct{}, window),
		byKey: map[string]string{},
		msgs:  map[string]*sent{},
	}
}

// messageID reads the id out of a load message's payload; "" for any other
// packet.
func messageID(p packets.ControlPacket) string {
	pub, ok := p.(*packets.PublishPacket)
	if !ok {
		return ""
	}
	var m struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(pub.Payload, &m) != nil {
		return ""
	}
	return m.ID
}

func (l *ledger) Put(key string, p packets.ControlPacket) {
	if id := messageID(p); id != "" && strings.HasPrefix(key, "o.") {
		l.mu.Lock()
		l.byKey[key] = id
		if l.msgs[id] == nil {
			l.msgs[id] = &sent{}
			l.order = append(l.order, id)
			l.pending++
		}
		l.msgs[id].sends++
		l.mu.Unlock()
	}
	l.Store.Put(key, p)
}

func (l *ledger) Get(key string) packets.ControlPacket {
	p := l.Store.Get(key)
	if p != nil && messageID(p) != "" {
		// paho reads a stored message back only to send it again after a
		// reconnect (and, at the first connect, from a store that is empty).
		l.mu.Lock()
		if id, ok := l.byKey[key]; ok && !l.msgs[id].acked {
			l.msgs[id].sends++
		}
		l.mu.Unlock()
	}
	return p
}

func (l *ledger) Del(key string) {
	l.mu.Lock()
	if id, ok := l.byKey[key]; ok {
		delete(l.byKey, key)
		if m := l.msgs[id]; !m.acked {
			m.acked = true
			l.pending--
			<-l.slots
		}
	}
	l.mu.Unlock()
	l.Store.Del(key)
}

// known reports whether paho took the message into its store, that is,
// whether Publish got as far as sending it.
func (l *ledger) known(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msgs[id] != nil
}

// unacked returns how many published messages wait for their PUBACK.
func (l *ledger) unacked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pending
}

// Outcome is what a client knows of one message it published.
type Outcome struct {
	// Sends counts the times it went out: 1, plus one per reconnect that
	// resent it.
	Sends int
	// Acked is true once its PUBACK arrived.
	Acked bool
}

// snapshot copies what the ledger knows now into out.
func (l *ledger) snapshot(out map[string]Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range l.order {
		m := l.msgs[id]
		out[id] = Outcome{Sends: m.sends, Acked: m.acked}
	}
}
