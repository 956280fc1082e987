package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hearth"
)

// ErrNotConnected is returned by Command while the hub is not connected to
// its remote broker.
var ErrNotConnected = errors.New("not connected to the broker")

var _ hearth.Commander = (*Remote)(nil)

// RemoteConfig configures remote mode: the hub as a client of an existing
// broker or cluster instead of embedding one.
type RemoteConfig struct {
	// Endpoint is the broker and how to reach it; its client id defaults
	// to "hearth-<hostname>".
	Endpoint `yaml:",inline"`
	// Filters are what the hub subscribes to, at QoS 1; "#" (every topic
	// but $SYS and other $ topics) when empty.
	Filters []string `yaml:"filters,omitempty"`
	// SharedGroup, when set, subscribes as $share/<group>/<filter>: the
	// broker gives each message to one member of the group only. Hubs (or
	// roles) that must each see every message use no group, or one each.
	// A broker that refuses the shared filter gets the plain one.
	SharedGroup string `yaml:"shared_group,omitempty"`
	// DrainTimeout bounds how long Close waits for the log to take the
	// messages already logged before it disconnects (2 s when zero); what
	// it does not take stays unacknowledged and comes again next time.
	DrainTimeout time.Duration `yaml:"drain_timeout,omitempty"`
	// PublishTimeout bounds how long Command waits for the broker to take
	// a command (10 s when zero).
	PublishTimeout time.Duration `yaml:"publish_timeout,omitempty"`
	// Logger receives the logs; nil discards them.
	Logger *slog.Logger `yaml:"-"`
	// Now tells the time of the echo filter; time.Now when nil.
	Now func() time.Time `yaml:"-"`
}

// Remote is the hub as an MQTT client of a remote broker (remote mode). It
// turns every message it receives into a message event on the bus, as the
// embedded broker's hook does, with the same promise: a QoS 1 message is
// acknowledged to the broker only once the log holds it. Commands are
// published there.
//
// paho.mqtt.golang speaks MQTT 3.1.1 only. What that costs, and how it is
// made up for:
//   - No subscription options: "no local" does not exist, so the broker
//     sends the hub its own commands back. They are recognised by topic and
//     payload (see echoes) and not logged twice.
//   - No CONNACK properties: whether the broker offers shared subscriptions
//     cannot be asked. Mosquitto (since 1.6, for 3.1.1 clients too), EMQX
//     and HiveMQ accept $share/<group>/<filter> from a 3.1.1 client; a
//     broker that refuses it in its SUBACK gets the plain filter instead.
//   - No publisher's client id in a PUBLISH: message events from remote
//     mode have no Client.
//   - The retain flag of a message is set only on retained messages sent
//     when the hub subscribes, not on live ones.
type Remote struct {
	cfg    RemoteConfig
	ep     *endpoint
	log    *slog.Logger
	events Events
	link   *link
	in     *inbox
	echoes *echoes

	sharedRefused atomic.Bool

	mu        sync.Mutex
	started   bool
	closed    bool
	closeOnce sync.Once
}

// NewRemote checks cfg and prepares the client; nothing is dialled until
// Start.
func NewRemote(cfg RemoteConfig, events Events) (*Remote, error) {
	if events == nil {
		return nil, errors.New("remote broker: no events bus")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Filters) == 0 {
		cfg.Filters = []string{"#"}
	}
	setDefault(&cfg.DrainTimeout, DefaultDrainTimeout)
	setDefault(&cfg.PublishTimeout, DefaultPublishTimeout)
	ep, err := cfg.check()
	if err != nil {
		return nil, err
	}
	r := &Remote{
		cfg:    cfg,
		ep:     ep,
		log:    cfg.Logger.With("component", "broker", "mode", "remote", "broker", ep.url),
		events: events,
		echoes: newEchoes(cfg.Now),
	}
	r.in = newInbox(r.log, events, r.deliver, r.echoes)
	r.link = newLink(ep, protocolMQTT311, r.log, r.in.handle, r.setup)
	r.in.conn = r.link.current
	return r, nil
}

