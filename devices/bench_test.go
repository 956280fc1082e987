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

// BenchmarkApplyAdapters folds each adapter's typical message with every
// adapter on, so that the cost of finding the adapter shows.
func BenchmarkApplyAdapters(b *testing.B) {
	emit := func(hearth.Event) {}
	cases := []struct {
		name     string
		setup    []hearth.Event
		topic    string
		payloads [2][]byte
	}{
		{name: "native, nothing changed", topic: "home/hall_motion", payloads: [2][]byte{z2mMotion[0], z2mMotion[0]}},
		{name: "native, state changed", topic: "home/hall_motion", payloads: z2mMotion},
		{name: "zigbee2mqtt, state changed", topic: "zigbee2mqtt/hall_motion", payloads: z2mMotion},
		{name: "tasmota sensor, state changed", topic: "tele/sonoff_th/SENSOR", payloads: [2][]byte{
			[]byte(`{"Time":"2019-01-01T00:00:00","AM2301":{"Temperature":24.6,"Humidity":58.2},"TempUnit":"C"}`),
			[]byte(`{"Time":"2019-01-01T00:05:00","AM2301":{"Temperature":24.7,"Humidity":58.2},"TempUnit":"C"}`),
		}},
		{name: "home assistant sensor, state changed", topic: "livingroom/sensor/living_temperature/state",
			setup: []hearth.Event{{Kind: hearth.KindMessage, Topic: "homeassistant/sensor/livingroom/living_temperature/config",
				Payload: []byte(`{"dev_cla":"temperature","unit_of_meas":"°C","stat_t":"livingroom/sensor/living_temperature/state","avty_t":"livingroom/status"}`)}},
			payloads: [2][]byte{[]byte("21.5"), []byte("21.6")}},
		{name: "home assistant JSON with a template, state changed", topic: "sensors/bedroom",
			setup: []hearth.Event{{Kind: hearth.KindMessage, Topic: "homeassistant/sensor/bedroom/config",
				Payload: []byte(`{"dev_cla":"temperature","stat_t":"sensors/bedroom","val_tpl":"{{ value_json.temperature | float | round(1) }}"}`)}},
			payloads: [2][]byte{[]byte(`{"temperature":23.21,"humidity":43.7}`), []byte(`{"temperature":23.31,"humidity":43.7}`)}},
		{name: "a topic no adapter reads", topic: "garden/weather/raw", payloads: [2][]byte{[]byte("x"), []byte("y")}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			r, err := NewRegistry(Options{BaseTopic: "home", Adapters: Adapters()})
			if err != nil {
				b.Fatal(err)
			}
			var stage hearth.Stage = r // called as the bus calls it
			for _, e := range tc.setup {
				stage.Apply(&e, emit)
			}
			e := hearth.Event{Kind: hearth.KindMessage, Topic: tc.topic, Payload: tc.payloads[1]}
			stage.Apply(&e, emit)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				e = hearth.Event{Seq: uint64(i), Kind: hearth.KindMessage, Topic: tc.topic, Payload: tc.payloads[i&1]}
				stage.Apply(&e, emit)
			}
		})
	}
}
