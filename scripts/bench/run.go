package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// Run is one measured stretch of load against one target.
type Run struct {
	Target string `json:"target"`
	// Kind is "fixed" (a -rate run), "step" (part of the sustainable-rate
	// search) or "fill" (filling the log for the start-up test).
	Kind          string  `json:"kind"`
	QoS           byte    `json:"qos"`
	Rate          float64 `json:"rate"`
	AchievedRate  float64 `json:"achieved_rate"`
	Seconds       float64 `json:"seconds"`
	Sent          int     `json:"sent"`
	Received      int     `json:"received"`
	Lost          int     `json:"lost"`
	Unexpected    int64   `json:"unexpected"`
	PublishErrors int64   `json:"publish_errors"`
	Disconnects   int64   `json:"disconnects"`
	// Latency is from a sensor's publish to its light's receipt of the command.
	Latency Latency `json:"latency"`
	// PubAck is, for QoS 1, from the sensor's publish to its PUBACK.
	PubAck *Latency `json:"puback,omitempty"`
	// CPU, RSS and BytesPerEvent add up the target's processes.
	CPU           float64 `json:"cpu_pct"`
	CPUPerEvent   float64 `json:"cpu_us_per_event"`
	RSS           float64 `json:"rss_mb"`
	BytesPerEvent float64 `json:"write_bytes_per_event"`
	// DiskPerEvent is what the machine's disks took per event over the
	// same window (everyone's writes: an upper bound and a cross-check).
	DiskPerEvent float64     `json:"disk_bytes_per_event"`
	Procs        []ProcUsage `json:"procs"`
	Generator    ProcUsage   `json:"generator"`
	// IdleBefore is how idle the machine was just before the run (1: all
	// cores), OtherCPU the CPU used during the run by everything but the
	// target and the generator, in percent of one core: the noise.
	IdleBefore float64 `json:"idle_before"`
	OtherCPU   float64 `json:"other_cpu_pct"`
	Problem    string  `json:"problem,omitempty"`
}

// runSpec asks for one run.
type runSpec struct {
	kind     string
	rate     float64
	qos      byte
	duration time.Duration
}

