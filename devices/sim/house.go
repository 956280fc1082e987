// Package sim simulates Zigbee2MQTT-like devices that connect to a broker as
// real MQTT clients on the native topics (<base>/<id>, <base>/<id>/set,
// <base>/<id>/availability): motion sensors, a light-level sensor, lights,
// a door contact and a thermometer. `hub --demo` runs a small house of them.
package sim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Kind names a kind of simulated device.
type Kind string

// The kinds of simulated device.
const (
	// Motion is a presence sensor: {"occupancy":true,...}.
	Motion Kind = "motion"
	// LightLevel is a light-level sensor: {"illuminance":12,...}.
	LightLevel Kind = "light_level"
	// Lamp is a dimmable light that obeys <base>/<id>/set.
	Lamp Kind = "light"
	// Contact is a door contact: {"contact":true,...} when closed.
	Contact Kind = "contact"
	// Thermometer reports {"temperature":21.3,"humidity":45.2,...}.
	Thermometer Kind = "thermometer"
)

// Spec says which device to simulate.
type Spec struct {
	// ID is the device id, the <id> of its topics.
	ID string
	// Kind is what the device is.
	Kind Kind
}

// Demo returns the devices of the demo house.
func Demo() []Spec {
	return []Spec{
		{ID: "hall_motion", Kind: Motion},
		{ID: "hall_lux", Kind: LightLevel},
		{ID: "hall_light", Kind: Lamp},
		{ID: "kitchen_motion", Kind: Motion},
		{ID: "kitchen_light", Kind: Lamp},
		{ID: "front_door", Kind: Contact},
		{ID: "living_temp", Kind: Thermometer},
	}
}

// Defaults for Options.
const (
	// DefaultTick is one step of the simulation: with it a motion sensor
	// sees someone every 20 to 60 seconds.
	DefaultTick = time.Second
	// DefaultDay is how long a simulated day lasts for the light-level
	// curve: ten minutes, so that a demo sees both night and day.
	DefaultDay = 10 * time.Minute
)

// Options configure a House.
type Options struct {
	// BaseTopic is the topic devices live under; "home" when empty.
	BaseTopic string
	// Rand drives every random choice; each device gets its own generator
	// seeded from it, in the order of the specs. A fixed seed when nil.
	Rand *rand.Rand
	// Tick is one step of the simulation; DefaultTick when zero.
	Tick time.Duration
	// Day is how long a simulated day lasts; DefaultDay when zero.
	Day time.Duration
	// Hour is the simulated time of day at start, in hours (0 is midnight,
	// dark until 06:00).
	Hour float64
	// Steady makes every sensor report its whole state at every tick,
	// changed or not, as some firmware does: a steady load for benchmarks
	// and soak runs (hub sim --rate).
	Steady bool
	// Log receives the devices' logs; nothing is logged when nil.
	Log *slog.Logger
	// Username and Password log the devices in to a broker that asks.
	Username, Password string
	// TLS is the devices' TLS configuration for an mqtts:// broker (its
	// CA, a client certificate); nil takes the system's roots.
	TLS *tls.Config
}

// runner is a simulated device: a link (connect, close) and a behaviour.
type runner interface {
	connect(ctx context.Context, brokerURL string) error
	setup(ctx context.Context) error
	run(ctx context.Context)
	close()
}

