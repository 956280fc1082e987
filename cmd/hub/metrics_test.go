package main

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"hearth/broker"
)

// scrape reads the hub's /metrics.
func scrape(t *testing.T, app *App) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + app.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return families
}

// metricValue returns the value of the first metric of name whose labels
// include labels (a summary's sample count).
func metricValue(families map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := families[name]
	if !ok {
		return 0, false
	}
metrics:
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
				continue metrics
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Summary != nil:
			return float64(m.GetSummary().GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetricsAreServedInThePrometheusTextFormat(t *testing.T) {
	app, _ := startHub(t, buttonAutomation("100"))
	addr := app.MQTTAddr().String()
	lamp := connect(t, addr, "lamp")
	commands := subscribe(t, lamp, "home/lamp/set")
	button := connect(t, addr, "button")
	publish(t, button, "home/button", 1, `{"action":"single"}`)
	receive(t, commands)

	var families map[string]*dto.MetricFamily
	eventually(t, "the run counted in /metrics", func() bool {
		families = scrape(t, app)
		runs, _ := metricValue(families, "hearth_automation_runs_total", map[string]string{"outcome": "done"})
		return runs == 1
	})
	checks := []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"hearth_events_total", map[string]string{"kind": "message"}, 1},
		{"hearth_events_total", map[string]string{"kind": "command"}, 1},
		{"hearth_mqtt_clients_connected", nil, 2},
		{"hearth_mqtt_publish_throttled_total", nil, 0},
		{"hearth_mqtt_publish_throttled_clients", nil, 0},
		{"hearth_mqtt_publish_throttled_seconds_total", nil, 0},
		{"hearth_log_bytes", map[string]string{"file": "db"}, 1},
		{"hearth_log_durable_seq", nil, 1},
		{"hearth_automations", nil, 1},
		{"hearth_automation_latency_seconds", map[string]string{"automation": "button_light"}, 1},
		{"hearth_bus_lag_events", map[string]string{"subscriber": "store"}, 0},
		{"go_goroutines", nil, 1},
	}
	for _, c := range checks {
		v, ok := metricValue(families, c.name, c.labels)
		if !ok || v < c.min {
			t.Errorf("%s%v = %v (present %v), want at least %v", c.name, c.labels, v, ok, c.min)
		}
	}
	// A pedantic registry checks that every metric collected was described.
	pedantic := prometheus.NewPedanticRegistry()
	pedantic.MustRegister(&hubCollector{a: app}, &retentionCollector{a: app})
	if _, err := pedantic.Gather(); err != nil {
		t.Errorf("the collectors break their contract: %v", err)
	}
}

func TestAClientHeldToItsPublishRateIsCounted(t *testing.T) {
	app, _ := startHubWith(t, "", func(c *Config) {
		c.Limits = broker.Limits{PublishRate: 50, PublishBurst: 1}
	})
	sensor := connect(t, app.MQTTAddr().String(), "chatty")
	for range 10 { // 0.18 s at the rate, after its burst of one
		publish(t, sensor, "home/chatty", 1, `{"n":1}`)
	}
	families := scrape(t, app)
	if v, _ := metricValue(families, "hearth_mqtt_publish_throttled_total", nil); v != 1 {
		t.Errorf("hearth_mqtt_publish_throttled_total = %v, want 1 (one client, held once)", v)
	}
	if v, _ := metricValue(families, "hearth_mqtt_publish_throttled_seconds_total", nil); v <= 0 {
		t.Errorf("hearth_mqtt_publish_throttled_seconds_total = %v, want the time it waited", v)
	}
}

func TestAClientInventingDeviceIdsIsHeldToMaxDevices(t *testing.T) {
	const maxDevices = 4
	app, _ := startHubWith(t, "", func(c *Config) { c.MaxDevices = maxDevices })
	api := "http://" + app.HTTPAddr().String() + "/api/"
	var before []map[string]any
	getJSON(t, api+"devices", &before) // the hub's own (the house)
	if len(before) >= maxDevices {
		t.Fatalf("the hub starts with %d devices; the test needs room under %d", len(before), maxDevices)
	}
	logger := connect(t, app.MQTTAddr().String(), "logger")
	const sent = 6
	for i := range sent {
		publish(t, logger, fmt.Sprintf("home/reading_%d", 1732000000+i), 1, `{"value":1}`)
	}
	refused := float64(sent - (maxDevices - len(before)))
	eventually(t, "the refused messages counted", func() bool {
		v, _ := metricValue(scrape(t, app), "hearth_devices_refused_total", nil)
		return v == refused
	})
	var after []map[string]any
	if getJSON(t, api+"devices", &after); len(after) != maxDevices {
		t.Errorf("%d devices, want max_devices, %d", len(after), maxDevices)
	}
	var last []map[string]any
	if getJSON(t, api+"events?topic=home/reading_1732000005", &last); len(last) != 1 || last[0]["kind"] != "message" {
		t.Errorf("the last refused message in the log: %v, want it there as a message", last)
	}
}
