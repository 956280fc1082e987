package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is one benchmark run: the machine, the command line and what each
// target did. Its JSON is what -compare reads back.
type Report struct {
	Started  time.Time      `json:"started"`
	Seconds  float64        `json:"seconds"`
	Command  string         `json:"command"`
	Options  options        `json:"options"`
	Machine  Machine        `json:"machine"`
	Targets  []TargetResult `json:"targets"`
	LoadEnd  string         `json:"loadavg_end"`
	finished time.Time
}

// Machine describes where the figures were taken.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	MemoryMB  int64  `json:"memory_mb"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	Mosquitto string `json:"mosquitto"`
	Node      string `json:"node"`
	LoadStart string `json:"loadavg_start"`
	// HubHelp says whether the hub has --broker (external-broker mode).
	HubHelp bool `json:"hub_has_broker_flag"`
	// Source is the commit the hub was built from, and how many files of
	// the working tree differed from it.
	Source string `json:"source"`
}

func newReport(o options, args []string) *Report {
	return &Report{
		Started: time.Now(),
		Command: strings.TrimSpace("go run ./scripts/bench " + strings.Join(args, " ")),
		Options: o,
		Machine: machine(),
	}
}

func (r *Report) finish() {
	r.finished = time.Now()
	r.Seconds = r.finished.Sub(r.Started).Seconds()
	r.LoadEnd = loadavg()
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), LoadStart: loadavg()}
	_ = scanKV("/proc/cpuinfo", func(k, v string) {
		if strings.TrimSpace(k) == "model name" && m.CPU == "" {
			m.CPU = v
		}
	})
	_ = scanKV("/proc/meminfo", func(k, v string) {
		if k == "MemTotal" {
			m.MemoryMB = kib(v) >> 20
		}
	})
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, _ := exec.Command(mosquittoBin, "-h").CombinedOutput(); len(out) > 0 {
		m.Mosquitto = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	if out, err := exec.Command("node", "--version").Output(); err == nil {
		m.Node = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Source = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain").Output(); err == nil {
			if n := strings.Count(string(st), "\n"); n > 0 {
				m.Source += fmt.Sprintf(" + %d changed files", n)
			}
		}
	}
	return m
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// printReport writes the tables.
func printReport(w io.Writer, r *Report) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	fmt.Fprintf(bw, "\n%s\n%s, %d cores, %d MB, Linux %s, %s, load %s → %s\n", r.Command, r.Machine.CPU, r.Machine.Cores, r.Machine.MemoryMB, r.Machine.Kernel, r.Machine.Go, r.Machine.LoadStart, r.LoadEnd)
	fmt.Fprintf(bw, "hub source %s; %d automations, %d devices of each kind over %d+%d connections; latency = sensor publish → light receives its command\n\n",
		r.Machine.Source, r.Options.Automations, r.Options.Devices, connections(r.Options), connections(r.Options))

	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tqos\trate/s\tgot/s\tsent\tlost\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\t≥40ms\tpuback p50\tcpu %\tcpu µs/ev\trss MB\tB/event\tdisk B/ev\tgen cpu %\tother cpu %\t")
	for _, t := range r.Targets {
		switch {
		case t.Skipped != "":
			fmt.Fprintf(tw, "%s\tskipped: %s\t\n", t.Name, t.Skipped)
			continue
		case t.Error != "" && len(t.Summary) == 0:
			fmt.Fprintf(tw, "%s\tfailed (below)\t\n", t.Name)
			continue
		}
		for _, x := range t.Summary {
			writeRow(tw, x)
		}
	}
	tw.Flush()

	fmt.Fprintln(bw)
	for _, t := range r.Targets {
		for _, s := range t.Sustainable {
			fmt.Fprintf(bw, "%-14s sustainable QoS %d: %.0f events/s (next step: %s)\n", t.Name, s.QoS, s.Rate, s.Limit)
		}
	}
	for _, t := range r.Targets {
		if len(t.Memory) == 0 {
			continue
		}
		var parts []string
		for _, m := range t.Memory {
			parts = append(parts, fmt.Sprintf("%s %.1f MB (peak %.1f)", m.Name, m.RSS, m.HWM))
		}
		fmt.Fprintf(bw, "%-14s memory at the end: %s", t.Name, strings.Join(parts, ", "))
		if n, ok := t.Info["log_events"]; ok {
			fmt.Fprintf(bw, "; log %v events", n)
		}
		if h, ok := t.Info["heap_inuse_mb"].(float64); ok {
			fmt.Fprintf(bw, "; Go heap in use %.1f MB, stacks %.1f MB, runtime total %.1f MB, %v goroutines",
				h, t.Info["stack_inuse_mb"], t.Info["go_sys_mb"], t.Info["goroutines"])
		}
		fmt.Fprintln(bw)
	}
	for _, t := range r.Targets {
		if s := t.Startup; s != nil {
			fmt.Fprintf(bw, "%-14s after filling the log to %d events: RSS %.1f MB (peak %.1f)\n", t.Name, s.LogEvents, s.AfterFill.RSS, s.AfterFill.HWM)
			fmt.Fprintf(bw, "%-14s start-up on a %d-event log (%.0f MB): %.0f ms with the automations, %.0f ms without (medians of %d); RSS after start %.1f MB\n",
				t.Name, s.LogEvents, float64(s.LogBytes)/(1<<20), s.MedianWith, s.MedianWithout, len(s.WithAutomations), s.RSSAfterStart)
		}
		if s := t.Startup; s != nil {
			for _, p := range s.Problems {
				fmt.Fprintf(bw, "%-14s %s\n", t.Name, p)
			}
		}
		if t.Error != "" {
			fmt.Fprintf(bw, "%-14s error: %s\n", t.Name, t.Error)
		}
	}
}

