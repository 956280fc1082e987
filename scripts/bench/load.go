package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// The load generator drives every target the same way: N motion sensors
// publish occupancy on and off in turn, and N lights listen on the topic the
// target answers on. The generator is one process and takes both ends'
// times from Go's monotonic clock, so a latency is the wall time from the
// sensor's Publish call to the light's handler, generator overhead included
// (the mosquitto-echo peer measures that floor).
//
// A command does not echo an id: the hub's set action sends a fixed state.
// Each pair keeps the events it sent in order, and a command pairs with the
// oldest pending event of the same state (ON for occupancy true); events it
// skips over were lost. A sensor alternates on and off, so every event is an
// edge and must produce exactly one command. Between runs, once the target
// is quiet, the queues are emptied: a lost event left behind would take a
// later command of the same state. Within a run that loses events, a
// command may still pair with an earlier lost event of its state, which
// makes its latency too long; the count of lost events stays right, and a
// run that loses events has failed anyway.

var (
	payloadOn  = []byte(`{"occupancy":true}`)
	payloadOff = []byte(`{"occupancy":false}`)
)

// sent is one sensor event waiting for its command.
type sent struct {
	at     time.Time
	on     bool
	record bool
	gen    uint64 // the stretch it belongs to; a straggler of an earlier one is not recorded
}

// pair is motion sensor i and the light it commands.
type pair struct {
	idx          int
	sensorTopic  string
	commandTopic string
	sensor       mqtt.Client

	mu      sync.Mutex
	on      bool   // the state of the last event sent
	pending []sent // events sent and not yet answered, oldest first
	head    int
}

// loadConfig says how many devices there are and how they connect.
type loadConfig struct {
	Addr       string // host:port of the broker
	Pairs      int    // sensor/light pairs driven
	Lux        int    // lux sensors whose state is published once (conditions read them)
	Clients    int    // MQTT connections per side; devices share them round robin
	Publishers int    // goroutines publishing sensor events
	// CommandTopic is the topic the light of pair i listens on.
	CommandTopic func(i int) string
}

// load is the connected generator: its clients stay up across runs so that
// the target sees the same connections throughout.
type load struct {
	cfg     loadConfig
	pairs   []*pair
	byTopic map[string]*pair
	sensors []mqtt.Client
	lights  []mqtt.Client

	disconnects atomic.Int64
	unexpected  atomic.Int64 // commands that matched no pending event
	pubErrors   atomic.Int64
	seen        atomic.Int64  // every command received, of any stretch
	gen         atomic.Uint64 // the stretch being recorded, bumped by reset

	recMu    sync.Mutex
	lat      []time.Duration
	ack      []time.Duration
	received atomic.Int64
	acks     sync.WaitGroup
}

func sensorTopic(i int) string { return fmt.Sprintf("home/motion_%d", i) }
func lightTopic(i int) string  { return fmt.Sprintf("home/light_%d/set", i) }

// connectLoad connects the sensors and lights and subscribes the lights.
func connectLoad(ctx context.Context, cfg loadConfig) (*load, error) {
	if cfg.Clients <= 0 || cfg.Clients > cfg.Pairs {
		cfg.Clients = cfg.Pairs
	}
	if cfg.Publishers <= 0 {
		cfg.Publishers = 4
	}
	l := &load{cfg: cfg, byTopic: make(map[string]*pair, cfg.Pairs)}
	l.sensors = make([]mqtt.Client, cfg.Clients)
	l.lights = make([]mqtt.Client, cfg.Clients)
	for i := 0; i < cfg.Pairs; i++ {
		p := &pair{idx: i, sensorTopic: sensorTopic(i), commandTopic: cfg.CommandTopic(i)}
		l.pairs = append(l.pairs, p)
		l.byTopic[p.commandTopic] = p
	}

	// Connect a few at a time: a broker may refuse a storm of CONNECTs.
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	errs := make([]error, 2*cfg.Clients)
	for c := 0; c < cfg.Clients; c++ {
		for side := 0; side < 2; side++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					errs[2*c+side] = ctx.Err()
					return
				}
				defer func() { <-sem }()
				if side == 0 {
					l.sensors[c], errs[2*c+side] = l.connect(fmt.Sprintf("bench-sensor-%d", c), nil)
				} else {
					l.lights[c], errs[2*c+side] = l.connect(fmt.Sprintf("bench-light-%d", c), l.onCommand)
				}
			}()
		}
	}
	wg.Wait()
	if err := firstErrors(errs, 3); err != nil {
		l.close()
		failed := 0
		for _, e := range errs {
			if e != nil {
				failed++
			}
		}
		return nil, fmt.Errorf("connect %d clients to %s: %d connected, %d failed (a broker that caps its connections cuts the rest: see -clients): %w",
			2*cfg.Clients, cfg.Addr, 2*cfg.Clients-failed, failed, err)
	}
	for i, p := range l.pairs {
		p.sensor = l.sensors[i%cfg.Clients]
	}
	for c, cl := range l.lights {
		filters := map[string]byte{}
		for i := c; i < cfg.Pairs; i += cfg.Clients {
			// QoS 1 lets the publisher choose: delivery takes the lower of the two.
			filters[l.pairs[i].commandTopic] = 1
		}
		if err := waitToken(ctx, cl.SubscribeMultiple(filters, nil)); err != nil {
			l.close()
			return nil, fmt.Errorf("subscribe light client %d: %w", c, err)
		}
	}
	if err := l.publishLux(ctx); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// firstErrors joins the first n errors of errs and says how many more failed.
