package broker

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Defaults of the abuse limits.
const (
	// DefaultConnectionRate and DefaultConnectionBurst bound how fast one
	// address may open connections: a token bucket of 20 refilled at 10 a
	// second. A device reconnecting every few seconds never meets it.
	DefaultConnectionRate  = 10.0
	DefaultConnectionBurst = 20
	// DefaultMaxSubscriptions caps the subscriptions of one client. Home
	// Assistant subscribes to a few topics per entity it discovers, so a
	// house of a few hundred entities stays well below it.
	DefaultMaxSubscriptions = 1000
	// DefaultMaxRetained caps the retained messages one client id keeps on
	// the broker. Zigbee2MQTT retains one Home Assistant discovery message
	// per entity, several per device; a large Zigbee network stays below it.
	DefaultMaxRetained = 1000
	// DefaultSendBuffer bounds what waits for one client that does not
	// take it, beyond what its socket holds: seconds of a busy house for a
	// "#" subscriber on a slow link.
	DefaultSendBuffer = 256 << 10
	// DefaultPublishRate and DefaultPublishBurst are the publish rate the
	// hub sets for each client (the broker itself has none unless told):
	// a token bucket of 5,000 messages refilled at 1,000 a second. A
	// Zigbee2MQTT bridge with a hundred devices sends tens of messages a
	// second; when it reconnects it publishes a state and a few Home
	// Assistant discovery messages per device, a couple of thousand for a
	// large network, which the burst takes at once. A client beyond it is
	// not cut off, only read more slowly: a device stuck in a loop or a
	// script gone wrong floods the bus at hundreds of thousands of
	// messages a second, and every other device waits behind it.
	DefaultPublishRate  = 1000.0
	DefaultPublishBurst = 5000
)

// minSendBuffer is the smallest send buffer accepted.
const minSendBuffer = 4 << 10

// Limits bound what one client or one address may take of the broker.
// Zero values take the defaults above, except PublishRate (0: no limit). A
// client that breaks a limit is disconnected and logged once (with who and
// why), except one over its publish rate, which is slowed down instead; the
// others keep working.
type Limits struct {
	// ConnectionRate is how many connections per second one address may
	// open in the long run, and ConnectionBurst how many at once. Connections
	// beyond are closed as soon as they are accepted. Loopback addresses are
	// not limited: the hub's own tools and a local proxy connect from there.
	// IPv6 addresses count per /64, the block one host usually has.
	ConnectionRate  float64 `yaml:"connection_rate,omitempty"`
	ConnectionBurst int     `yaml:"connection_burst,omitempty"`
	// MaxSubscriptions caps the topic filters one client is subscribed to.
	MaxSubscriptions int `yaml:"subscriptions_per_client,omitempty"`
	// MaxRetained caps the retained messages one client id has left on the
	// broker; publishing an empty retained message to a topic frees its slot.
	MaxRetained int `yaml:"retained_per_client,omitempty"`
	// SendBuffer bounds the bytes waiting for one client that cannot take
	// them yet (its socket's buffer is full). Writes never wait for a
	// client: what it cannot take at once waits in a buffer of its own,
	// allocated only while it is behind, and a client that falls further
	// behind is cut off as a slow consumer, so that it holds up no one else.
	// A message into an empty buffer is always taken, whatever its size.
	SendBuffer int `yaml:"send_buffer_per_client,omitempty"`
	// Clients caps the connected clients (open sockets) of the whole broker
	// (DefaultMaxClients when 0); further connections are closed as soon as
	// they are accepted. A house with more than 1,000 MQTT clients raises it.
	Clients int `yaml:"clients,omitempty"`
	// PublishRate is how many messages a second one client (by client id)
	// may publish in the long run, and PublishBurst how many at once (0:
	// DefaultPublishBurst). A client beyond it is not cut off and loses
	// nothing: the broker stops reading from its connection until the
	// rate allows its next message, so TCP slows the client down and its
	// QoS 1 messages are acknowledged later. The hub's own publishes
	// (commands, bridges) are not limited. Unlike the other limits, 0
	// turns it off: the hub's config sets DefaultPublishRate unless the
	// file says otherwise. (No omitempty: 0 must survive `hub config`.)
	PublishRate  float64 `yaml:"publish_rate_per_client"`
	PublishBurst int     `yaml:"publish_burst_per_client,omitempty"`
}

func (l Limits) withDefaults() Limits {
	if l.ConnectionRate == 0 {
		l.ConnectionRate = DefaultConnectionRate
	}
	setDefault(&l.ConnectionBurst, DefaultConnectionBurst)
	setDefault(&l.MaxSubscriptions, DefaultMaxSubscriptions)
	setDefault(&l.MaxRetained, DefaultMaxRetained)
	setDefault(&l.SendBuffer, DefaultSendBuffer)
	setDefault(&l.Clients, DefaultMaxClients)
	setDefault(&l.PublishBurst, DefaultPublishBurst)
	return l
}