// defaultClientID is "hearth-<hostname>[-<suffix>]".
func defaultClientID(suffix string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "hub"
	}
	id := "hearth-" + host
	if suffix != "" {
		id += "-" + suffix
	}
	return id
}

// Start connects to the broker and subscribes, retrying with back-off until
// ctx ends; credentials or a certificate the broker refuses end it at once.
// Once started, the hub reconnects by itself until Close. Pass a ctx with a
// deadline to fail a start on an unreachable broker, or one that lives as
// long as the start-up to wait for it.
func (r *Remote) Start(ctx context.Context) error {
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		return ErrClosed
	case r.started:
		r.mu.Unlock()
		return errors.New("remote broker: already started")
	}
	r.started = true
	r.mu.Unlock()

	r.in.start()
	if err := r.link.start(ctx); err != nil {
		_ = r.Close()
		return fmt.Errorf("remote broker %s: %w", r.ep.url, err)
	}
	r.log.Info("connected", "endpoint", r.ep.Endpoint, "filters", r.cfg.Filters, "shared_group", r.cfg.SharedGroup)
	return nil
}

// Connected reports whether the hub is connected to the broker and
// subscribed.
func (r *Remote) Connected() bool { return r.link.isUp() }

// Close acknowledges what the log takes within DrainTimeout, disconnects and
// waits for every goroutine. Messages not acknowledged stay with the broker,
// which sends them again when the hub comes back. Close it before the bus.
func (r *Remote) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		r.in.close(r.cfg.DrainTimeout)
		r.link.close()
		r.log.Info("closed")
	})
	return nil
}

// setup subscribes after a connection. A broker that kept the session keeps
// the subscriptions too, so only the process's first connection (whose
// filters may have changed since the session began) and a new session
// subscribe; subscribing again would also resend every retained message.
func (r *Remote) setup(ctx context.Context, first, sessionPresent bool) error {
	if !sessionPresent {
		r.in.newSession()
	}
	if !first && sessionPresent {
		return nil
	}
	for _, f := range r.cfg.Filters {
		if r.cfg.SharedGroup != "" && !r.sharedRefused.Load() {
			shared := "$share/" + r.cfg.SharedGroup + "/" + f
			code, err := subscribeOne(ctx, r.link.client, shared, 1)
			if err != nil {
				return err
			}
			if code <= 2 {
				continue
			}
			r.sharedRefused.Store(true)
			r.log.Warn("the broker refused a shared subscription; subscribing without sharing, so every hub in the group now gets every message",
				"filter", shared)
		}
		code, err := subscribeOne(ctx, r.link.client, f, 1)
		if err != nil {
			return err
		}
		if code > 2 {
			return fmt.Errorf("the broker refused the subscription to %q (SUBACK %#x)", f, code)
		}
	}
	return nil
}

// subscribeOne subscribes to one filter and returns the broker's SUBACK code
// (the granted QoS, or 0x80 for a refusal).
func subscribeOne(ctx context.Context, c paho.Client, filter string, qos byte) (byte, error) {
	tok := c.SubscribeMultiple(map[string]byte{filter: qos}, nil) // nil: the default handler takes every message
	if err := waitToken(ctx, tok, remoteWriteTimeout+DefaultRemoteConnect); err != nil {
		return 0, fmt.Errorf("subscribe %q: %w", filter, err)
	}
	st, ok := tok.(*paho.SubscribeToken)
	if !ok {
		return 0, fmt.Errorf("subscribe %q: unexpected token %T", filter, tok)
	}
	code, ok := st.Result()[filter]
	if !ok {
		return 0, fmt.Errorf("subscribe %q: no SUBACK code", filter)
	}
	return code, nil
}