func firstErrors(errs []error, n int) error {
	var out []error
	failed := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		failed++
		if len(out) < n {
			out = append(out, err)
		}
	}
	if failed > len(out) {
		out = append(out, fmt.Errorf("and %d more", failed-len(out)))
	}
	return errors.Join(out...)
}

func (l *load) connect(id string, handler mqtt.MessageHandler) (mqtt.Client, error) {
	o := mqtt.NewClientOptions().
		AddBroker("tcp://" + l.cfg.Addr).
		SetClientID(id).
		SetCleanSession(true).
		SetKeepAlive(60 * time.Second).
		SetAutoReconnect(false).
		SetConnectTimeout(10 * time.Second).
		SetWriteTimeout(10 * time.Second).
		SetOrderMatters(true).
		SetConnectionLostHandler(func(mqtt.Client, error) { l.disconnects.Add(1) })
	if handler != nil {
		o.SetDefaultPublishHandler(handler)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		c.Disconnect(0)
		return nil, fmt.Errorf("%s: connect timed out", id)
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	return c, nil
}

// publishLux gives the lux sensors (and the house) a state once, so that
// the automations' conditions read real values. Targets other than the hub
// simply have no subscriber for them.
func (l *load) publishLux(ctx context.Context) error {
	if l.cfg.Lux == 0 || len(l.sensors) == 0 {
		return nil
	}
	c := l.sensors[0]
	toks := []mqtt.Token{c.Publish("home/house", 1, false, []byte(`{"mode":"home"}`))}
	for i := 0; i < l.cfg.Lux; i++ {
		toks = append(toks, c.Publish(fmt.Sprintf("home/lux_%d", i), 1, false, []byte(`{"illuminance":12}`)))
	}
	for _, t := range toks {
		if err := waitToken(ctx, t); err != nil {
			return fmt.Errorf("publish lux states: %w", err)
		}
	}
	return nil
}

func waitToken(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return errors.New("no answer from the broker in 30s")
	}
}

// onCommand runs on a light client's goroutine for every message it gets.
func (l *load) onCommand(_ mqtt.Client, m mqtt.Message) {
	now := time.Now()
	l.seen.Add(1)
	p := l.byTopic[m.Topic()]
	if p == nil {
		l.unexpected.Add(1)
		return
	}
	b := m.Payload()
	on := bytes.Contains(b, []byte(`"ON"`)) || bytes.Contains(b, []byte(`true`))
	p.mu.Lock()
	matched := false
	for p.head < len(p.pending) {
		s := p.pending[p.head]
		p.head++
		if s.on != on {
			continue // lost: its command never came, and this one is for a later event
		}
		matched = true
		if s.record && s.gen == l.gen.Load() {
			l.recMu.Lock()
			l.lat = append(l.lat, now.Sub(s.at))
			l.recMu.Unlock()
			l.received.Add(1)
		}
		break
	}
	if p.head > 64 && p.head*2 > len(p.pending) {
		n := copy(p.pending, p.pending[p.head:])
		p.pending, p.head = p.pending[:n], 0
	}
	p.mu.Unlock()
	if !matched {
		l.unexpected.Add(1)
	}
}

// sendSpec is one stretch of publishing.
type sendSpec struct {
	Rate     float64
	QoS      byte
	Duration time.Duration
	Record   bool
}

// send publishes sensor events at spec.Rate (events per second, summed over
// all sensors) for spec.Duration, spread over the publisher goroutines:
// publisher g sends the events numbered g, g+G, g+2G... each at its due time
// from the start, to the pairs it owns in turn. A publisher that falls
// behind sends what is due at once, so the average rate holds while the
// generator keeps up. It returns the number of events sent and the time it
// took.
func (l *load) send(ctx context.Context, spec sendSpec) (int, time.Duration) {
	g := min(l.cfg.Publishers, len(l.pairs))
	interval := float64(time.Second) / spec.Rate
	total := int(spec.Rate * spec.Duration.Seconds())
	if total < 1 {
		total = 1
	}
	start := time.Now()
	var count atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < g; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []*pair
			for i := w; i < len(l.pairs); i += g {
				mine = append(mine, l.pairs[i])
			}
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			n := 0
			for k := w; k < total; k += g {
				due := start.Add(time.Duration(float64(k) * interval))
				if d := time.Until(due); d > 0 {
					timer.Reset(d)
					select {
					case <-timer.C:
					case <-ctx.Done():
						count.Add(int64(n))
						return
					}
				} else if ctx.Err() != nil {
					break
				}
				l.publish(mine[(k/g)%len(mine)], spec)
				n++
			}
			count.Add(int64(n))
		}()
	}
	wg.Wait()
	return int(count.Load()), time.Since(start)
}

