package main

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"hearth"
)

// eventCounter counts every event on the bus by kind. It is a subscriber
// that must not miss events, so the counts are exact; counting is all it
// does, so it is never the one holding the stream up.
type eventCounter struct {
	mu     sync.Mutex
	counts map[hearth.Kind]uint64
	total  atomic.Uint64
}

func (c *eventCounter) run(ctx context.Context, sub *hearth.Subscription) error {
	buf := make([]hearth.Event, 512)
	for {
		evs, err := sub.Read(ctx, buf)
		if errors.Is(err, hearth.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		c.mu.Lock()
		for _, e := range evs {
			c.counts[e.Kind]++
		}
		c.mu.Unlock()
		c.total.Add(uint64(len(evs)))
	}
}

func (c *eventCounter) snapshot() map[hearth.Kind]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[hearth.Kind]uint64, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// metricsHandler serves the hub's metrics in the Prometheus text format.
func (a *App) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&hubCollector{a: a}, &retentionCollector{a: a})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: nil, Timeout: 10 * time.Second})
}

// hubCollector reads the hub's parts at each scrape.
type hubCollector struct{ a *App }

var (
	descEvents      = prometheus.NewDesc("hearth_events_total", "Events on the bus since the hub started, by kind.", []string{"kind"}, nil)
	descNextSeq     = prometheus.NewDesc("hearth_log_next_seq", "Sequence number the next event gets.", nil, nil)
	descDurable     = prometheus.NewDesc("hearth_log_durable_seq", "Sequence number up to which the log is on disk.", nil, nil)
	descLogEvents   = prometheus.NewDesc("hearth_log_events", "Events in the log.", nil, nil)
	descLogBytes    = prometheus.NewDesc("hearth_log_bytes", "Size of the log's files.", []string{"file"}, nil)
	descLag         = prometheus.NewDesc("hearth_bus_lag_events", "Events published but not yet read, by subscriber.", []string{"subscriber"}, nil)
	descClients     = prometheus.NewDesc("hearth_mqtt_clients_connected", "MQTT clients connected to the embedded broker.", nil, nil)
	descMsgsIn      = prometheus.NewDesc("hearth_mqtt_messages_received_total", "PUBLISH packets received by the embedded broker.", nil, nil)
	descMsgsOut     = prometheus.NewDesc("hearth_mqtt_messages_sent_total", "PUBLISH packets sent by the embedded broker.", nil, nil)
	descHeld        = prometheus.NewDesc("hearth_mqtt_publish_throttled_total", "Times an MQTT client began to be held to its publish rate (limits: publish_rate_per_client): once per flood, not per message.", nil, nil)
	descHeldNow     = prometheus.NewDesc("hearth_mqtt_publish_throttled_clients", "MQTT clients waiting for their publish rate now.", nil, nil)
	descHeldTime    = prometheus.NewDesc("hearth_mqtt_publish_throttled_seconds_total", "Time MQTT clients spent waiting for their publish rate, while the broker did not read from them.", nil, nil)
	descRuns        = prometheus.NewDesc("hearth_automation_runs_total", "Automation runs that ended since the hub started, by outcome.", []string{"outcome"}, nil)
	descAutomations = prometheus.NewDesc("hearth_automations", "Automations loaded.", nil, nil)
	descLatency     = prometheus.NewDesc("hearth_automation_latency_seconds", "Time from an event in to an automation's last command out.", []string{"automation"}, nil)
	descRefused     = prometheus.NewDesc("hearth_devices_refused_total", "Messages from a new device id that made no device because the hub held max_devices already (they are still logged).", nil, nil)
	descLogFailing  = prometheus.NewDesc("hearth_log_failing", "1 while the disk refuses the log (full, read-only, failing): events wait in memory and QoS 1 messages are refused.", nil, nil)
	descLogHeld     = prometheus.NewDesc("hearth_log_held_events", "Events held in memory for a disk that refuses the log.", nil, nil)
	descNotLogged   = prometheus.NewDesc("hearth_log_not_logged_events_total", "Events let go, not logged, because the disk refused the log for longer than memory could hold them.", nil, nil)
)

// Describe sends the descriptions of every metric.
func (c *hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEvents, descNextSeq, descDurable, descLogEvents, descLogBytes, descLag,
		descClients, descMsgsIn, descMsgsOut, descHeld, descHeldNow, descHeldTime, descRuns, descAutomations, descLatency,
		descLogFailing, descLogHeld, descNotLogged, descRefused} {
		ch <- d
	}
}

// Collect reads the current values.
func (c *hubCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	for kind, n := range a.counter.snapshot() {
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(n), string(kind))
	}
	ch <- prometheus.MustNewConstMetric(descNextSeq, prometheus.GaugeValue, float64(a.bus.NextSeq()))
	ch <- prometheus.MustNewConstMetric(descDurable, prometheus.GaugeValue, float64(a.bus.Durable()))
	trouble := a.store.Trouble()
	failing := 0.0
	if trouble.Failing {
		failing = 1
	}
	ch <- prometheus.MustNewConstMetric(descLogFailing, prometheus.GaugeValue, failing)
	ch <- prometheus.MustNewConstMetric(descLogHeld, prometheus.GaugeValue, float64(trouble.Held))
	ch <- prometheus.MustNewConstMetric(descNotLogged, prometheus.CounterValue, float64(trouble.NotLogged))
	if a.devices != nil {
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(a.devices.Refused()))
	}
	for _, l := range a.bus.Lags() {
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(l.Events), l.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if st, err := a.store.Stats(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descLogEvents, prometheus.GaugeValue, float64(st.Events))
		ch <- prometheus.MustNewConstMetric(descLogBytes, prometheus.GaugeValue, float64(st.DBBytes), "db")
		ch <- prometheus.MustNewConstMetric(descLogBytes, prometheus.GaugeValue, float64(st.WALBytes), "wal")
	} else {
		ch <- prometheus.NewInvalidMetric(descLogEvents, err)
	}
	if a.broker != nil {
		bs := a.broker.Stats()
		ch <- prometheus.MustNewConstMetric(descClients, prometheus.GaugeValue, float64(bs.ClientsConnected))
		ch <- prometheus.MustNewConstMetric(descMsgsIn, prometheus.CounterValue, float64(bs.MessagesReceived))
		ch <- prometheus.MustNewConstMetric(descMsgsOut, prometheus.CounterValue, float64(bs.MessagesSent))
		ch <- prometheus.MustNewConstMetric(descHeld, prometheus.CounterValue, float64(bs.PublishRate.Held))
		ch <- prometheus.MustNewConstMetric(descHeldNow, prometheus.GaugeValue, float64(bs.PublishRate.Waiting))
		ch <- prometheus.MustNewConstMetric(descHeldTime, prometheus.CounterValue, bs.PublishRate.Waited.Seconds())
	}
	if a.engine == nil {
		return
	}
	for outcome, n := range a.engine.RunOutcomes() {
		ch <- prometheus.MustNewConstMetric(descRuns, prometheus.CounterValue, float64(n), outcome)
	}
	list, err := a.engine.List(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descAutomations, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(descAutomations, prometheus.GaugeValue, float64(len(list.Automations)))
	for _, info := range list.Automations {
		l := info.Latency
		if l == nil || l.Count == 0 {
			continue
		}
		ch <- prometheus.MustNewConstSummary(descLatency, uint64(l.Count), 0, map[float64]float64{
			0.5: l.P50.Seconds(), 0.9: l.P90.Seconds(), 0.99: l.P99.Seconds(), 1: l.Max.Seconds(),
		}, info.ID)
	}
}
