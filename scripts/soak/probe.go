package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// The probe is a motion sensor and a light of the soak's own: it reports
// motion on and off in turn, and times how long the hub's automations take
// to send the matching command to the light.
const (
	probeSensor = "soak_probe"
	probeLight  = "soak_lamp"
)

// probe measures motion → light latency over real MQTT.
type probe struct {
	client   mqtt.Client
	base     string
	qos      byte
	timeout  time.Duration
	commands chan string // "ON" / "OFF" as the light receives them

	mu   sync.Mutex
	lat  []time.Duration // since the last take
	lost int             // since the last take
	all  []time.Duration
	sent int
	miss int
}

// newProbe connects to the broker at addr and subscribes to the light's
// commands.
func newProbe(ctx context.Context, addr, base string, qos byte, timeout time.Duration) (*probe, error) {
	p := &probe{base: base, qos: qos, timeout: timeout, commands: make(chan string, 16)}
	o := mqtt.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID("soak-probe").
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectTimeout(10 * time.Second)
	p.client = mqtt.NewClient(o)
	if err := wait(ctx, p.client.Connect()); err != nil {
		return nil, fmt.Errorf("probe connect %s: %w", addr, err)
	}
	err := wait(ctx, p.client.Subscribe(base+"/"+probeLight+"/set", 1, func(_ mqtt.Client, m mqtt.Message) {
		var cmd struct {
			State string `json:"state"`
		}
		if json.Unmarshal(m.Payload(), &cmd) != nil {
			return
		}
		// paho's router goroutine: never block it.
		select {
		case p.commands <- cmd.State:
		default:
		}
	}))
	if err != nil {
		p.client.Disconnect(100)
		return nil, fmt.Errorf("probe subscribe: %w", err)
	}
	return p, nil
}

// wait waits for a paho token, bounded by ctx.
func wait(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run sends a motion report every interval until ctx ends: occupancy true,
// then false, and so on; the soak's automations answer each with ON or OFF.
func (p *probe) run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	occupied := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		occupied = !occupied
		p.once(ctx, occupied)
	}
}

// once reports occupancy and waits for the light's command.
func (p *probe) once(ctx context.Context, occupied bool) {
	want := "OFF"
	if occupied {
		want = "ON"
	}
	// A command that came late for an earlier probe must not answer this one.
	for drained := false; !drained; {
		select {
		case <-p.commands:
		default:
			drained = true
		}
	}
	payload := fmt.Sprintf(`{"occupancy":%t}`, occupied)
	start := time.Now()
	tok := p.client.Publish(p.base+"/"+probeSensor, p.qos, false, payload)
	deadline := time.NewTimer(p.timeout)
	defer deadline.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			p.record(0, false)
			return
		case got := <-p.commands:
			if got == want {
				p.record(time.Since(start), true)
				_ = tok.Error() // the publish is long done: its command came back
				return
			}
		}
	}
}

func (p *probe) record(d time.Duration, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent++
	if !ok {
		p.lost++
		p.miss++
		return
	}
	p.lat = append(p.lat, d)
	p.all = append(p.all, d)
}

// take returns the latencies and losses since the last take.
func (p *probe) take() (lat []time.Duration, lost int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	lat, lost = p.lat, p.lost
	p.lat, p.lost = nil, 0
	return lat, lost
}

// totals returns every latency of the run, and the probes sent and lost.
func (p *probe) totals() (all []time.Duration, sent, lost int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.all...), p.sent, p.miss
}

func (p *probe) close() { p.client.Disconnect(250) }

// quantile returns the q-quantile (0..1) of ds by the nearest rank, or 0
// for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.5) - 1
	i = max(0, min(i, len(s)-1))
	return s[i]
}