// House is a set of simulated devices. Start connects them; Close stops them.
type House struct {
	base   string
	log    *slog.Logger
	login  login // the broker login, if any
	specs  []Spec
	nodes  []runner
	lights map[string]*Light
	walks  map[string]chan struct{} // a motion sensor's: someone walks past it now

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// NewHouse builds the devices of specs; nothing connects before Start.
func NewHouse(specs []Spec, o Options) (*House, error) {
	if o.BaseTopic = strings.Trim(o.BaseTopic, "/"); o.BaseTopic == "" {
		o.BaseTopic = "home"
	}
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(1, 2))
	}
	if o.Tick <= 0 {
		o.Tick = DefaultTick
	}
	if o.Day <= 0 {
		o.Day = DefaultDay
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	h := &House{
		base:   o.BaseTopic,
		log:    o.Log.With("component", "sim"),
		login:  login{user: o.Username, password: o.Password, tls: o.TLS},
		specs:  specs,
		lights: map[string]*Light{},
		walks:  map[string]chan struct{}{},
	}
	hoursPerTick := 24 * float64(o.Tick) / float64(o.Day)
	seen := map[string]bool{}
	for _, s := range specs {
		if s.ID == "" || strings.ContainsAny(s.ID, "/+#") {
			return nil, fmt.Errorf("device id %q: must be one topic level without wildcards", s.ID)
		}
		if seen[s.ID] {
			return nil, fmt.Errorf("device id %q: given twice", s.ID)
		}
		seen[s.ID] = true
		rng := rand.New(rand.NewPCG(o.Rand.Uint64(), o.Rand.Uint64()))
		l := newLink(s.ID, h.base, h.log, h.login)
		var m model
		switch s.Kind {
		case Lamp:
			light := newLight(l)
			h.lights[s.ID] = light
			h.nodes = append(h.nodes, light)
			continue
		case Motion:
			m = newMotion(rng)
		case LightLevel:
			m = newLightLevel(rng, o.Hour, hoursPerTick)
		case Contact:
			m = newDoorContact(rng)
		case Thermometer:
			m = newThermometer(rng)
		default:
			return nil, fmt.Errorf("device %q: unknown kind %q", s.ID, s.Kind)
		}
		sn := &sensor{link: l, model: m, tick: o.Tick, steady: o.Steady}
		if s.Kind == Motion {
			sn.walk = make(chan struct{}, 1)
			h.walks[s.ID] = sn.walk
		}
		h.nodes = append(h.nodes, sn)
	}
	return h, nil
}

// Spread makes n devices of every kind in turn (motion sensors, lights,
// thermometers, door contacts, light-level sensors), named <kind>_<i>: a
// house of any size for benchmarks and soak runs.
func Spread(n int) []Spec {
	kinds := []Kind{Motion, Lamp, Thermometer, Contact, LightLevel}
	specs := make([]Spec, 0, n)
	for i := 0; i < n; i++ {
		k := kinds[i%len(kinds)]
		specs = append(specs, Spec{ID: fmt.Sprintf("%s_%d", k, i), Kind: k})
	}
	return specs
}

// Devices returns the specs the house was built from.
func (h *House) Devices() []Spec { return append([]Spec(nil), h.specs...) }

// Light returns the simulated light with the given id.
func (h *House) Light(id string) (*Light, bool) {
	l, ok := h.lights[id]
	return l, ok
}

// Walk has someone walk past the motion sensor id now, as in the demo's
// alarm story: the sensor reports occupancy (after a report of nobody, if
// someone was there already, so that what follows sees someone come in)
// and goes on as after anyone's arrival. It returns at once; the sensor
// reports from its own goroutine once the house runs.
func (h *House) Walk(id string) error {
	ch, ok := h.walks[id]
	if !ok {
		return fmt.Errorf("sim: %q is not a simulated motion sensor", id)
	}
	select {
	case ch <- struct{}{}:
	default: // a walk is waiting already: one is as good as two
	}
	return nil
}

// Start connects every device to brokerURL ("tcp://127.0.0.1:1883"), has
// each announce itself and publish its state, then runs them. ctx bounds the
// connecting; the devices run until Close. If a device cannot connect, the
// ones already connected are closed and the error returned.
func (h *House) Start(ctx context.Context, brokerURL string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started {
		return errors.New("sim: house already started")
	}
	h.started = true
	for i, n := range h.nodes {
		err := n.connect(ctx, brokerURL)
		if err == nil {
			err = n.setup(ctx)
		}
		if err != nil {
			for _, done := range h.nodes[:i+1] {
				done.close()
			}
			return fmt.Errorf("start simulated house: %w", err)
		}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.cancel = cancel
	for _, n := range h.nodes {
		h.wg.Go(func() { n.run(runCtx) })
	}
	h.log.Info("simulated house started", "devices", len(h.nodes), "broker", brokerURL, "base", h.base)
	return nil
}

// Close stops the devices, waits for their goroutines and disconnects them,
// each saying offline first.
func (h *House) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.wg.Wait()
	for _, n := range h.nodes {
		n.close()
	}
	h.cancel = nil
}
