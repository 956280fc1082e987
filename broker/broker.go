// Package broker runs the hub's embedded MQTT broker (mochi-mqtt): it turns
// every message a client publishes into an event on the bus, acknowledges
// QoS 1/2 messages only once the log holds them, sends the hub's commands
// through mochi's inline client, and guards mochi against clients that send
// malformed or oversized packets, never send CONNECT, or stop reading.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"hearth"
)

// Events is what the broker needs of the bus: publish an event, and wait
// until the log holds it. *hearth.Bus satisfies it.
type Events interface {
	Publish(hearth.Event) (hearth.Event, error)
	WaitDurable(ctx context.Context, seq uint64) error
	// AwaitDurable waits like WaitDurable, but through failures of the log.
	AwaitDurable(ctx context.Context, seq uint64) error
	// DurableErr says why the log cannot be written now; nil while it can.
	DurableErr() error
}

var _ Events = (*hearth.Bus)(nil)

var _ hearth.Commander = (*Broker)(nil)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("broker closed")

// Broker is the embedded MQTT broker.
type Broker struct {
	cfg    Config
	log    *slog.Logger
	events Events
	server *mqtt.Server
	ctx    context.Context // cancelled by Close: releases publishes waiting for the log
	cancel context.CancelFunc

	subID atomic.Int32 // last inline subscription id

	notes    *notes
	gate     *gate
	throttle *throttle // nil without a publish rate limit
	retained *retained // retained messages held per client id
	auth     *auth
	tls      *tls.Config           // nil without a TLS listener
	loopback func(netip.Addr) bool // what counts as this machine; tests pretend otherwise

	takeovers *takeovers // the connections of one client id take turns

	mu        sync.Mutex
	ln        *listener // plain TCP
	tlsLn     *listener
	wsLn      *listener
	started   bool
	closed    bool
	closeOnce sync.Once
}

// New makes a broker that publishes to events. It does not listen until Start.
func New(cfg Config, events Events) (*Broker, error) {
	if events == nil {
		return nil, errors.New("broker: no events bus")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil { // the TLS files are loaded below, once
		return nil, fmt.Errorf("broker config: %w", err)
	}
	log := cfg.Logger.With("component", "broker")
	server := mqtt.New(&mqtt.Options{
		Capabilities:            cfg.capabilities(),
		Logger:                  slog.New(mochiLog{log.Handler()}).With("mqtt", "mochi"),
		InlineClient:            true,
		SysTopicResendInterval:  60, // $SYS every minute, not every second, on a small machine
		ClientNetReadBufferSize: mochiReadBufferSize,
	})
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{cfg: cfg, log: log, events: events, server: server, ctx: ctx, cancel: cancel,
		loopback: netip.Addr.IsLoopback}
	b.notes = newNotes(time.Now)
	b.gate = newGate(&b.cfg, time.Now, b.isLoopback, log, b.notes)
	b.throttle = newThrottle(cfg.Limits, time.Now, log, b.notes)
	// A connection's predecessor may still be waiting for the log to hold a
	// message it sent (DurableTimeout) before mochi is finished with it.
	b.takeovers = newTakeovers(cfg.DurableTimeout+time.Second, log, func(cl *mqtt.Client) {
		_ = server.DisconnectClient(cl, packets.ErrSessionTakenOver) // what mochi's takeover sends
	})
	var err error
	if b.auth, err = newAuth(ctx, &b.cfg, b.isLoopback, log, b.notes); err != nil {
		cancel()
		return nil, fmt.Errorf("broker: %w", err)
	}
	b.auth.server = server
	if cfg.TLS.Addr != "" {
		if b.tls, err = cfg.TLS.serverConfig(); err != nil {
			cancel()
			return nil, fmt.Errorf("broker: %w", err)
		}
	}
	b.retained = newRetained()
	h := &hook{
		events:         events,
		server:         server,
		log:            log,
		ctx:            ctx,
		durableTimeout: cfg.DurableTimeout,
		maxPacketSize:  uint32(cfg.MaxPacketSize),
		maxKeepalive:   cfg.keepaliveCap(),
		auth:           b.auth,
		takeovers:      b.takeovers,
		limits:         cfg.Limits,
		throttle:       b.throttle,
		retained:       b.retained,
		notes:          b.notes,
		unlogged:       newUnlogged(),
	}
	if err := server.AddHook(h, nil); err != nil {
		cancel()
		return nil, fmt.Errorf("broker: add hook: %w", err)
	}
	if err := server.AddHook(newPlusHash(server.Topics), nil); err != nil {
		cancel()
		return nil, fmt.Errorf("broker: add plus-hash hook: %w", err)
	}
	if err := server.AddHook(newPacer(cfg.MaximumClientWritesPending, 2*cfg.WriteTimeout), nil); err != nil {
		cancel()
		return nil, fmt.Errorf("broker: add pacer hook: %w", err)
	}
	return b, nil
}

// isLoopback reports whether ip is this machine's.
func (b *Broker) isLoopback(ip netip.Addr) bool { return b.loopback(ip) }

// Retain gives the broker the retained messages it held before a restart
// (the log keeps them: store.Retained), before it takes clients: a client
// subscribing gets them as it would have from the broker that took them,
// as from Mosquitto with persistence. Each counts against its client's
// limit of retained messages. A topic retained on since this start keeps
// what it holds.
func (b *Broker) Retain(msgs []hearth.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		return errors.New("broker: retained messages are given before Start")
	}
	for _, m := range msgs {
		if len(m.Payload) == 0 || hearth.TopicProblem(m.Topic) != "" {
			continue
		}
		if _, now := b.server.Topics.Retained.Get(m.Topic); now {
			continue // retained since this start (the hub's own devices publish first): newer
		}
		b.server.Topics.RetainMessage(packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: min(m.QoS, 2), Retain: true},
			TopicName:   m.Topic,
			Payload:     m.Payload,
			Origin:      m.Client,
			Created:     m.Time.Unix(),
		})
		b.retained.set(m.Client, m.Topic, false)
	}
	atomic.StoreInt64(&b.server.Info.Retained, int64(b.server.Topics.Retained.Len()))
	return nil
}

