package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"hearth"
	"hearth/devices"
	"hearth/store"
)

func TestRetentionConfig(t *testing.T) {
	cases := []struct {
		name      string
		file      string
		flags     []string
		want      RetentionConfig
		wantError string
	}{
		{
			name: "without a retention section the defaults hold",
			file: "mqtt: :1883\n",
			want: RetentionConfig{Events: Age(30 * day), History: Age(365 * day), MaxSize: 2 * gigabyte},
		},
		{
			name: "the file sets some keys and the others keep their defaults",
			file: "retention:\n  events: 7d\n  max_size: 500MB\n",
			want: RetentionConfig{Events: Age(7 * day), History: Age(365 * day), MaxSize: 500 * 1000 * 1000},
		},
		{
			name: "weeks, years, Go durations and binary units are understood",
			file: "retention: {events: 36h, history: 2y, max_size: 1.5GiB}\n",
			want: RetentionConfig{Events: Age(36 * time.Hour), History: Age(2 * 365 * day), MaxSize: Size(1.5 * (1 << 30))},
		},
		{
			name: "zero turns each limit off",
			file: "retention: {events: 0, history: 0, max_size: 0}\n",
			want: RetentionConfig{},
		},
		{
			name:  "flags override the file",
			file:  "retention: {events: 7d, history: 90d}\n",
			flags: []string{"--retention-events", "2w", "--retention-max-size", "8GB"},
			want:  RetentionConfig{Events: Age(14 * day), History: Age(90 * day), MaxSize: 8 * gigabyte},
		},
		{
			name:      "an age without a unit is refused with its line",
			file:      "retention:\n  events: 30\n",
			wantError: "hub.yaml:2:11",
		},
		{
			name:      "a size that is not one is refused",
			file:      "retention:\n  max_size: lots\n",
			wantError: `"lots": want a size such as 2GB`,
		},
		{
			name:      "events kept for less than an hour are refused",
			file:      "retention: {events: 10m}\n",
			wantError: "retention: events 10m0s: keep at least 1h",
		},
		{
			name:      "a size bound too small for an hour of events is refused",
			flags:     []string{"--retention-max-size", "1MB"},
			wantError: "retention: max_size 1MB: at least 16MB",
		},
		{
			name:      "an age longer than the hub counts is refused, not wrapped round",
			flags:     []string{"--retention-events", "300y", "--retention-history", "200000d"},
			wantError: `"300y": longer than the hub counts`,
		},
		{
			name:      "a history age longer than the hub counts is refused, not taken as forever",
			flags:     []string{"--retention-history", "30000w"},
			wantError: `"30000w": longer than the hub counts`,
		},
		{
			name:      "an unknown key is refused",
			file:      "retention: {keep: 3d}\n",
			wantError: "unknown field \"keep\"",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.flags
			if c.file != "" {
				args = append([]string{"--config", writeFile(t, "hub.yaml", c.file)}, args...)
			}
			got, err := parseFlags(args, &bytes.Buffer{})
			if c.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantError) {
					t.Fatalf("error %v, want one saying %q", err, c.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Retention != c.want {
				t.Fatalf("retention %+v, want %+v", got.Retention, c.want)
			}
		})
	}
	t.Run("hub config prints the retention as the file takes it", func(t *testing.T) {
		var out, errs bytes.Buffer
		if code := run([]string{"config", "--retention-events", "2w"}, &out, &errs); code != 0 {
			t.Fatalf("exit %d: %s", code, errs.String())
		}
		for _, want := range []string{"retention:", "events: 14d", "history: 1y", "max_size: 2GB"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("hub config output lacks %q:\n%s", want, out.String())
			}
		}
	})
}