// publish sends the next event of p: the opposite of its last one.
func (l *load) publish(p *pair, spec sendSpec) {
	p.mu.Lock()
	p.on = !p.on
	on := p.on
	at := time.Now()
	gen := l.gen.Load()
	p.pending = append(p.pending, sent{at: at, on: on, record: spec.Record, gen: gen})
	p.mu.Unlock()
	payload := payloadOff
	if on {
		payload = payloadOn
	}
	tok := p.sensor.Publish(p.sensorTopic, spec.QoS, false, payload)
	if spec.QoS == 0 || !spec.Record {
		return
	}
	l.acks.Add(1)
	go func() {
		defer l.acks.Done()
		<-tok.Done()
		if tok.Error() != nil {
			l.pubErrors.Add(1)
			return
		}
		d := time.Since(at)
		l.recMu.Lock()
		if l.gen.Load() == gen {
			l.ack = append(l.ack, d)
		}
		l.recMu.Unlock()
	}()
}

// reset clears what the last run recorded. The pending queues stay: a late
// command of an earlier stretch must still pair with its own event.
func (l *load) reset(capacity int) {
	l.gen.Add(1)
	l.recMu.Lock()
	l.lat = make([]time.Duration, 0, capacity)
	l.ack = make([]time.Duration, 0, capacity)
	l.recMu.Unlock()
	l.received.Store(0)
	l.unexpected.Store(0)
	l.pubErrors.Store(0)
}

// awaitReceived waits until want commands were recorded or the timeout ends.
// It polls: the other end is another process.
func (l *load) awaitReceived(ctx context.Context, want int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for l.received.Load() < int64(want) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
}

// clearPending forgets every unanswered event. Call it only once the target
// is quiet (awaitQuiet): what is still pending then was lost, and a lost ON
// left in a queue would take the next ON command for itself, so that a
// later run would count its own event lost and time the command from the
// wrong send.
func (l *load) clearPending() {
	for _, p := range l.pairs {
		p.mu.Lock()
		p.pending, p.head = p.pending[:0], 0
		p.mu.Unlock()
	}
}

// awaitQuiet waits until no command has arrived for quiet, or until max:
// after an overload the target may still be sending the commands of an
// earlier stretch, and the next one should start on a target that is done.
// It returns how long it waited.
func (l *load) awaitQuiet(ctx context.Context, quiet, max time.Duration) time.Duration {
	start := time.Now()
	last, lastChange := l.seen.Load(), time.Now()
	for ctx.Err() == nil && time.Since(start) < max {
		if n := l.seen.Load(); n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) >= quiet {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// results takes the latencies recorded since reset, waiting (bounded) for
// outstanding PUBACKs.
func (l *load) results(ctx context.Context) (lat, ack []time.Duration) {
	done := make(chan struct{})
	go func() { l.acks.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	l.recMu.Lock()
	defer l.recMu.Unlock()
	// Copies: a straggler may still append while the caller sorts.
	return slices.Clone(l.lat), slices.Clone(l.ack)
}

// probe sends one event on each pair at a moderate rate and waits until
// every command came back: it proves each path works (a peer subscribes its
// topics one by one after it connects) and warms the target up.
func (l *load) probe(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		l.reset(len(l.pairs))
		rate := min(500.0, float64(len(l.pairs)))
		n, _ := l.send(ctx, sendSpec{Rate: rate, QoS: 1, Duration: time.Duration(float64(len(l.pairs)) / rate * float64(time.Second)), Record: true})
		l.awaitReceived(ctx, n, 5*time.Second)
		got := int(l.received.Load())
		if got == n {
			l.results(ctx)
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d probe events got their command within %v", got, n, timeout)
		}
		l.awaitQuiet(ctx, time.Second, 30*time.Second)
		l.clearPending()
	}
}

// close disconnects every client.
func (l *load) close() {
	for _, cs := range [][]mqtt.Client{l.sensors, l.lights} {
		var wg sync.WaitGroup
		for _, c := range cs {
			if c == nil {
				continue
			}
			wg.Add(1)
			go func() { defer wg.Done(); c.Disconnect(100) }()
		}
		wg.Wait()
	}
}
