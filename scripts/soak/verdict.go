package main

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// A soak run passes when nothing it watches grows without bound. The rule:
// after the warm-up (caches fill, the heap finds its size), fit a straight
// line by least squares to each series; the series grew when the line rises
// over the judged window by more than its limit, which is the larger of a
// share of the series' median (Relative) and a fixed amount (Floor). Both
// are needed: the share keeps a large heap's noise from failing the run, the
// floor keeps a tiny goroutine count's +3 from doing so. A one-off step up
// that then stays flat counts as growth when it is large enough: a soak run
// cannot tell it from the start of a leak, and a person should look.
//
// The log grows by design (every message is an event), so its size is
// judged per event: the bytes the log takes per event must not grow either.

// limit is how much a series may rise over the judged window.
type limit struct {
	Relative float64 // share of the median
	Floor    float64 // in the series' own unit
}

// rule is the limit for each quantity the verdict judges.
var rules = map[string]limit{
	"rss":        {Relative: 0.20, Floor: 8 << 20},
	"heap":       {Relative: 0.25, Floor: 8 << 20},
	"goroutines": {Relative: 0.20, Floor: 20},
	"log/event":  {Relative: 0.25, Floor: 64},
}

// point is one value of a series at a time since the start.
type point struct {
	t time.Duration
	v float64
}

// fit is a least-squares line through points: v = Intercept + Slope·t.
type fit struct {
	Slope     float64 // per hour
	Intercept float64
	Rise      float64 // what the line gains from the first point to the last
	Median    float64
}

// fitLine fits a straight line to points; with fewer than two points, or
// all at one time, the slope is zero.
func fitLine(points []point) fit {
	var f fit
	n := float64(len(points))
	if n == 0 {
		return f
	}
	vals := make([]float64, 0, len(points))
	var st, sv float64
	for _, p := range points {
		st += p.t.Hours()
		sv += p.v
		vals = append(vals, p.v)
	}
	sort.Float64s(vals)
	f.Median = vals[len(vals)/2]
	if len(vals)%2 == 0 {
		f.Median = (vals[len(vals)/2-1] + vals[len(vals)/2]) / 2
	}
	mt, mv := st/n, sv/n
	var stt, stv float64
	for _, p := range points {
		dt := p.t.Hours() - mt
		stt += dt * dt
		stv += dt * (p.v - mv)
	}
	if stt > 0 {
		f.Slope = stv / stt
	}
	f.Intercept = mv - f.Slope*mt
	f.Rise = f.Slope * (points[len(points)-1].t - points[0].t).Hours()
	return f
}

// judgement is the verdict on one series.
type judgement struct {
	Name  string
	Fit   fit
	Limit float64 // the rise allowed
	Grew  bool
}

func (j judgement) String() string {
	verdict := "flat"
	if j.Grew {
		verdict = "GREW"
	}
	return fmt.Sprintf("%-10s %s: %s per hour, %s over the window (allowed %s)",
		j.Name, verdict, signed(j.Name, j.Fit.Slope), signed(j.Name, j.Fit.Rise), unit(j.Name, j.Limit))
}

// judge applies the rule for name to points.
func judge(name string, points []point) judgement {
	r, ok := rules[name]
	if !ok {
		panic("soak: no rule for " + name) // a programming mistake, not input
	}
	f := fitLine(points)
	allowed := math.Max(r.Relative*math.Abs(f.Median), r.Floor)
	return judgement{Name: name, Fit: f, Limit: allowed, Grew: f.Rise > allowed}
}

// judged keeps the samples taken at or after warmup; judging needs three.
func judged(samples []sample, warmup time.Duration) []sample {
	var out []sample
	for _, s := range samples {
		if s.Elapsed >= warmup {
			out = append(out, s)
		}
	}
	return out
}

// verdicts judges every quantity over samples (already past the warm-up).
func verdicts(samples []sample) []judgement {
	series := map[string][]point{}
	for _, s := range samples {
		series["rss"] = append(series["rss"], point{s.Elapsed, float64(s.RSS)})
		series["heap"] = append(series["heap"], point{s.Elapsed, float64(s.Heap)})
		series["goroutines"] = append(series["goroutines"], point{s.Elapsed, float64(s.Goroutines)})
		if s.LogEvents > 0 {
			series["log/event"] = append(series["log/event"], point{s.Elapsed, float64(s.LogBytes) / float64(s.LogEvents)})
		}
	}
	var out []judgement
	for _, name := range []string{"rss", "heap", "goroutines", "log/event"} {
		if len(series[name]) >= 3 {
			out = append(out, judge(name, series[name]))
		}
	}
	return out
}

// signed prints a change in the unit of the series, with its sign.
func signed(name string, v float64) string {
	s := unit(name, math.Abs(v))
	if v < 0 {
		return "-" + s
	}
	return "+" + s
}

// unit prints a value in the unit of the series.
func unit(name string, v float64) string {
	switch name {
	case "rss", "heap":
		return fmt.Sprintf("%.1f MB", v/(1<<20))
	case "log/event":
		return fmt.Sprintf("%.0f B", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}