// measure runs spec against t: an unrecorded warm-up at the same rate, then
// the recorded stretch, then a wait for the last commands and for the
// target to settle (the hub's log to be durable), sampling /proc around it.
func measure(ctx context.Context, o options, t target, l *load, spec runSpec) Run {
	r := Run{Target: t.Name(), Kind: spec.kind, QoS: spec.qos, Rate: spec.rate}
	if o.MinEvents > 0 && spec.kind == "fixed" {
		spec.duration = max(spec.duration, time.Duration(float64(o.MinEvents)/spec.rate*float64(time.Second)))
	}
	if waited := l.awaitQuiet(ctx, 500*time.Millisecond, 2*time.Minute); waited > time.Second {
		r.Problem = fmt.Sprintf("commands of earlier runs kept arriving for %.1fs before this run", waited.Seconds())
	}
	l.clearPending()
	if o.Warmup > 0 {
		l.reset(0)
		n, _ := l.send(ctx, sendSpec{Rate: spec.rate, QoS: spec.qos, Duration: o.Warmup, Record: true})
		l.awaitReceived(ctx, n, o.Drain)
		l.results(ctx)
		l.awaitQuiet(ctx, 200*time.Millisecond, o.Drain)
		l.clearPending()
	}
	if err := t.Settle(ctx); err != nil {
		r.Problem = "before the run: " + err.Error()
	}
	if o.WaitIdle > 0 {
		r.IdleBefore = waitIdle(ctx, o.WaitIdle, o.WaitIdleMax, func(string, ...any) {})
	}

	var problemsBefore map[string]int64
	if pc, ok := t.(problemCounter); ok {
		problemsBefore = pc.problems()
	}
	l.reset(int(spec.rate*spec.duration.Seconds()) + 16)
	pids := t.Pids()
	self := os.Getpid()
	before, genBefore := sampleAll(pids), sampleAll(map[string]int{"generator": self})
	disc := l.disconnects.Load()
	machineBefore, machineErr := readCPUTimes()
	diskBefore, diskErr := diskWritten()
	n, elapsed := l.send(ctx, sendSpec{Rate: spec.rate, QoS: spec.qos, Duration: spec.duration, Record: true})
	mid, genMid := sampleAll(pids), sampleAll(map[string]int{"generator": self})
	machineAfter, machineErr2 := readCPUTimes()
	l.awaitReceived(ctx, n, o.Drain)
	lat, ack := l.results(ctx)
	if err := t.Settle(ctx); err != nil && r.Problem == "" {
		r.Problem = err.Error()
	}
	after := sampleAll(pids)
	diskAfter, diskErr2 := diskWritten()
	if pc, ok := t.(problemCounter); ok {
		for what, n := range pc.problems() {
			if d := n - problemsBefore[what]; d > 0 {
				r.Problem = strings.TrimSpace(fmt.Sprintf("%s %s: %d", r.Problem, what, d))
			}
		}
	}

	r.Sent, r.Received, r.Lost = n, len(lat), n-len(lat)
	r.Seconds = elapsed.Seconds()
	r.AchievedRate = float64(n) / elapsed.Seconds()
	r.Unexpected, r.PublishErrors = l.unexpected.Load(), l.pubErrors.Load()
	r.Disconnects = l.disconnects.Load() - disc
	r.Latency = summarize(lat)
	if spec.qos > 0 {
		a := summarize(ack)
		r.PubAck = &a
	}
	var writes int64
	for _, name := range sortedKeys(pids) {
		u := usage(name, before[name], mid[name], after[name])
		r.Procs = append(r.Procs, u)
		r.CPU += u.CPU
		r.RSS += u.RSS
		if u.WriteBytes < 0 || writes < 0 {
			writes = -1
		} else {
			writes += u.WriteBytes
		}
	}
	if n > 0 {
		// CPU is over the sending window, which held n events.
		r.CPUPerEvent = r.CPU / 100 * elapsed.Seconds() * 1e6 / float64(n)
	}
	r.BytesPerEvent, r.DiskPerEvent = -1, -1
	if writes >= 0 && n > 0 {
		r.BytesPerEvent = float64(writes) / float64(n)
	}
	if diskErr == nil && diskErr2 == nil && n > 0 {
		r.DiskPerEvent = float64(diskAfter-diskBefore) / float64(n)
	}
	r.Generator = usage("generator", genBefore["generator"], genMid["generator"], genMid["generator"])
	if machineErr == nil && machineErr2 == nil && elapsed > 0 {
		busy := 100 * float64(machineAfter.busy-machineBefore.busy) / float64(elapsed)
		r.OtherCPU = max(0, busy-r.CPU-r.Generator.CPU)
	}
	return r
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Sustainable is the result of the rate search for one QoS.
type Sustainable struct {
	QoS  byte    `json:"qos"`
	Rate float64 `json:"rate"` // the highest rate that held; 0 if none did
	// Limit says why the next step up failed.
	Limit string `json:"limit"`
	Steps []Run  `json:"steps"`
}

// findSustainable steps the rate up by o.StepFactor from o.StepStart until a
// step loses events, goes over the p99 limit or cannot be generated, then
// bisects between the last good and the first bad rate o.StepRefine times.
// When the first step already fails it halves the rate instead.
func findSustainable(ctx context.Context, o options, t target, l *load, qos byte, log func(Run)) Sustainable {
	s := Sustainable{QoS: qos}
	step := func(rate float64) bool {
		r := measure(ctx, o, t, l, runSpec{kind: "step", rate: rate, qos: qos, duration: o.StepDuration})
		s.Steps = append(s.Steps, r)
		log(r)
		ok, why := sustainable(r, o.MaxP99)
		if !ok {
			s.Limit = fmt.Sprintf("%s at %.0f/s", why, rate)
		}
		return ok
	}
	good, bad := 0.0, 0.0
	for rate := o.StepStart; rate <= o.StepMax && ctx.Err() == nil; rate *= o.StepFactor {
		if !step(rate) {
			bad = rate
			break
		}
		good = rate
	}
	if good == 0 && bad > 0 {
		for rate := bad / 2; rate >= o.StepStart/16 && ctx.Err() == nil; rate /= 2 {
			if step(rate) {
				good = rate
				break
			}
			bad = rate
		}
	}
	if bad == 0 && good > 0 {
		s.Limit = fmt.Sprintf("none up to -step-max %.0f/s", o.StepMax)
	}
	for i := 0; i < o.StepRefine && good > 0 && bad > good && ctx.Err() == nil; i++ {
		mid := math.Round((good+bad)/2/50) * 50
		if mid <= good || mid >= bad {
			break
		}
		if step(mid) {
			good = mid
		} else {
			bad = mid
		}
	}
	s.Rate = good
	return s
}

// medianRuns summarises repeated runs of the same rate and QoS: each figure
// is the median over the repeats. Runs keep their order of first appearance.
func medianRuns(runs []Run) []Run {
	type key struct {
		qos  byte
		rate float64
	}
	groups := map[key][]Run{}
	var order []key
	for _, r := range runs {
		k := key{r.QoS, r.Rate}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []Run
	for _, k := range order {
		g := groups[k]
		if len(g) == 1 {
			out = append(out, g[0])
			continue
		}
		m := g[0]
		pick := func(f func(Run) float64) float64 {
			xs := make([]float64, len(g))
			for i, r := range g {
				xs[i] = f(r)
			}
			return median(xs)
		}
		m.AchievedRate = pick(func(r Run) float64 { return r.AchievedRate })
		m.Sent = int(pick(func(r Run) float64 { return float64(r.Sent) }))
		m.Received = int(pick(func(r Run) float64 { return float64(r.Received) }))
		m.Lost = 0
		for _, r := range g {
			m.Lost += r.Lost // losses add up: one lost event in any repeat counts
		}
		m.Latency = Latency{
			Count:  int(pick(func(r Run) float64 { return float64(r.Latency.Count) })),
			P50:    pick(func(r Run) float64 { return r.Latency.P50 }),
			P90:    pick(func(r Run) float64 { return r.Latency.P90 }),
			P99:    pick(func(r Run) float64 { return r.Latency.P99 }),
			P999:   pick(func(r Run) float64 { return r.Latency.P999 }),
			Max:    pick(func(r Run) float64 { return r.Latency.Max }),
			Mean:   pick(func(r Run) float64 { return r.Latency.Mean }),
			Over40: int(pick(func(r Run) float64 { return float64(r.Latency.Over40) })),
		}
		if m.PubAck != nil {
			a := Latency{
				P50: pick(func(r Run) float64 { return r.PubAck.P50 }),
				P90: pick(func(r Run) float64 { return r.PubAck.P90 }),
				P99: pick(func(r Run) float64 { return r.PubAck.P99 }),
				Max: pick(func(r Run) float64 { return r.PubAck.Max }),
			}
			m.PubAck = &a
		}
		m.CPU = pick(func(r Run) float64 { return r.CPU })
		m.CPUPerEvent = pick(func(r Run) float64 { return r.CPUPerEvent })
		m.RSS = pick(func(r Run) float64 { return r.RSS })
		m.BytesPerEvent = pick(func(r Run) float64 { return r.BytesPerEvent })
		m.DiskPerEvent = pick(func(r Run) float64 { return r.DiskPerEvent })
		m.Generator.CPU = pick(func(r Run) float64 { return r.Generator.CPU })
		m.OtherCPU = pick(func(r Run) float64 { return r.OtherCPU })
		m.Kind = fmt.Sprintf("median of %d", len(g))
		out = append(out, m)
	}
	return out
}