func writeRow(tw io.Writer, x Run) {
	ack := "-"
	if x.PubAck != nil {
		ack = fmt.Sprintf("%.3f", x.PubAck.P50)
	}
	bpe, disk := "-", "-"
	if x.BytesPerEvent >= 0 {
		bpe = fmt.Sprintf("%.0f", x.BytesPerEvent)
	}
	if x.DiskPerEvent > 0 {
		disk = fmt.Sprintf("%.0f", x.DiskPerEvent)
	}
	fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.1f\t%d\t%s\t%.0f\t%.0f\t%.1f\t%s\t%s\t%.0f\t%.0f\t\n",
		x.Target, x.QoS, x.Rate, x.AchievedRate, x.Sent, x.Lost,
		x.Latency.P50, x.Latency.P90, x.Latency.P99, x.Latency.P999, x.Latency.Max, x.Latency.Over40,
		ack, x.CPU, x.CPUPerEvent, x.RSS, bpe, disk, x.Generator.CPU, x.OtherCPU)
}

// saveReport writes the JSON and the chart, and prints the comparison with
// an earlier run, as the options ask.
func saveReport(o options, r *Report, w io.Writer) error {
	if o.JSON != "" {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if err := writeFile(o.JSON, append(b, '\n')); err != nil {
			return err
		}
	}
	if o.SVG != "" {
		if err := writeFile(o.SVG, chart(r)); err != nil {
			return err
		}
	}
	if o.Compare != "" {
		old, err := readReport(o.Compare)
		if err != nil {
			return err
		}
		compare(w, old, r)
	}
	return nil
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func readReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("compare %s: %w", path, err)
	}
	return &r, nil
}

// compare prints, for each target, QoS and rate found in both reports, the
// old and new p50 and p99 and the change, then the sustainable rates.
func compare(w io.Writer, old, cur *Report) {
	type key struct {
		target string
		qos    byte
		rate   float64
	}
	prev := map[key]Run{}
	prevSus := map[key]float64{}
	for _, t := range old.Targets {
		for _, x := range t.Summary {
			prev[key{t.Name, x.QoS, x.Rate}] = x
		}
		for _, s := range t.Sustainable {
			prevSus[key{t.Name, s.QoS, 0}] = s.Rate
		}
	}
	fmt.Fprintf(w, "\ncompared with %s (%s)\n", old.Started.Format(time.DateTime), old.Command)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tqos\trate/s\tp50 old\tp50 new\tΔ\tp99 old\tp99 new\tΔ\tlost old\tlost new\t")
	for _, t := range cur.Targets {
		for _, x := range t.Summary {
			p, ok := prev[key{t.Name, x.QoS, x.Rate}]
			if !ok {
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.3f\t%.3f\t%s\t%.3f\t%.3f\t%s\t%d\t%d\t\n", t.Name, x.QoS, x.Rate,
				p.Latency.P50, x.Latency.P50, delta(p.Latency.P50, x.Latency.P50),
				p.Latency.P99, x.Latency.P99, delta(p.Latency.P99, x.Latency.P99), p.Lost, x.Lost)
		}
		for _, s := range t.Sustainable {
			if p, ok := prevSus[key{t.Name, s.QoS, 0}]; ok {
				fmt.Fprintf(tw, "%s\t%d\tsustainable\t%.0f\t%.0f\t%s\t\n", t.Name, s.QoS, p, s.Rate, delta(p, s.Rate))
			}
		}
	}
	tw.Flush()
}

func delta(old, cur float64) string {
	if old == 0 {
		return "-"
	}
	return fmt.Sprintf("%+.0f%%", 100*(cur-old)/old)
}

// connections is the number of MQTT connections per side.
func connections(o options) int {
	pairs := min(o.Devices, o.Automations)
	if o.Clients <= 0 || o.Clients > pairs {
		return pairs
	}
	return o.Clients
}
