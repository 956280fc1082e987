// Command soak runs the hub for a long time under a steady, lifelike load
// and watches for what grows: it builds a release hub, starts it on a fresh
// data folder with automations for a simulated house (`hub sim` at a steady
// rate), times motion → light over MQTT with a probe of its own, and every
// minute prints the hub's memory, goroutines, log size and the probe's
// latency. At the end it fits a line to each figure and exits non-zero when
// one grew without bound (the rule is in verdict.go and docs/reliability.md).
//
//	go run ./scripts/soak -duration 30m -rate 20
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"hearth/internal/hubbin"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command line.
type options struct {
	duration, every, warmup time.Duration
	probeEvery, probeWait   time.Duration
	hold                    time.Duration
	rate                    float64
	devices                 int
	qos                     int
	bin                     string
	keep                    bool
}

// sample is one line of the table.
type sample struct {
	Elapsed    time.Duration
	RSS        int64
	Heap       int64 // bytes of heap in use
	Goroutines int
	LogBytes   int64 // the data folder on disk
	LogEvents  int64
	P50, P99   time.Duration
	Probes     int
	Lost       int
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 30*time.Minute, "how `long` to run")
	fs.DurationVar(&o.every, "every", time.Minute, "print a line this `often`")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Minute, "ignore the lines of this first `while` in the verdict")
	fs.Float64Var(&o.rate, "rate", 20, "messages per `second` from the simulated sensors together")
	fs.IntVar(&o.devices, "devices", 50, "simulated `devices` (motion sensors, lights, thermometers, contacts, light sensors in turn)")
	fs.DurationVar(&o.hold, "hold", 10*time.Second, "how `long` a light stays on after motion")
	fs.DurationVar(&o.probeEvery, "probe", time.Second, "the probe reports motion on or off this `often`")
	fs.DurationVar(&o.probeWait, "probe-timeout", 5*time.Second, "a probe whose command takes longer than this `long` is lost")
	fs.IntVar(&o.qos, "qos", 0, "QoS of the probe's motion reports (0 or 1)")
	fs.StringVar(&o.bin, "hub", "", "run this hub `binary` instead of building one")
	fs.BoolVar(&o.keep, "keep", false, "keep the data folder and the logs")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.duration <= 0 || o.every <= 0 || o.rate <= 0 || o.devices < 2 || (o.qos != 0 && o.qos != 1) || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	samples, p, err := soak(ctx, o, stdout, stderr)
	if p != nil {
		// What was measured is worth seeing, also when the run ended badly.
		if !summary(stdout, o, samples, p) {
			err = errors.Join(err, errors.New("something grew or got lost"))
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return 1
	}
	return 0
}

// soak starts everything, samples until the duration is over (or ctx ends),
// and stops everything.
func soak(ctx context.Context, o options, stdout, stderr io.Writer) ([]sample, *probe, error) {
	dir, err := os.MkdirTemp("", "hearth-soak-")
	if err != nil {
		return nil, nil, err
	}
	if o.keep {
		fmt.Fprintln(stderr, "soak: data and logs in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin := o.bin
	if bin == "" {
		fmt.Fprintln(stderr, "soak: building the hub")
		if bin, err = hubbin.Build(ctx, dir); err != nil {
			return nil, nil, err
		}
	}
	autoPath := filepath.Join(dir, "soak.yaml")
	if err := os.WriteFile(autoPath, []byte(automationsYAML(o.devices, o.hold)), 0o600); err != nil {
		return nil, nil, err
	}
	h, err := startHub(ctx, bin, dir, autoPath)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err := h.stop(30 * time.Second); err != nil {
			fmt.Fprintln(stderr, "soak:", err)
		}
	}()
	simCmd := exec.Command(bin, "sim", "--broker", h.mqttAddr, "--devices", strconv.Itoa(o.devices),
		"--rate", strconv.FormatFloat(o.rate, 'f', -1, 64), "--seed", "1")
	simProc, err := start("sim", simCmd, filepath.Join(dir, "sim.log"), nil)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err := simProc.stop(10 * time.Second); err != nil {
			fmt.Fprintln(stderr, "soak:", err)
		}
	}()
	p, err := newProbe(ctx, h.mqttAddr, "home", byte(o.qos), o.probeWait)
	if err != nil {
		return nil, nil, err
	}
	defer p.close()
	runCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		p.run(runCtx, o.probeEvery)
	}()
	defer func() { cancel(); <-probeDone }()

	fmt.Fprintf(stdout, "soak: hub pid %d, mqtt %s, %d devices at %g msg/s, probe every %v, %v\n",
		h.cmd.Process.Pid, h.mqttAddr, o.devices, o.rate, o.probeEvery, o.duration)
	fmt.Fprintf(stdout, "%8s %8s %8s %6s %9s %9s %8s %8s %6s %5s\n",
		"elapsed", "rss_mb", "heap_mb", "gorout", "log_mb", "events", "p50_ms", "p99_ms", "probes", "lost")
	begin := time.Now()
	tick := time.NewTicker(o.every)
	defer tick.Stop()
	var samples []sample
	for {
		select {
		case <-runCtx.Done():
			if ctx.Err() != nil {
				fmt.Fprintln(stderr, "soak: interrupted; judging what was measured")
				return samples, p, nil
			}
			// The last stretch, when the duration is not a whole number of lines.
			if len(samples) == 0 || time.Since(begin)-samples[len(samples)-1].Elapsed > o.every/2 {
				if s, err := take(ctx, h, p, time.Since(begin)); err == nil {
					samples = append(samples, s)
					printSample(stdout, s)
				}
			}
			return samples, p, nil
		case <-h.done:
			return samples, p, fmt.Errorf("the hub ended during the run (%v): see its log", h.err)
		case <-simProc.done:
			return samples, p, fmt.Errorf("the simulated house ended during the run (%v)", simProc.err)
		case <-tick.C:
		}
		s, err := take(runCtx, h, p, time.Since(begin))
		if err != nil {
			if runCtx.Err() != nil {
				continue
			}
			return samples, p, err
		}
		samples = append(samples, s)
		printSample(stdout, s)
	}
}

