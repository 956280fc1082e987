package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"hearth"
)

// Bridge forwards chosen topics between the embedded broker and a remote one.
//
// Out: an inline subscription on the embedded broker queues every matching
// message (the device's goroutine never waits on the network) and one
// goroutine publishes them to the remote broker, holding them while it is
// away. In: the bridge subscribes on the remote broker; each message is
// logged as a message event with Client "bridge:<name>", then published on
// the embedded broker as the bridge's own inline client, and acknowledged
// to the remote broker once the log holds it (the inbox, as in remote mode).
//
// Loops: a message the bridge brought in carries the bridge's client id as
// its origin and is never sent back out. A message the bridge sent out is
// not sent back by the remote broker when it honours the bridge protocol
// (Mosquitto, EMQX); with PlainClient it does come back and is recognised
// by topic and payload. A message another bridge brought in does go out
// through this one.
type Bridge struct {
	cfg      BridgeConfig
	ep       *endpoint
	log      *slog.Logger
	local    *Broker
	rules    []*rule
	clientID string       // "bridge:<name>", the origin of what it brings in
	client   *mqtt.Client // the inline client it publishes locally as
	link     *link
	in       *inbox
	echoes   *echoes // nil unless PlainClient

	out     chan outMessage
	closing atomic.Bool
	dropped atomic.Uint64
	ctx     context.Context // the forwarder's
	cancel  context.CancelFunc
	drain   chan struct{} // closed when Close asks the forwarder to drain
	wg      sync.WaitGroup

	mu        sync.Mutex
	subs      map[int]string // inline subscription id -> local filter
	started   bool
	closed    bool
	closeOnce sync.Once
}

type outMessage struct {
	topic   string
	payload []byte // shared read-only with mochi
	qos     byte
	retain  bool
}