// Start listens on Config.Addr, and on the TLS and WebSocket addresses when
// they are set, and serves clients until Close.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.started {
		return errors.New("broker: already started")
	}
	var opened []*listener
	fail := func(err error) error {
		for _, ln := range opened {
			_ = ln.Close()
		}
		return err
	}
	listen := func(addr string) (*listener, error) {
		nl, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("broker: listen %s: %w", addr, err)
		}
		ln := newListener(nl, &b.cfg, b.log, b.gate)
		opened = append(opened, ln)
		return ln, nil
	}

	ln, err := listen(b.cfg.Addr)
	if err != nil {
		return fail(err)
	}
	if err := b.server.AddListener(b.turns(listeners.NewNet(listenerTCP, ln))); err != nil {
		return fail(fmt.Errorf("broker: add listener: %w", err))
	}
	var tlsLn, wsLn *listener
	if b.tls != nil {
		if tlsLn, err = listen(b.cfg.TLS.Addr); err != nil {
			return fail(err)
		}
		tlsLn.tls = b.tls
		if err := b.server.AddListener(b.turns(listeners.NewNet(listenerTLS, tlsLn))); err != nil {
			return fail(fmt.Errorf("broker: add TLS listener: %w", err))
		}
	}
	if b.cfg.WebSocket.Addr != "" {
		if wsLn, err = listen(b.cfg.WebSocket.Addr); err != nil {
			return fail(err)
		}
		wsLn.raw = true
		if err := b.server.AddListener(b.turns(newWSListener(listenerWS, wsLn, &b.cfg, b.log))); err != nil {
			return fail(fmt.Errorf("broker: add WebSocket listener: %w", err))
		}
	}
	if err := b.server.Serve(); err != nil {
		return fail(fmt.Errorf("broker: serve: %w", err))
	}
	b.ln, b.tlsLn, b.wsLn, b.started = ln, tlsLn, wsLn, true
	b.log.Info("listening", "addr", ln.Addr().String())
	if tlsLn != nil {
		b.log.Info("listening for MQTT over TLS", "addr", tlsLn.Addr().String(), "client_certificates", b.cfg.TLS.ClientCAFile != "")
	}
	if wsLn != nil {
		b.log.Info("listening for MQTT over WebSocket", "addr", wsLn.Addr().String())
	}
	b.sayWhoMayConnect(opened)
	return nil
}

// turns makes the connections of l take turns by client id (takeover.go).
func (b *Broker) turns(l listeners.Listener) listeners.Listener {
	return takingTurns{Listener: l, takeovers: b.takeovers}
}

