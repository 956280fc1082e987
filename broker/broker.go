// Package broker runs the hub's embedded MQTT broker (mochi-mqtt): it turns
// every message a client publishes into an event on the bus, acknowledges
// QoS 1/2 messages only once the log holds them, sends the hub's commands
// through mochi's inline client, and guards mochi against clients that send
// malformed or oversized packets, never send CONNECT, or stop reading.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

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

	mu        sync.Mutex
	ln        *listener
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
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	log := cfg.Logger.With("component", "broker")
	server := mqtt.New(&mqtt.Options{
		Capabilities:           cfg.capabilities(),
		Logger:                 slog.New(mochiLog{log.Handler()}).With("mqtt", "mochi"),
		InlineClient:           true,
		SysTopicResendInterval: 60, // $SYS every minute, not every second, on a small machine
	})
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{cfg: cfg, log: log, events: events, server: server, ctx: ctx, cancel: cancel}
	h := &hook{
		events:         events,
		server:         server,
		log:            log,
		ctx:            ctx,
		durableTimeout: cfg.DurableTimeout,
		maxPacketSize:  uint32(cfg.MaxPacketSize),
		maxKeepalive:   cfg.keepaliveCap(),
	}
	if err := server.AddHook(h, nil); err != nil {
		cancel()
		return nil, fmt.Errorf("broker: add hook: %w", err)
	}
	return b, nil
}

// Start listens on Config.Addr and serves clients until Close.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.started {
		return errors.New("broker: already started")
	}
	nl, err := net.Listen("tcp", b.cfg.Addr)
	if err != nil {
		return fmt.Errorf("broker: listen %s: %w", b.cfg.Addr, err)
	}
	ln := newListener(nl, &b.cfg, b.log)
	if err := b.server.AddListener(listeners.NewNet("mqtt", ln)); err != nil {
		_ = nl.Close()
		return fmt.Errorf("broker: add listener: %w", err)
	}
	if err := b.server.Serve(); err != nil {
		_ = nl.Close()
		return fmt.Errorf("broker: serve: %w", err)
	}
	b.ln, b.started = ln, true
	b.log.Info("listening", "addr", nl.Addr().String())
	return nil
}

// Addr returns the address the broker listens on, nil before Start.
func (b *Broker) Addr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ln == nil {
		return nil
	}
	return b.ln.Addr()
}

// Close disconnects every client, closes the listener and waits for the
// broker's goroutines. Publishes waiting for the log are released
// unacknowledged (their clients resend them). Close the broker before the bus.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		ln := b.ln
		b.mu.Unlock()

		b.cancel()
		// mochi closes the listener (ours closes every socket it handed
		// out), disconnects the clients and waits for their goroutines.
		_ = b.server.Close()
		if ln != nil {
			ln.wait()
		}
		b.log.Info("closed")
	})
	return nil
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
