package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
	"github.com/prometheus/client_golang/prometheus"

	"hearth/store"
)

// RetentionConfig is how much of the log the hub keeps, so that an SD card
// never fills (docs/install.md, Retention).
type RetentionConfig struct {
	// Events is how long every message, state change, command and
	// automation trace is kept as it was logged.
	Events Age `yaml:"events"`
	// History is how long the hourly min, max and mean of numeric
	// attributes, folded from the events before they go, are kept.
	History Age `yaml:"history"`
	// MaxSize bounds the log on disk: past it, the oldest events go
	// sooner than Events says, and then the oldest history.
	MaxSize Size `yaml:"max_size"`
}

// Retention defaults, for a Raspberry Pi with a 16 or 32 GB card. A house
// sending a message a second logs about 60 MB a day (a message and the
// state change it makes, about 350 bytes each), so a month of events is
// under the 2 GB bound; a busier house is held at 2 GB by the size, which
// takes the oldest days first. An hourly point of one attribute is about
// 50 bytes: a year of 200 attributes is about 90 MB.
const (
	defaultKeepEvents  = 30 * day
	defaultKeepHistory = 365 * day
	defaultMaxLogSize  = 2 * gigabyte
)

const (
	day      = 24 * time.Hour
	gigabyte = 1000 * 1000 * 1000
	// minMaxLogSize is the smallest size bound accepted: below it the
	// last hour of a busy house may not fit.
	minMaxLogSize = 16 * 1000 * 1000
	// pruneFirst is how long after start the first pass runs, once the
	// hub's start-up (the replay, devices reconnecting) has settled;
	// pruneEvery is the time between passes.
	pruneFirst = time.Minute
	pruneEvery = time.Hour
)

func defaultRetention() RetentionConfig {
	return RetentionConfig{Events: Age(defaultKeepEvents), History: Age(defaultKeepHistory), MaxSize: defaultMaxLogSize}
}

func (r RetentionConfig) validate() error {
	if r.Events != 0 && time.Duration(r.Events) < time.Hour {
		return fmt.Errorf("retention: events %s: keep at least 1h (0 keeps them until max_size needs room)", r.Events)
	}
	if r.MaxSize != 0 && r.MaxSize < minMaxLogSize {
		return fmt.Errorf("retention: max_size %s: at least 16MB (0: no bound)", r.MaxSize)
	}
	return nil
}

// on reports whether anything is ever pruned.
func (r RetentionConfig) on() bool { return r.Events != 0 || r.History != 0 || r.MaxSize != 0 }

// Age is a length of time in a config file or flag: "30d", "2w", "1y"
// (365 days) or a Go duration ("36h", "90m"); 0 turns the limit off.
type Age time.Duration

// UnmarshalText reads an Age.
func (a *Age) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "0" {
		*a = 0
		return nil
	}
	units := map[byte]time.Duration{'d': day, 'w': 7 * day, 'y': 365 * day}
	if n := len(s); n > 1 {
		if u, ok := units[s[n-1]]; ok {
			v, err := strconv.ParseUint(s[:n-1], 10, 32)
			if err != nil || v == 0 {
				return fmt.Errorf("%q: want a whole number of days (30d), weeks (2w) or years (1y), or a duration such as 36h", s)
			}
			if v > uint64(math.MaxInt64/u) {
				return fmt.Errorf("%q: longer than the hub counts (about 290 years); 0 keeps everything for ever", s)
			}
			*a = Age(time.Duration(v) * u)
			return nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("%q: want days (30d), weeks (2w), years (1y) or a duration such as 36h; 0 for no limit", s)
	}
	*a = Age(d)
	return nil
}

// UnmarshalYAML reads an Age from a config file, saying where a wrong one is.
func (a *Age) UnmarshalYAML(node ast.Node) error { return scalar(node, a) }

// MarshalText writes an Age as UnmarshalText reads it: whole years as
// "1y", whole days as "30d".
func (a Age) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