// sayWhoMayConnect tells, at every start, who may connect without a user:
// a warning with allow_anonymous, a note when the broker listens beyond
// this machine but has no users to let anyone in from there.
func (b *Broker) sayWhoMayConnect(lns []*listener) {
	switch {
	case b.cfg.AllowAnonymous:
		b.log.Warn("allow_anonymous is on: clients without a user name may connect from any address and do what the anonymous rules allow (everything, without rules)")
	case !b.auth.hasUsers():
		for _, ln := range lns {
			if !listensOnLoopback(ln.Addr()) {
				b.log.Info("no users: only clients on this machine may connect; add users (hub user add) to let devices in from the network",
					"users_file", b.cfg.UsersFile)
				return
			}
		}
	}
}

// listensOnLoopback reports whether a listen address is on loopback only.
func listensOnLoopback(a net.Addr) bool {
	ip, ok := addrIP(a)
	return ok && ip.IsLoopback()
}

// Addr returns the address the broker listens on, nil before Start.
func (b *Broker) Addr() net.Addr { return b.addrOf(func() *listener { return b.ln }) }

// TLSAddr returns the address of the TLS listener, nil without one.
func (b *Broker) TLSAddr() net.Addr { return b.addrOf(func() *listener { return b.tlsLn }) }

// WebSocketAddr returns the address of the WebSocket listener, nil without
// one.
func (b *Broker) WebSocketAddr() net.Addr { return b.addrOf(func() *listener { return b.wsLn }) }

func (b *Broker) addrOf(which func() *listener) net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ln := which(); ln != nil {
		return ln.Addr()
	}
	return nil
}

// Close disconnects every client, closes the listener and waits for the
// broker's goroutines. Publishes waiting for the log are released
// unacknowledged (their clients resend them). Close the broker before the bus.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		lns := []*listener{b.ln, b.tlsLn, b.wsLn}
		b.mu.Unlock()

		b.cancel()
		// mochi's Close reads its clients under a read lock it takes twice
		// (Clients.GetByListener calls Len): a client ending meanwhile, its
		// Delete waiting for the write lock, deadlocks the two, and the hub
		// never stops. So the sockets close first (ours close every socket
		// they handed out) and the clients are given a moment to end.
		for _, ln := range lns {
			if ln != nil {
				_ = ln.Close()
			}
		}
		settleClients(b.server.Clients, clientsSettle)
		// mochi closes the listeners, disconnects what is left and waits
		// for their goroutines.
		_ = b.server.Close()
		for _, ln := range lns {
			if ln != nil {
				ln.wait()
			}
		}
		b.log.Info("closed")
	})
	return nil
}

// clientsSettle bounds how long Close waits for the clients to end.
const clientsSettle = 500 * time.Millisecond

// settleClients waits, at most max, until mochi's set of clients has not
// changed for a few milliseconds: a client is deleted (a clean session)
// just after its connection ends, which the closed sockets make happen now.
func settleClients(cls *mqtt.Clients, max time.Duration) {
	const still = 20 * time.Millisecond
	deadline := time.Now().Add(max)
	n, since := cls.Len(), time.Now()
	for time.Now().Before(deadline) && time.Since(since) < still {
		time.Sleep(2 * time.Millisecond)
		if m := cls.Len(); m != n {
			n, since = m, time.Now()
		}
	}
}

// Subscribe calls fn for every message published on a topic matching filter,
// including the hub's own commands. fn runs on the publishing client's
// goroutine, as a hook does: it must hand off and return, and must not
// modify payload (mochi shares it with the other subscribers).
func (b *Broker) Subscribe(filter string, fn func(topic string, payload []byte)) error {
	_, err := b.subscribeInline(filter, func(pk packets.Packet) { fn(pk.TopicName, pk.Payload) })
	return err
}

// subscribeInline calls fn with every packet published on a topic matching
// filter, on the publisher's goroutine; pk.Origin names the client that
// published it. It returns the id that unsubscribeInline takes.
func (b *Broker) subscribeInline(filter string, fn func(pk packets.Packet)) (int, error) {
	id := int(b.subID.Add(1))
	err := b.server.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		fn(pk)
	})
	if err != nil {
		return 0, fmt.Errorf("broker: subscribe %q: %w", filter, err)
	}
	return id, nil
}

// unsubscribeInline ends a subscription made by subscribeInline.
func (b *Broker) unsubscribeInline(filter string, id int) {
	_ = b.server.Unsubscribe(filter, id) // fails only for an invalid filter, which subscribeInline refused
}