// printSample prints one line of the table.
func printSample(w io.Writer, s sample) {
	fmt.Fprintf(w, "%8s %8.1f %8.1f %6d %9.2f %9d %8.2f %8.2f %6d %5d\n",
		s.Elapsed.Round(time.Second), mib(s.RSS), mib(s.Heap), s.Goroutines, mib(s.LogBytes), s.LogEvents,
		ms(s.P50), ms(s.P99), s.Probes, s.Lost)
}

// take samples the hub and the probe.
func take(ctx context.Context, h *hub, p *probe, elapsed time.Duration) (sample, error) {
	s := sample{Elapsed: elapsed}
	var err error
	if s.RSS, err = rss(h.cmd.Process.Pid); err != nil {
		return s, err
	}
	m, err := h.metrics(ctx, "go_goroutines", "go_memstats_heap_inuse_bytes", "hearth_log_events")
	if err != nil {
		return s, err
	}
	s.Goroutines = int(m["go_goroutines"])
	s.Heap = int64(m["go_memstats_heap_inuse_bytes"])
	s.LogEvents = int64(m["hearth_log_events"])
	s.LogBytes = dirSize(h.data)
	lat, lost := p.take()
	s.P50, s.P99, s.Probes, s.Lost = quantile(lat, 0.50), quantile(lat, 0.99), len(lat)+lost, lost
	return s, nil
}

// summary prints the slopes and the verdict; it reports whether the run
// passed.
func summary(w io.Writer, o options, samples []sample, p *probe) bool {
	all, sent, lost := p.totals()
	fmt.Fprintf(w, "\nprobes: %d sent, %d lost; motion → light p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
		sent, lost, ms(quantile(all, 0.5)), ms(quantile(all, 0.99)), ms(quantile(all, 0.999)), ms(quantile(all, 1)))
	if n := len(samples); n >= 2 {
		first, last := samples[0], samples[n-1]
		if de := last.LogEvents - first.LogEvents; de > 0 {
			hours := (last.Elapsed - first.Elapsed).Hours()
			fmt.Fprintf(w, "log: %.0f events/h, %.1f MB/h, %.0f bytes per event on disk at the end\n",
				float64(de)/hours, mib(last.LogBytes-first.LogBytes)/hours, float64(last.LogBytes)/float64(max(last.LogEvents, 1)))
		}
	}
	ok := true
	if lost > 0 {
		fmt.Fprintf(w, "FAIL: %d of %d probes got no command within %v\n", lost, sent, o.probeWait)
		ok = false
	}
	judgedSamples := judged(samples, o.warmup)
	if len(judgedSamples) < 3 {
		fmt.Fprintf(w, "too short to judge growth: %d lines after the %v warm-up (3 needed)\n", len(judgedSamples), o.warmup)
		return ok
	}
	fmt.Fprintf(w, "growth, by a straight line fitted to the %d lines after the %v warm-up:\n", len(judgedSamples), o.warmup)
	for _, j := range verdicts(judgedSamples) {
		fmt.Fprintln(w, "  "+j.String())
		if j.Grew {
			ok = false
		}
	}
	if ok {
		fmt.Fprintln(w, "PASS: nothing grew without bound")
	} else {
		fmt.Fprintln(w, "FAIL")
	}
	return ok
}

func mib(b int64) float64        { return float64(b) / (1 << 20) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