// NewBridge checks cfg and prepares a bridge on the embedded broker local;
// nothing is dialled until Start.
func NewBridge(local *Broker, cfg BridgeConfig) (*Bridge, error) {
	if local == nil {
		return nil, errors.New("bridge: no broker")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	setDefault(&cfg.QueueSize, DefaultBridgeQueue)
	setDefault(&cfg.DrainTimeout, DefaultDrainTimeout)
	rules, err := cfg.rules()
	if err != nil {
		return nil, fmt.Errorf("bridge %q: %w", cfg.Name, err)
	}
	ep, err := cfg.Endpoint.resolve(defaultClientID(cfg.Name))
	if err != nil {
		return nil, fmt.Errorf("bridge %q: %w", cfg.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	br := &Bridge{
		cfg:      cfg,
		ep:       ep,
		log:      cfg.Logger.With("component", "bridge", "bridge", cfg.Name, "broker", ep.url),
		local:    local,
		rules:    rules,
		clientID: "bridge:" + cfg.Name,
		out:      make(chan outMessage, cfg.QueueSize),
		ctx:      ctx,
		cancel:   cancel,
		drain:    make(chan struct{}),
		subs:     make(map[int]string),
	}
	br.client = local.server.NewClient(nil, mqtt.LocalListener, br.clientID, true)
	protocol := uint(protocolBridge)
	if cfg.PlainClient {
		protocol = protocolMQTT311
		br.echoes = newEchoes(cfg.Now)
	}
	br.in = newInbox(br.log, local.events, br.deliver, br.echoes)
	br.link = newLink(ep, protocol, br.log, br.in.handle, br.setup)
	br.in.conn = br.link.current
	return br, nil
}

// Start connects to the remote broker, subscribes to what comes in and
// starts forwarding out, retrying the connection with back-off until ctx
// ends (credentials or a certificate the broker refuses end it at once).
// Once started, the bridge reconnects by itself until Close.
func (br *Bridge) Start(ctx context.Context) error {
	br.mu.Lock()
	switch {
	case br.closed:
		br.mu.Unlock()
		return ErrClosed
	case br.started:
		br.mu.Unlock()
		return errors.New("bridge: already started")
	}
	br.started = true
	br.mu.Unlock()

	br.in.start()
	if err := br.link.start(ctx); err != nil {
		_ = br.Close()
		if refusedProtocol(err) && !br.cfg.PlainClient {
			err = fmt.Errorf("%w (the broker may not take the bridge protocol: try plain_client)", err)
		}
		return fmt.Errorf("bridge %q to %s: %w", br.cfg.Name, br.ep.url, err)
	}
	if err := br.startForwarding(); err != nil {
		_ = br.Close()
		return fmt.Errorf("bridge %q: %w", br.cfg.Name, err)
	}
	br.log.Info("bridge connected", "endpoint", br.ep.Endpoint, "topics", len(br.rules))
	return nil
}

// startForwarding starts the forwarder and the inline subscriptions of the
// out rules. It holds br.mu, which Close takes first, so that Close stops
// whatever started here.
func (br *Bridge) startForwarding() error {
	br.mu.Lock()
	defer br.mu.Unlock()
	if br.closed {
		return ErrClosed
	}
	br.wg.Add(1)
	go br.forward()
	for _, r := range br.rules {
		if !r.out() {
			continue
		}
		// mochi hands the retained messages under the filter to the
		// handler from inside this call; the handler only queues.
		id, err := br.local.subscribeInline(r.local, br.queue(r))
		if err != nil {
			return err
		}
		br.subs[id] = r.local
	}
	return nil
}

// Connected reports whether the bridge is connected to the remote broker.
func (br *Bridge) Connected() bool { return br.link.isUp() }

// Dropped returns how many outgoing messages were dropped because the queue
// was full.
func (br *Bridge) Dropped() uint64 { return br.dropped.Load() }

// Close stops forwarding, sends what is queued and acknowledges what the log
// takes within DrainTimeout, disconnects, and waits for every goroutine.
// Close bridges before the broker they run on.
func (br *Bridge) Close() error {
	br.closeOnce.Do(func() {
		br.mu.Lock()
		br.closed = true
		subs := br.subs
		br.subs = nil
		br.mu.Unlock()

		br.closing.Store(true)
		for id, filter := range subs {
			br.local.unsubscribeInline(filter, id)
		}
		close(br.drain)
		stop := time.AfterFunc(br.cfg.DrainTimeout, br.cancel)
		br.wg.Wait()
		stop.Stop()
		br.cancel()
		br.in.close(br.cfg.DrainTimeout)
		br.link.close()
		if n := br.dropped.Load(); n > 0 {
			br.log.Warn("bridge closed; outgoing messages were dropped while its queue was full", "dropped", n)
		} else {
			br.log.Info("bridge closed")
		}
	})
	return nil
}

// setup subscribes to what comes in, as Remote.setup does.
func (br *Bridge) setup(ctx context.Context, first, sessionPresent bool) error {
	if !sessionPresent {
		br.in.newSession()
	}
	if !first && sessionPresent {
		return nil
	}
	for _, r := range br.rules {
		if !r.in() {
			continue
		}
		code, err := subscribeOne(ctx, br.link.client, r.remote, r.QoS)
		if err != nil {
			return err
		}
		if code > 2 {
			return fmt.Errorf("the broker refused the subscription to %q (SUBACK %#x)", r.remote, code)
		}
	}
	return nil
}

// deliver logs a message from the remote broker and publishes it on the
// embedded broker under its local topic. The event comes first, as for a
// command; the hook skips the bridge's inline publish.
func (br *Bridge) deliver(m paho.Message) (uint64, error) {
	r := br.inRule(m.Topic())
	if r == nil {
		br.log.Debug("message matches no rule; dropped", "topic", m.Topic())
		return 0, errSkip
	}
	topic := r.LocalPrefix + strings.TrimPrefix(m.Topic(), r.RemotePrefix)
	qos := min(m.Qos(), r.QoS)
	ev, err := br.local.events.Publish(newMessage(br.clientID, topic, m.Payload(), qos, m.Retained()))
	if err != nil {
		return 0, err
	}
	err = br.local.server.InjectPacket(br.client, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: m.Retained()},
		TopicName:   topic,
		Payload:     ev.Payload,  // the event's copy: neither side changes it
		PacketID:    uint16(qos), // mochi wants an id for QoS > 0 and ignores it for an inline client
	})
	if err != nil {
		br.log.Warn("message logged but not published locally", "topic", topic, "seq", ev.Seq, "error", err)
	}
	return ev.Seq, nil
}

// inRule returns the first rule forwarding remoteTopic in.
func (br *Bridge) inRule(remoteTopic string) *rule {
	for _, r := range br.rules {
		if r.in() && strings.HasPrefix(remoteTopic, r.RemotePrefix) && hearth.MatchTopic(r.remote, remoteTopic) {
			return r
		}
	}
	return nil
}

// queue returns the inline handler of an out rule. It runs on the
// publisher's goroutine: it only queues, and drops when the queue is full.
func (br *Bridge) queue(r *rule) func(pk packets.Packet) {
	return func(pk packets.Packet) {
		if pk.Origin == br.clientID || br.closing.Load() {
			return // brought in by this bridge: never sent back
		}
		m := outMessage{
			topic:   r.RemotePrefix + strings.TrimPrefix(pk.TopicName, r.LocalPrefix),
			payload: pk.Payload,
			qos:     min(pk.FixedHeader.Qos, r.QoS),
			retain:  pk.FixedHeader.Retain,
		}
		select {
		case br.out <- m:
		default:
			if n := br.dropped.Add(1); n&(n-1) == 0 { // log at 1, 2, 4, 8, ... drops
				br.log.Warn("bridge queue full; dropping outgoing messages", "dropped", n)
			}
		}
	}
}

// forward publishes queued messages to the remote broker, holding them while
// it is away. When Close asks, it sends what is left (within DrainTimeout)
// and waits for the broker to take the last QoS 1 message.
func (br *Bridge) forward() {
	defer br.wg.Done()
	var last paho.Token // the newest QoS > 0 publish; the broker acks in order
	defer func() {
		if last != nil {
			_ = waitToken(br.ctx, last, br.cfg.DrainTimeout)
		}
	}()
	draining := false
	for {
		var m outMessage
		if draining {
			select {
			case m = <-br.out:
			default:
				return
			}
		} else {
			select {
			case m = <-br.out:
			case <-br.drain:
				draining = true
				continue
			case <-br.ctx.Done():
				return
			}
		}
		if tok := br.publish(m); tok != nil && m.qos > 0 {
			last = tok
		}
		if br.ctx.Err() != nil {
			return
		}
	}
}

// publish sends one message, waiting while the link is down. It returns nil
// when the bridge stopped first.
func (br *Bridge) publish(m outMessage) paho.Token {
	for {
		if err := br.link.waitUp(br.ctx); err != nil {
			return nil
		}
		if br.echoes != nil && br.inCovers(m.topic) {
			br.echoes.add(m.topic, m.payload, 0)
		}
		tok := br.link.client.Publish(m.topic, m.qos, m.retain, m.payload)
		select {
		case <-tok.Done():
			if errors.Is(tok.Error(), paho.ErrNotConnected) {
				br.echoes.forget(m.topic, m.payload, 0)
				continue // lost between waitUp and Publish: wait and send again
			}
		default:
		}
		return tok
	}
}

// inCovers reports whether a message published to remoteTopic comes back in
// through this bridge's subscriptions.
func (br *Bridge) inCovers(remoteTopic string) bool {
	return br.inRule(remoteTopic) != nil
}