func (a Age) String() string {
	d := time.Duration(a)
	switch {
	case d == 0:
		return "0"
	case d%(365*day) == 0:
		return fmt.Sprintf("%dy", d/(365*day))
	case d%day == 0:
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}

// Size is a number of bytes in a config file or flag: "2GB", "500MB",
// "1.5GiB" or a plain number of bytes; 0 turns the limit off. KB, MB, GB and
// TB are powers of 1000, as cards are sold; KiB, MiB, GiB and TiB of 1024.
type Size int64

var sizeUnits = []struct {
	suffix string
	bytes  float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// UnmarshalText reads a Size.
func (s *Size) UnmarshalText(b []byte) error {
	text := strings.TrimSpace(string(b))
	num, mult := text, 1.0
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(strings.ToUpper(text), strings.ToUpper(u.suffix)); ok {
			num, mult = strings.TrimSpace(text[:len(n)]), u.bytes
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || v*mult > math.MaxInt64/2 {
		return fmt.Errorf("%q: want a size such as 2GB, 500MB or 1.5GiB; 0 for no limit", text)
	}
	*s = Size(v * mult)
	return nil
}

// UnmarshalYAML reads a Size from a config file, saying where a wrong one is.
func (s *Size) UnmarshalYAML(node ast.Node) error { return scalar(node, s) }

// MarshalText writes a Size in the largest decimal unit that divides it.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s Size) String() string {
	for _, u := range []struct {
		suffix string
		bytes  int64
	}{{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}} {
		if s != 0 && int64(s)%u.bytes == 0 {
			return fmt.Sprintf("%d%s", int64(s)/u.bytes, u.suffix)
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// scalar reads a YAML scalar through v's UnmarshalText; a mistake comes
// back with the value's token, so that the config error names its line
// and column (positioned).
func scalar(node ast.Node, v interface{ UnmarshalText([]byte) error }) error {
	tok := node.GetToken()
	if err := v.UnmarshalText([]byte(tok.Value)); err != nil {
		return &valueError{tok: tok, msg: err.Error()}
	}
	return nil
}

// valueError is a config value's mistake and where it is.
type valueError struct {
	tok *token.Token
	msg string
}

func (e *valueError) Error() string          { return e.msg }
func (e *valueError) GetToken() *token.Token { return e.tok }
func (e *valueError) GetMessage() string     { return e.msg }

// pruner runs the store's retention once shortly after start and then
// every hour, in a goroutine it owns; Close stops it and waits.
type pruner struct {
	store  *store.Store
	policy store.Retention
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
}

// startPruner starts pruning st by cfg. keepTopics are the topic prefixes
// whose newest message per topic start-up reads back.
func startPruner(st *store.Store, cfg RetentionConfig, keepTopics []string, log *slog.Logger) *pruner {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pruner{
		store: st,
		policy: store.Retention{
			Events: time.Duration(cfg.Events), History: time.Duration(cfg.History),
			MaxSize: int64(cfg.MaxSize), KeepTopics: keepTopics,
		},
		log:    log.With("component", "retention"),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go p.run(ctx)
	return p
}

func (p *pruner) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTimer(pruneFirst)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.once(ctx, time.Now())
		t.Reset(pruneEvery)
	}
}

// once runs one pass and says what it did. A failed pass is logged and
// tried again at the next: the hub runs on, and the log only grows
// meanwhile.
func (p *pruner) once(ctx context.Context, now time.Time) store.PruneReport {
	rep, err := p.store.Prune(ctx, p.policy, now)
	switch {
	case errors.Is(err, context.Canceled):
		return rep
	case err != nil:
		p.log.Error("pruning the log failed; the next pass tries again", "in", pruneEvery, "err", err)
	}
	attrs := []any{
		"events_by_age", rep.EventsByAge, "events_by_size", rep.EventsBySize, "kept", rep.Kept,
		"history_folded", rep.Folded, "history_rows_by_age", rep.HistoryByAge, "history_rows_by_size", rep.HistoryBySize,
		"freed_bytes", rep.FreedBytes, "size_bytes", rep.Size,
		"took", rep.Took.Round(time.Millisecond), "longest_hold", rep.LongestHold.Round(time.Microsecond),
	}
	if rep.Deleted() || rep.Folded > 0 || rep.FreedBytes > 0 {
		p.log.Info("log pruned", attrs...)
	} else {
		p.log.Debug("log pruned", attrs...)
	}
	if rep.OverLimit {
		p.log.Warn("the log is over retention.max_size with nothing left it may delete: raise max_size or give the disk room",
			"size_bytes", rep.Size, "max_size", Size(p.policy.MaxSize).String())
	}
	return rep
}

// Close stops the pruner, ending a pass between two of its transactions,
// and waits for it.
func (p *pruner) Close() {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
}

// configPrefixes are the literal prefixes of the topic filters whose
// retained configuration the device adapters read (Home Assistant
// discovery, Zigbee2MQTT's device list): start-up reads the newest message
// of each topic under them back from the log, so retention keeps those.
func configPrefixes(filters []string) []string {
	var out []string
	for _, f := range filters {
		// Home Assistant's two discovery filters share one prefix.
		if p := literalPrefix(f); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// retentionCollector serves what retention did, from the store's Stats.
type retentionCollector struct{ a *App }

var (
	descPrunedEvents  = prometheus.NewDesc("hearth_log_pruned_events_total", "Events retention deleted since the hub started, by reason (age, size).", []string{"reason"}, nil)
	descPrunedHistory = prometheus.NewDesc("hearth_log_pruned_history_rows_total", "Hourly history rows retention deleted since the hub started, by reason (age, size).", []string{"reason"}, nil)
	descFolded        = prometheus.NewDesc("hearth_log_history_folded_values_total", "Values of state events folded into the hourly history since the hub started.", nil, nil)
	descHistoryRows   = prometheus.NewDesc("hearth_log_history_rows", "Hourly rows in the downsampled history.", nil, nil)
	descPageBytes     = prometheus.NewDesc("hearth_log_page_bytes", "Bytes of the database's pages, used or free (free pages are reused for new events).", []string{"state"}, nil)
	descMaxBytes      = prometheus.NewDesc("hearth_log_max_bytes", "The log's size bound (retention.max_size), 0 when unbounded.", nil, nil)
	descPruneLast     = prometheus.NewDesc("hearth_log_prune_last_timestamp_seconds", "When the last retention pass ended (Unix time), 0 before the first.", nil, nil)
	descPruneTook     = prometheus.NewDesc("hearth_log_prune_duration_seconds", "How long the last retention pass took.", nil, nil)
	descPruneHold     = prometheus.NewDesc("hearth_log_prune_hold_seconds", "The longest one transaction of the last retention pass held the log's writer.", nil, nil)
)

// Describe sends the descriptions of every metric.
func (c *retentionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPrunedEvents, descPrunedHistory, descFolded, descHistoryRows,
		descPageBytes, descMaxBytes, descPruneLast, descPruneTook, descPruneHold} {
		ch <- d
	}
}

// Collect reads the current values.
func (c *retentionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.a.store.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descPrunedEvents, err)
		return
	}
	p := st.Pruned
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	counter(descPrunedEvents, float64(p.EventsByAge), "age")
	counter(descPrunedEvents, float64(p.EventsBySize), "size")
	counter(descPrunedHistory, float64(p.HistoryByAge), "age")
	counter(descPrunedHistory, float64(p.HistoryBySize), "size")
	counter(descFolded, float64(p.Folded))
	gauge(descHistoryRows, float64(st.HistoryRows))
	gauge(descPageBytes, float64(st.UsedBytes), "used")
	gauge(descPageBytes, float64(st.FreeBytes), "free")
	var limit int64
	if c.a.pruner != nil {
		limit = c.a.pruner.policy.MaxSize
	}
	gauge(descMaxBytes, float64(limit))
	var last float64
	if !p.Last.IsZero() {
		last = float64(p.Last.UnixNano()) / 1e9
	}
	gauge(descPruneLast, last)
	gauge(descPruneTook, p.LastTook.Seconds())
	gauge(descPruneHold, p.LastLongestHold.Seconds())
}
