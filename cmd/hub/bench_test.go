package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// automationsYAML makes n automations: motion_i turns light_i on when
// lux_i is dark, and off when the motion stops.
func automationsYAML(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `
- id: motion_%[1]d_on
  triggers: [{device: motion_%[1]d, when: occupancy == true}]
  conditions: ["(states.lux_%[1]d.illuminance ?? 0) < 30"]
  actions: [{set: light_%[1]d, state: {state: "ON", brightness: 200}}]
- id: motion_%[1]d_off
  triggers: [{device: motion_%[1]d, when: occupancy == false}]
  actions: [{set: light_%[1]d, state: {state: "OFF"}}]
`, i)
	}
	return b.String()
}

// BenchmarkMotionToLight measures, over real MQTT on loopback with the log
// on and 2,000 automations loaded (events one at a time), the time from a sensor's publish to the
// light's receipt of its command. It reports the percentiles of that latency.
func BenchmarkMotionToLight(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos%d", qos), func(b *testing.B) {
			app, _ := startHub(b, automationsYAML(1000))
			addr := app.MQTTAddr().String()
			light := connect(b, addr, "lights")
			got := make(chan time.Time, 16)
			tok := light.Subscribe("home/+/set", 0, func(mqtt.Client, mqtt.Message) { got <- time.Now() })
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				b.Fatal(tok.Error())
			}
			sensor := connect(b, addr, "motion_sensors")
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Each sensor in turn, as in a house: no automation runs
				// more often than a person walks by.
				payload := `{"occupancy":false}`
				if (i/1000)%2 == 0 {
					payload = `{"occupancy":true}`
				}
				start := time.Now()
				tok := sensor.Publish(fmt.Sprintf("home/motion_%d", i%1000), qos, false, payload)
				select {
				case at := <-got:
					lat = append(lat, at.Sub(start))
				case <-time.After(10 * time.Second):
					b.Fatalf("no command for event %d", i)
				}
				// Wait for the PUBACK too, as a sensor at a home's sparse rate
				// would have it long before its next event: the broker reads a
				// client's next packet only once the previous one is logged.
				tok.Wait()
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) }
			b.ReportMetric(pct(0.50), "p50-µs")
			b.ReportMetric(pct(0.99), "p99-µs")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
		})
	}
}