func (l Limits) validate() []error {
	var errs []error
	if l.ConnectionRate <= 0 {
		errs = append(errs, fmt.Errorf("Limits.ConnectionRate %v: want > 0", l.ConnectionRate))
	}
	if l.ConnectionBurst < 1 {
		errs = append(errs, fmt.Errorf("Limits.ConnectionBurst %d: want >= 1", l.ConnectionBurst))
	}
	if l.MaxSubscriptions < 1 {
		errs = append(errs, fmt.Errorf("Limits.MaxSubscriptions %d: want >= 1", l.MaxSubscriptions))
	}
	if l.MaxRetained < 1 {
		errs = append(errs, fmt.Errorf("Limits.MaxRetained %d: want >= 1", l.MaxRetained))
	}
	if l.Clients < 0 {
		errs = append(errs, fmt.Errorf("Limits.Clients %d: want >= 0 (0 means the default, %d)", l.Clients, DefaultMaxClients))
	}
	if l.SendBuffer < minSendBuffer {
		errs = append(errs, fmt.Errorf("Limits.SendBuffer %d: want >= %d bytes", l.SendBuffer, minSendBuffer))
	}
	// Below a message a second one message's wait would outlast what a
	// client that has gone away should hold its goroutine for (see throttle).
	if r := l.PublishRate; r != 0 && !(r >= 1 && !math.IsInf(r, 1)) {
		errs = append(errs, fmt.Errorf("limits: publish_rate_per_client %v: want 0 (no limit) or at least 1 message a second", r))
	}
	if l.PublishBurst < 1 {
		errs = append(errs, fmt.Errorf("limits: publish_burst_per_client %d: want at least 1 message (or 0 for the default, %d)", l.PublishBurst, DefaultPublishBurst))
	}
	return errs
}

// gate admits sockets for every listener of the broker: it caps the open
// sockets (Limits.Clients) and the rate at which one address opens them.
type gate struct {
	max        int
	now        func() time.Time
	isLoopback func(netip.Addr) bool
	log        *slog.Logger
	notes      *notes

	mu      sync.Mutex
	open    int
	full    bool                // refusing for Limits.Clients; logged once per episode
	buckets buckets[netip.Addr] // under mu
}

func newGate(cfg *Config, now func() time.Time, isLoopback func(netip.Addr) bool, log *slog.Logger, n *notes) *gate {
	return &gate{
		max:        cfg.Limits.Clients,
		now:        now,
		isLoopback: isLoopback,
		log:        log,
		notes:      n,
		buckets:    newBuckets[netip.Addr](cfg.Limits.ConnectionRate, float64(cfg.Limits.ConnectionBurst)),
	}
}

// admit takes a slot for a socket from remote, or says why not.
func (g *gate) admit(remote net.Addr) bool {
	ip, hasIP := addrIP(remote)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open >= g.max {
		if !g.full {
			g.full = true
			g.log.Warn("too many open connections; refusing new ones", "max_clients", g.max)
		}
		return false
	}
	if hasIP && !g.isLoopback(ip) && !g.takeToken(ip) {
		key := rateKey(ip)
		if ok, suppressed := g.notes.allow("rate " + key.String()); ok {
			g.log.Warn("refusing connections from an address opening too many",
				"remote", key.String(), "rate_per_second", g.buckets.rate, "burst", g.buckets.burst, "refused_before", suppressed)
		}
		return false
	}
	g.open++
	return true
}

// release gives a closed socket's slot back.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open--
	if g.full && g.open < g.max {
		g.full = false
		g.log.Info("accepting connections again", "open", g.open)
	}
}

// takeToken takes one token from ip's bucket, if it has one.
func (g *gate) takeToken(ip netip.Addr) bool {
	b := g.buckets.refill(rateKey(ip), g.now())
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// addrIP returns the IP of a TCP address.
func addrIP(a net.Addr) (netip.Addr, bool) {
	if a == nil {
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// rateKey is the address the rate is counted for: the IP, or for IPv6 its
// /64, so that one host cannot step through its block to escape the limit.
func rateKey(ip netip.Addr) netip.Addr {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// remoteLoopback reports whether an address string (host:port, as mochi
// keeps it) is on this machine.
func remoteLoopback(remote string, isLoopback func(netip.Addr) bool) bool {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	return isLoopback(ap.Addr().Unmap())
}

// retained counts the retained messages each client id has left on the
// broker, by topic: the client that last retained a message on a topic
// holds its slot; an empty retained message frees it.
type retained struct {
	mu    sync.Mutex
	owner map[string]string // topic -> client id
	count map[string]int    // client id -> topics held
}

func newRetained() *retained {
	return &retained{owner: make(map[string]string), count: make(map[string]int)}
}

// allow reports whether client may retain a message on topic, holding at
// most max topics.
func (r *retained) allow(client, topic string, max int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.owner[topic] == client || r.count[client] < max
}

// set records that client retained a message on topic (empty: deleted it).
func (r *retained) set(client, topic string, empty bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.owner[topic]; ok {
		if r.count[prev]--; r.count[prev] <= 0 {
			delete(r.count, prev)
		}
		delete(r.owner, topic)
	}
	if !empty {
		r.owner[topic] = client
		r.count[client]++
	}
}

// notes limits repeated log lines: a line for a key (who and why) is written
// once, and again only after noteEvery, saying how many were left out.
// A device that retries a wrong password every few seconds makes one line
// every ten minutes, not thousands.
type notes struct {
	now func() time.Time

	mu   sync.Mutex
	seen map[string]*note
}

type note struct {
	last       time.Time
	suppressed int
}

const (
	noteEvery = 10 * time.Minute
	maxNotes  = 4096
)

func newNotes(now func() time.Time) *notes {
	return &notes{now: now, seen: make(map[string]*note)}
}

// allow reports whether the line for key may be written now, and how many
// were left out since the last one written.
func (n *notes) allow(key string) (bool, int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	if e := n.seen[key]; e != nil {
		if now.Sub(e.last) < noteEvery {
			e.suppressed++
			return false, 0
		}
		s := e.suppressed
		e.last, e.suppressed = now, 0
		return true, s
	}
	if len(n.seen) >= maxNotes {
		for k, e := range n.seen {
			if now.Sub(e.last) >= noteEvery {
				delete(n.seen, k)
			}
		}
		if len(n.seen) >= maxNotes {
			clear(n.seen)
		}
	}
	n.seen[key] = &note{last: now}
	return true, 0
}
