package devices

import (
	"testing"

	"hearth"
)

// A motion sensor's report as Zigbee2MQTT publishes it (Aqara RTCGQ11LM).
var z2mMotion = [2][]byte{
	[]byte(`{"battery":100,"device_temperature":23,"illuminance":12,"illuminance_lux":12,"linkquality":120,"occupancy":true,"power_outage_count":5,"voltage":3005,"update":{"state":"idle"}}`),
	[]byte(`{"battery":100,"device_temperature":23,"illuminance":12,"illuminance_lux":12,"linkquality":117,"occupancy":true,"power_outage_count":5,"voltage":3005,"update":{"state":"idle"}}`),
}

// BenchmarkApply folds a typical Zigbee2MQTT payload, as the bus does under
// its lock for every message.
func BenchmarkApply(b *testing.B) {
	emitted := 0
	emit := func(hearth.Event) { emitted++ }
	run := func(b *testing.B, pick func(i int) []byte) {
		r := New("home", nil)
		e := hearth.Event{Kind: hearth.KindMessage, Topic: "home/hall_motion", Payload: z2mMotion[1]}
		r.Apply(&e, emit)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			e = hearth.Event{Seq: uint64(i), Kind: hearth.KindMessage, Topic: "home/hall_motion", Payload: pick(i)}
			r.Apply(&e, emit)
		}
	}
	b.Run("state changed", func(b *testing.B) { run(b, func(i int) []byte { return z2mMotion[i&1] }) })
	b.Run("nothing changed", func(b *testing.B) { run(b, func(int) []byte { return z2mMotion[0] }) })
	b.Run("command", func(b *testing.B) {
		r := New("home", nil)
		b.ReportAllocs()
		for b.Loop() {
			e := hearth.Event{Kind: hearth.KindCommand, Topic: "home/hall_light/set", Payload: []byte(`{"state":"ON"}`)}
			r.Apply(&e, emit)
		}
	})
}