// waitToken waits for a paho token, ctx or the timeout.
func waitToken(ctx context.Context, tok paho.Token, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("no answer from the broker within %v", timeout)
	}
}

// deliver logs a message from the broker as a message event.
func (r *Remote) deliver(m paho.Message) (uint64, error) {
	ev, err := r.events.Publish(newMessage("", m.Topic(), m.Payload(), m.Qos(), m.Retained()))
	if err != nil {
		return 0, err
	}
	return ev.Seq, nil
}

// Command logs c as a KindCommand event on the bus, then publishes it to the
// broker and waits until the broker has it (its PUBACK for QoS 1), for at
// most PublishTimeout. As with the embedded broker, the event comes first and
// does not wait for the disk. A command is refused, and not logged, while the
// hub is not connected.
//
// Call it from its own goroutine, not from a bus consumer's. It returns the
// event as published; an error after the event was logged comes with it.
func (r *Remote) Command(ctx context.Context, c hearth.Command) (hearth.Event, error) {
	if err := checkCommand(ctx, c); err != nil {
		return hearth.Event{}, err
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return hearth.Event{}, fmt.Errorf("command to %q: %w", c.Topic, ErrClosed)
	}
	if !r.link.isUp() {
		return hearth.Event{}, fmt.Errorf("command to %q: %w", c.Topic, ErrNotConnected)
	}

	payload := bytes.Clone(c.Payload)
	ev, err := r.events.Publish(commandEvent(c, payload))
	if err != nil {
		return hearth.Event{}, fmt.Errorf("command to %q: log: %w", c.Topic, err)
	}
	echoed := r.subscribed(c.Topic)
	if echoed {
		r.echoes.add(c.Topic, payload, ev.Seq)
	}
	tok := r.link.client.Publish(c.Topic, c.QoS, c.Retain, payload)
	if err := waitToken(ctx, tok, r.cfg.PublishTimeout); err != nil {
		if echoed && errors.Is(err, paho.ErrNotConnected) {
			r.echoes.forget(c.Topic, payload, ev.Seq)
		}
		return ev, fmt.Errorf("command to %q (event %d): publish: %w", c.Topic, ev.Seq, err)
	}
	return ev, nil
}

// ConnErr says why the hub cannot reach the broker now (not connected since
// when); nil while it is connected and subscribed. /healthz reports it.
func (r *Remote) ConnErr() error { return r.link.downErr() }

// subscribed reports whether the hub's subscriptions cover topic, so that
// the broker will send a publish there back to the hub.
func (r *Remote) subscribed(topic string) bool {
	for _, f := range r.cfg.Filters {
		if hearth.MatchTopic(f, topic) {
			return true
		}
	}
	return false
}

// Check reports what is wrong with c as NewRemote would refuse it: its
// filters, its shared group, its endpoint (the URL, the files it names).
// `hub config` checks a configuration with it, connecting nowhere.
func (c RemoteConfig) Check() error {
	_, err := c.check()
	return err
}

func (c RemoteConfig) check() (*endpoint, error) {
	var errs []error
	for _, f := range c.Filters {
		if why := hearth.FilterProblem(f); why != "" {
			errs = append(errs, fmt.Errorf("filter %q: want an MQTT topic filter: it %s", f, why))
		} else if strings.HasPrefix(f, "$share/") {
			errs = append(errs, fmt.Errorf("filter %q: want an MQTT topic filter (shared_group makes it shared)", f))
		}
	}
	if g := c.SharedGroup; g != "" && (strings.ContainsAny(g, "/+#") || strings.ContainsRune(g, 0)) {
		errs = append(errs, fmt.Errorf("shared_group %q: want a name without / + #", g))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("remote broker config: %w", err)
	}
	ep, err := c.Endpoint.resolve(defaultClientID(""))
	if err != nil {
		return nil, fmt.Errorf("remote broker config: %w", err)
	}
	return ep, nil
}
