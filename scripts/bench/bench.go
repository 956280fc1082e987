package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"hearth/internal/hubbin"
)

// TargetResult is what the benchmark found for one target.
type TargetResult struct {
	Name string `json:"name"`
	// Runs are the -rate runs, every repeat; Summary takes their medians.
	Runs        []Run         `json:"runs"`
	Summary     []Run         `json:"summary"`
	Sustainable []Sustainable `json:"sustainable,omitempty"`
	// Memory is each process's resident set at the end (after every run).
	Memory  []ProcUsage    `json:"memory"`
	Info    map[string]any `json:"info,omitempty"`
	Startup *Startup       `json:"startup,omitempty"`
	Error   string         `json:"error,omitempty"`
	Skipped string         `json:"skipped,omitempty"`
}

// benchmark runs everything the options ask for and returns the report,
// with an error that joins the failures of single targets (the report then
// holds what the others found).
func benchmark(ctx context.Context, o options, args []string, stderr io.Writer) (*Report, error) {
	rep := newReport(o, args)
	tmp, err := os.MkdirTemp("", "hearth-bench-")
	if err != nil {
		return nil, err
	}
	if o.Keep {
		fmt.Fprintln(stderr, "bench: keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	say := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	logRun := func(r Run) {
		say("%-14s %-5s qos %d %7.0f/s: sent %d lost %d p50 %.3f p99 %.3f max %.1f ms, cpu %.0f%%, gen %.0f%%, others %.0f%%, disconnects %d %s",
			r.Target, r.Kind, r.QoS, r.Rate, r.Sent, r.Lost, r.Latency.P50, r.Latency.P99, r.Latency.Max, r.CPU, r.Generator.CPU, r.OtherCPU, r.Disconnects, r.Problem)
	}

	autoFile := filepath.Join(tmp, "automations.yaml")
	if err := writeAutomations(autoFile, o.Automations); err != nil {
		return rep, err
	}
	hubArgs, err := writeHubConfig(tmp, o.Devices)
	if err != nil {
		return rep, err
	}
	bin := o.HubBin
	if bin == "" && (o.Hub || slices.Contains(o.Peers, peerHubExternal)) {
		say("building the hub")
		if bin, err = hubbin.Build(ctx, tmp); err != nil {
			return rep, err
		}
	}
	if bin != "" {
		rep.Machine.HubHelp = hubSupports(bin, "broker")
		if o.Profile != "" && o.Hub && !hubSupports(bin, "pprof") {
			return rep, fmt.Errorf("-profile: %s has no --pprof flag (an older build?)", bin)
		}
	}

	var errs []error
	if o.Hub {
		res, err := benchHub(ctx, o, bin, tmp, autoFile, hubArgs, say, logRun)
		rep.Targets = append(rep.Targets, res)
		errs = append(errs, err)
	}
	for _, p := range o.Peers {
		if ctx.Err() != nil {
			break
		}
		say("starting %s", p)
		var t target
		switch p {
		case peerMosquittoEcho:
			t, err = newEchoTarget(ctx, tmp)
		case peerNodeRED:
			t, err = newNodeREDTarget(ctx, tmp, o.NodeREDPrefix, o.Automations)
		case peerHubExternal:
			t, err = newExternalTarget(ctx, bin, tmp, autoFile, hubArgs...)
		}
		if errors.Is(err, errUnsupported) {
			say("skipping %s: %v", p, err)
			rep.Targets = append(rep.Targets, TargetResult{Name: p, Skipped: err.Error()})
			continue
		}
		if err != nil {
			rep.Targets = append(rep.Targets, TargetResult{Name: p, Error: err.Error()})
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		res := TargetResult{Name: p}
		l, err := startLoad(ctx, o, t, say)
		if err == nil {
			runLoad(ctx, o, t, l, &res, logRun)
			l.close()
		}
		if cerr := t.Close(); cerr != nil {
			say("%s did not stop cleanly: %v", p, firstLine(cerr.Error()))
			err = errors.Join(err, fmt.Errorf("stop: %w", cerr))
		}
		if err != nil {
			res.Error = err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
		}
		rep.Targets = append(rep.Targets, res)
	}
	rep.finish()
	return rep, errors.Join(append(errs, ctx.Err())...)
}

// benchHub runs the load against the hub, fills its log when asked, stops
// it, and times start-ups on that log.
func benchHub(ctx context.Context, o options, bin, tmp, autoFile string, hubArgs []string, say func(string, ...any), logRun func(Run)) (TargetResult, error) {
	res := TargetResult{Name: "hub"}
	say("starting the hub with %d automations", o.Automations)
	if o.HubData != "" {
		if err := copyFolder(o.HubData, filepath.Join(tmp, "hub-data")); err != nil {
			res.Error = err.Error()
			return res, fmt.Errorf("hub: %w", err)
		}
	}
	t, err := newHubTarget(ctx, bin, tmp, autoFile, o.Profile, hubArgs...)
	if err != nil {
		res.Error = err.Error()
		return res, fmt.Errorf("hub: %w", err)
	}
	l, err := startLoad(ctx, o, t, say)
	if err == nil {
		runLoad(ctx, o, t, l, &res, logRun)
		if o.StartupEvents > 0 && ctx.Err() == nil {
			res.Startup = &Startup{}
			rate := o.FillRate
			if rate == 0 {
				rate = 2000
				for _, s := range res.Sustainable {
					if s.QoS == 0 && s.Rate > 0 {
						rate = 0.8 * s.Rate
					}
				}
			}
			say("filling the log to %d events at %.0f sensor events/s", o.StartupEvents, rate)
			res.Startup.Fill, err = fillLog(ctx, o, t, l, uint64(o.StartupEvents), rate, logRun)
			if err == nil {
				err = t.Settle(ctx)
			}
			if p, perr := readProc(t.h.pid()); perr == nil {
				res.Startup.AfterFill = ProcUsage{Name: "hub", RSS: mb(p.rss), HWM: mb(p.hwm), WriteBytes: -1}
			}
			res.Info = t.Info(ctx)
			if n, ok := res.Info["log_events"].(uint64); ok {
				res.Startup.LogEvents = n
			}
		}
		l.close()
	}
	// A hub that fails to shut down cleanly is reported, but its log is
	// still there to start on.
	if cerr := t.Close(); cerr != nil {
		say("the hub did not stop cleanly: %v", firstLine(cerr.Error()))
		err = errors.Join(err, fmt.Errorf("stop: %w", cerr))
	}
	if res.Startup != nil && ctx.Err() == nil {
		say("timing %d start-ups on the %d-event log", 2*o.StartupRepeat, res.Startup.LogEvents)
		err = errors.Join(err, timeStartups(ctx, bin, t.data, autoFile, o.StartupRepeat, res.Startup, hubArgs...))
	}
	if err != nil {
		res.Error = err.Error()
		return res, fmt.Errorf("hub: %w", err)
	}
	return res, nil
}

// startLoad connects the generator to t and proves every path answers.
func startLoad(ctx context.Context, o options, t target, say func(string, ...any)) (*load, error) {
	pairs, clients := min(o.Devices, o.Automations), connections(o)
	say("connecting %d sensors and %d lights over %d+%d clients to %s", pairs, pairs, clients, clients, t.Name())
	l, err := connectLoad(ctx, loadConfig{
		Addr: t.Addr(), Pairs: pairs, Lux: o.Devices, Clients: clients,
		Publishers: o.Publishers, CommandTopic: t.CommandTopic,
	})
	if err != nil {
		return nil, err
	}
	if err := l.probe(ctx, 3*time.Minute); err != nil {
		l.close()
		return nil, fmt.Errorf("probe: %w", err)
	}
	return l, nil
}

// runLoad makes the -rate runs and, with -step, the rate search, and
// records the target's memory at the end.
func runLoad(ctx context.Context, o options, t target, l *load, res *TargetResult, logRun func(Run)) {
	for i := 0; i < o.Repeat && ctx.Err() == nil; i++ {
		for _, q := range o.QoS {
			for _, rate := range o.Rates {
				if ctx.Err() != nil {
					break
				}
				spec := runSpec{kind: "fixed", rate: rate, qos: q, duration: o.Duration}
				r := measureProfiled(ctx, o, t, l, spec, i)
				res.Runs = append(res.Runs, r)
				logRun(r)
			}
		}
	}
	res.Summary = medianRuns(res.Runs)
	if o.Step {
		for _, q := range o.QoS {
			if ctx.Err() != nil {
				break
			}
			res.Sustainable = append(res.Sustainable, findSustainable(ctx, o, t, l, q, logRun))
		}
	}
	after := sampleAll(t.Pids())
	for _, name := range sortedKeys(t.Pids()) {
		s := after[name]
		res.Memory = append(res.Memory, ProcUsage{Name: name, RSS: mb(s.rss), HWM: mb(s.hwm), WriteBytes: -1})
	}
	res.Info = t.Info(ctx)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// measureProfiled is measure, with a CPU profile of the run and snapshots
// of the other profiles after it when the target is a profiling hub.
func measureProfiled(ctx context.Context, o options, t target, l *load, spec runSpec, repeat int) Run {
	ht, ok := t.(*hubTarget)
	if !ok || ht.prof == nil {
		return measure(ctx, o, t, l, spec)
	}
	name := fmt.Sprintf("%s-qos%d-%.0f-%d", t.Name(), spec.qos, spec.rate, repeat+1)
	done := make(chan error, 1)
	go func() { done <- ht.prof.cpu(ctx, name, o.Warmup+spec.duration) }()
	r := measure(ctx, o, t, l, spec)
	err := <-done
	if err == nil {
		err = ht.prof.snapshots(ctx, name)
	}
	if err != nil {
		r.Problem = strings.TrimSpace(r.Problem + " profile: " + err.Error())
	}
	return r
}

// copyFolder copies the regular files of src into a new folder dst.
func copyFolder(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
	}
	return nil
}