// seedOldLog fills a data folder as a hub that ran a week ago would have
// it: a Home Assistant motion sensor discovered, and the attic's
// temperature every ten minutes for three days.
func seedOldLog(t *testing.T, dataDir string, start time.Time) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(filepath.Join(dataDir, "hearth.db"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetQuietDelay(0) // a commit per event, without waiting for more
	var at time.Time    // the bus's clock: only this goroutine publishes
	bus := hearth.NewBus(hearth.BusOptions{NextSeq: 1, Durable: true, Now: func() time.Time { return at }})
	bus.AddStage(devices.New("home", quiet))
	sub := bus.Subscribe("store", hearth.MustNotMiss)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx, sub, bus) }()
	publish := func(topic, payload string) {
		if _, err := bus.Publish(hearth.Event{Kind: hearth.KindMessage, Topic: topic, Payload: []byte(payload), Retain: true}); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		defer wcancel()
		if err := bus.WaitDurable(wctx, bus.NextSeq()-1); err != nil {
			t.Fatalf("seed the log: %v", err)
		}
	}
	at = start
	publish("homeassistant/binary_sensor/garden/config",
		`{"name": "garden", "device_class": "motion", "state_topic": "homeassistant/binary_sensor/garden/state"}`)
	publish("homeassistant/binary_sensor/garden/state", "ON")
	// One commit each, as a quiet house's: the log indexes itself between
	// commits, and retention deletes only what is indexed.
	for i := range 3 * 24 * 6 {
		at = start.Add(time.Duration(i) * 10 * time.Minute)
		publish("home/attic", fmt.Sprintf(`{"temperature":%d}`, i%30))
	}
	bus.Close()
	if err := <-done; err != nil {
		t.Fatalf("seed the log: %v", err)
	}
}

func TestRetentionPrunesTheRunningHubAndKeepsTheHouse(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	start := time.Now().Add(-7 * day).Truncate(time.Hour)
	seedOldLog(t, data, start)
	keep := func(c *Config) {
		c.DataDir = data
		c.Retention = RetentionConfig{Events: Age(2 * day), History: Age(365 * day), MaxSize: gigabyte}
	}
	app, _ := startHubWith(t, "", keep)
	httpAddr := app.HTTPAddr().String()
	type history struct {
		Points []hearth.HistoryPoint `json:"points"`
	}
	historyURL := fmt.Sprintf("http://%s/api/devices/attic/history?attr=temperature&from=%s&to=%s&step=6h",
		httpAddr, start.Format(time.RFC3339), start.Add(3*day).Format(time.RFC3339))
	var before history
	getJSON(t, historyURL, &before)

	rep := app.pruner.once(ctx, time.Now())

	t.Run("the old events are deleted", func(t *testing.T) {
		if rep.EventsByAge < 3*24*6 || rep.Folded == 0 {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("the history reads the same from the hourly rows", func(t *testing.T) {
		var after history
		getJSON(t, historyURL, &after)
		if len(after.Points) != len(before.Points) || len(before.Points) != 12 {
			t.Fatalf("after: %+v\nbefore: %+v", after.Points, before.Points)
		}
		for i := range before.Points {
			b, a := before.Points[i], after.Points[i]
			if !a.Time.Equal(b.Time) || a.Count != b.Count || a.Min != b.Min || a.Max != b.Max || math.Abs(a.Avg-b.Avg) > 1e-9 {
				t.Fatalf("point %d: %+v, want %+v", i, a, b)
			}
		}
	})
	t.Run("metrics say what was pruned", func(t *testing.T) {
		resp, err := http.Get("http://" + httpAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		value := func(name, label string) float64 {
			for _, m := range families[name].GetMetric() {
				if label == "" || m.GetLabel()[0].GetValue() == label {
					if m.Counter != nil {
						return m.GetCounter().GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
			t.Fatalf("no %s{%s} in /metrics", name, label)
			return 0
		}
		if got := value("hearth_log_pruned_events_total", "age"); got != float64(rep.EventsByAge) {
			t.Errorf("hearth_log_pruned_events_total{reason=age} %v, want %d", got, rep.EventsByAge)
		}
		if value("hearth_log_history_rows", "") == 0 || value("hearth_log_prune_last_timestamp_seconds", "") == 0 {
			t.Error("no history rows or no last pass in /metrics")
		}
		if got := value("hearth_log_max_bytes", ""); got != gigabyte {
			t.Errorf("hearth_log_max_bytes %v, want the bound", got)
		}
	})
	t.Run("a restart still knows the discovered sensor and the attic", func(t *testing.T) {
		if err := app.Close(); err != nil {
			t.Fatal(err)
		}
		again, _ := startHubWith(t, "", keep)
		var attic hearth.DeviceState
		getJSON(t, "http://"+again.HTTPAddr().String()+"/api/devices/attic", &attic)
		if attic.State["temperature"] != float64((3*24*6-1)%30) {
			t.Fatalf("attic %+v", attic)
		}
		node := connect(t, again.MQTTAddr().String(), "esphome_garden")
		publish(t, node, "homeassistant/binary_sensor/garden/state", 1, "OFF")
		eventually(t, "the sensor read after the restart", func() bool {
			var d hearth.DeviceState
			getJSON(t, "http://"+again.HTTPAddr().String()+"/api/devices/garden", &d)
			return d.State["occupancy"] == false
		})
	})
}
