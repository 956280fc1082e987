package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"hearth/devices"
)

// hubSupports reports whether the hub's --help lists flag (without dashes).
func hubSupports(bin, flag string) bool {
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	return strings.Contains(string(out), "-"+flag+" ") || strings.Contains(string(out), "-"+flag+"\n")
}

// stormLine is what the hub logs when its storm guard pauses an automation
// (more than 60 runs in 10 s by default): past 12 events per second per
// sensor the benchmark measures the guard, not the hub's speed.
const stormLine = "storm stopped"

// writeHubConfig writes, into dir, the config a house of n devices of
// each kind needs, and returns the arguments that give it to every hub of
// the run: the hub keeps devices.DefaultMaxDevices unless told otherwise,
// and past it a sensor makes no device, so its automation never runs. It
// returns none when the default holds (an older hub binary, -hub-bin, may
// not know the setting).
func writeHubConfig(dir string, n int) ([]string, error) {
	need := 3*n + 16 // sensors, lights, lux sensors, and the hub's own
	if need <= devices.DefaultMaxDevices {
		return nil, nil
	}
	path := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf("max_devices: %d\n", need)), 0o600); err != nil {
		return nil, fmt.Errorf("hub config: %w", err)
	}
	return []string{"--config", path}, nil
}

// hubProc is a running hub.
type hubProc struct {
	*child
	mqttAddr, httpAddr string
	http               *http.Client // without keep-alive: no idle connection outlives the hub
	// ready is the time from exec to the second listening line.
	ready time.Duration
}

// startHub runs the hub binary on data with the given automations file
// (none when empty), log level warn, both listeners on free ports of
// 127.0.0.1, and the extra arguments, and waits until it prints where it
// listens.
func startHub(ctx context.Context, bin, data, automations string, extra ...string) (*hubProc, error) {
	args := []string{"--mqtt", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", data, "--log-level", "warn"}
	if automations != "" {
		args = append(args, "--automations", automations)
	}
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	// The hub's output goes to hub.log beside its data folder (kept with -keep).
	logFile, err := os.OpenFile(data+".log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("hub log: %w", err)
	}
	c, err := startChild("hub", cmd, logFile, stormLine)
	if err != nil {
		logFile.Close()
		return nil, err
	}
	go func() { <-c.done; logFile.Close() }()
	h := &hubProc{child: c, http: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	// The hub prints its MQTT line (listening, or "mqtt client of" an
	// external broker) and then its HTTP line once everything is up.
	line, at, err := c.waitLine(ctx, "http listening on http://", 120*time.Second)
	if err != nil {
		_ = c.stop(5 * time.Second)
		return nil, err
	}
	h.httpAddr = strings.TrimSpace(line[strings.Index(line, "http://")+len("http://"):])
	h.ready = at.Sub(c.started)
	const mqttLine = "mqtt listening on "
	if line, _, err := c.waitLine(ctx, mqttLine, 0); err == nil {
		h.mqttAddr = strings.TrimSpace(line[strings.Index(line, mqttLine)+len(mqttLine):])
	}
	return h, nil
}

// health is the hub's /healthz answer.
type health struct {
	NextSeq    uint64 `json:"next_seq"`
	DurableSeq uint64 `json:"durable_seq"`
}

func (h *hubProc) health(ctx context.Context) (health, error) {
	var out health
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+h.httpAddr+"/healthz", nil)
	if err != nil {
		return out, err
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return out, fmt.Errorf("healthz: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("healthz: %w", err)
	}
	return out, nil
}

// settle waits until every event the hub has numbered is durable.
func (h *hubProc) settle(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		hl, err := h.health(ctx)
		if err != nil {
			return err
		}
		if hl.DurableSeq+1 >= hl.NextSeq {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("hub log still behind after 60s: durable %d, next %d", hl.DurableSeq, hl.NextSeq)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// hubTarget is the hub with its embedded broker.
type hubTarget struct {
	h    *hubProc
	data string
	prof *profiler // nil unless -profile: the hub runs with --pprof
}

// newHubTarget starts the hub on a fresh data folder under dir. With a
// profile folder, the hub serves pprof (--pprof) on a free port and the
// profiles go to that folder. args are the run's (writeHubConfig).
func newHubTarget(ctx context.Context, bin, dir, automations, profileDir string, args ...string) (*hubTarget, error) {
	data := filepath.Join(dir, "hub-data")
	extra := slices.Clone(args)
	var prof *profiler
	if profileDir != "" {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(profileDir, 0o755); err != nil {
			return nil, fmt.Errorf("profile folder: %w", err)
		}
		prof = &profiler{addr: addrPort(port), dir: profileDir, http: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
		extra = append(extra, "--pprof", prof.addr)
	}
	h, err := startHub(ctx, bin, data, automations, extra...)
	if err != nil {
		return nil, err
	}
	if h.mqttAddr == "" {
		_ = h.stop(10 * time.Second)
		return nil, fmt.Errorf("the hub did not say where its MQTT broker listens:\n%s", h.output())
	}
	return &hubTarget{h: h, data: data, prof: prof}, nil
}

func (t *hubTarget) Name() string                     { return "hub" }
func (t *hubTarget) Addr() string                     { return t.h.mqttAddr }
func (t *hubTarget) CommandTopic(i int) string        { return lightTopic(i) }
func (t *hubTarget) Pids() map[string]int             { return map[string]int{"hub": t.h.pid()} }
func (t *hubTarget) Settle(ctx context.Context) error { return t.h.settle(ctx) }
func (t *hubTarget) Close() error                     { return t.h.stop(30 * time.Second) }

func (t *hubTarget) Info(ctx context.Context) map[string]any { return t.h.info(ctx) }

// info returns the log's length and, from /metrics when the hub serves it,
// the Go runtime's view of its memory: what the heap holds against what the
// process takes.
func (h *hubProc) info(ctx context.Context) map[string]any {
	info := map[string]any{}
	if hl, err := h.health(ctx); err == nil {
		info["log_events"] = hl.NextSeq - 1
	}
	metrics := map[string]string{
		"go_memstats_heap_inuse_bytes":    "heap_inuse_mb",
		"go_memstats_heap_idle_bytes":     "heap_idle_mb",
		"go_memstats_heap_released_bytes": "heap_released_mb",
		"go_memstats_stack_inuse_bytes":   "stack_inuse_mb",
		"go_memstats_sys_bytes":           "go_sys_mb",
		"go_memstats_next_gc_bytes":       "next_gc_mb",
		"go_goroutines":                   "goroutines",
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+h.httpAddr+"/metrics", nil)
	if err != nil {
		return info
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return info
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return info
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		key, want := metrics[name]
		if !ok || !want {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		if strings.HasSuffix(key, "_mb") {
			v /= 1 << 20
		}
		info[key] = v
	}
	return info
}

// problems counts what went wrong so far that a run should mention.
func (t *hubTarget) problems() map[string]int64 {
	return map[string]int64{"automations paused by the hub's storm guard": t.h.watched(stormLine)}
}
