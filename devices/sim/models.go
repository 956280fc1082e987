package sim

import (
	"math"
	"math/rand/v2"
)

// A model is a sensor's behaviour, advanced one tick at a time. Timings are
// in ticks so that tests can run a day in milliseconds; the demo ticks once
// a second.
type model interface {
	// initial is the state published when the sensor connects.
	initial() map[string]any
	// step advances one tick and returns the state to publish, or nil.
	step() map[string]any
}

// radio is the part of a Zigbee device's report that drifts on its own.
type radio struct {
	rng         *rand.Rand
	linkquality int
	battery     int
}

func newRadio(rng *rand.Rand) radio {
	return radio{rng: rng, linkquality: 80 + rng.IntN(120), battery: 60 + rng.IntN(41)}
}

// report adds linkquality (a small random walk) and battery to a state.
func (r *radio) report(st map[string]any) map[string]any {
	r.linkquality = min(255, max(20, r.linkquality+r.rng.IntN(13)-6))
	st["linkquality"] = r.linkquality
	st["battery"] = r.battery
	return st
}

// between draws a whole number in [lo, hi].
func between(rng *rand.Rand, lo, hi int) int { return lo + rng.IntN(hi-lo+1) }

// motion is a presence sensor: nobody is there for 20 to 60 ticks, then
// someone walks in and stays 10 to 40 ticks, moving now and then (each
// movement is reported again as occupancy true), then leaves. The first
// person comes within 3 to 12 ticks, so that someone trying the demo sees
// the house react in seconds.
type motion struct {
	radio
	occupied bool
	left     int // ticks until someone arrives or leaves
	again    int // ticks until the person present moves again
}

func newMotion(rng *rand.Rand) *motion {
	return &motion{radio: newRadio(rng), left: between(rng, 3, 12)}
}

func (m *motion) initial() map[string]any {
	return m.report(map[string]any{"occupancy": false})
}

func (m *motion) step() map[string]any {
	m.left--
	switch {
	case !m.occupied && m.left <= 0:
		m.occupied, m.left, m.again = true, between(m.rng, 10, 40), between(m.rng, 4, 9)
	case m.occupied && m.left <= 0:
		m.occupied, m.left = false, between(m.rng, 20, 60)
	case m.occupied:
		if m.again--; m.again > 0 {
			return nil
		}
		m.again = between(m.rng, 4, 9)
	default:
		return nil
	}
	return m.report(map[string]any{"occupancy": m.occupied})
}

// walkIn is someone arriving now (House.Walk): the reports to send, a
// report of nobody first when someone was there already.
func (m *motion) walkIn() []map[string]any {
	var out []map[string]any
	if m.occupied {
		out = append(out, m.report(map[string]any{"occupancy": false}))
	}
	m.occupied, m.left, m.again = true, between(m.rng, 10, 40), between(m.rng, 4, 9)
	return append(out, m.report(map[string]any{"occupancy": true}))
}

// lightLevel is a light-level sensor by a window: illuminance follows the
// sun over a simulated day (dark from 18:00 to 06:00, up to about 600 lux at
// noon) with some noise, reported every 10 ticks.
type lightLevel struct {
	radio
	hour    float64 // simulated time of day
	perTick float64 // simulated hours per tick
	n       int
}

func newLightLevel(rng *rand.Rand, hour, hoursPerTick float64) *lightLevel {
	return &lightLevel{radio: newRadio(rng), hour: hour, perTick: hoursPerTick}
}

// daylight is the illuminance of the day curve at hour h, without noise.
func daylight(h float64) float64 {
	h = math.Mod(h, 24)
	if h < 6 || h >= 18 {
		return 0
	}
	return 600 * math.Sin(math.Pi*(h-6)/12)
}

func (l *lightLevel) read() map[string]any {
	v := daylight(l.hour)*(1+0.05*l.rng.NormFloat64()) + 1.5*math.Abs(l.rng.NormFloat64())
	lux := int(math.Round(max(0, v)))
	return l.report(map[string]any{"illuminance": lux, "illuminance_lux": lux})
}

func (l *lightLevel) initial() map[string]any { return l.read() }

func (l *lightLevel) step() map[string]any {
	l.hour = math.Mod(l.hour+l.perTick, 24)
	if l.n++; l.n%10 != 0 {
		return nil
	}
	return l.read()
}

// doorContact is a door that stays closed 30 to 120 ticks and is open 3 to
// 15 ticks at a time. contact is true when closed, as Zigbee2MQTT reports it.
type doorContact struct {
	radio
	closed bool
	left   int
}

func newDoorContact(rng *rand.Rand) *doorContact {
	return &doorContact{radio: newRadio(rng), closed: true, left: between(rng, 30, 120)}
}

func (d *doorContact) initial() map[string]any {
	return d.report(map[string]any{"contact": d.closed})
}

func (d *doorContact) step() map[string]any {
	if d.left--; d.left > 0 {
		return nil
	}
	d.closed = !d.closed
	if d.closed {
		d.left = between(d.rng, 30, 120)
	} else {
		d.left = between(d.rng, 3, 15)
	}
	return d.report(map[string]any{"contact": d.closed})
}

// thermometer reports temperature and humidity every 30 ticks: random walks
// that drift back towards 21 °C and 45 %.
type thermometer struct {
	radio
	temperature, humidity float64
	n                     int
}

func newThermometer(rng *rand.Rand) *thermometer {
	return &thermometer{radio: newRadio(rng), temperature: 19 + 4*rng.Float64(), humidity: 40 + 10*rng.Float64()}
}

func (t *thermometer) read() map[string]any {
	return t.report(map[string]any{
		"temperature": math.Round(t.temperature*10) / 10,
		"humidity":    math.Round(t.humidity*10) / 10,
	})
}

func (t *thermometer) initial() map[string]any { return t.read() }

func (t *thermometer) step() map[string]any {
	if t.n++; t.n%30 != 0 {
		return nil
	}
	t.temperature += 0.1*(21-t.temperature) + 0.15*t.rng.NormFloat64()
	t.humidity += 0.1*(45-t.humidity) + 0.5*t.rng.NormFloat64()
	return t.read()
}
