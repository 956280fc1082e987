package main

import (
	"math"
	"slices"
	"time"
)

// Latency summarises a set of round-trip times, in milliseconds so that the
// JSON reads without a unit conversion.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
	// Over40 counts samples of 40 ms or more: the mark of Nagle's algorithm
	// meeting a delayed ACK.
	Over40 int `json:"over_40ms"`
}

// summarize sorts d in place and returns its percentiles. An empty set gives
// a zero Latency.
func summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	var sum time.Duration
	over := 0
	for _, v := range d {
		sum += v
		if v >= 40*time.Millisecond {
			over++
		}
	}
	return Latency{
		Count:  len(d),
		P50:    ms(percentile(d, 50)),
		P90:    ms(percentile(d, 90)),
		P99:    ms(percentile(d, 99)),
		P999:   ms(percentile(d, 99.9)),
		Max:    ms(d[len(d)-1]),
		Mean:   ms(sum / time.Duration(len(d))),
		Over40: over,
	}
}

// percentile returns the nearest-rank p-th percentile of sorted: the
// smallest sample such that at least p percent of the samples are at or
// below it. It returns 0 for an empty slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps 99.9% of 1,000 at rank 999: in floating point it
	// is 999.0000000000001.
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// median returns the median of xs (the mean of the middle two for an even
// count), or 0 for none. It does not change xs.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// sustainable says whether a run at some rate held: nothing lost, p99 within
// the limit, and the generator actually reached the rate it was asked for
// (otherwise the run says nothing about the target).
func sustainable(r Run, maxP99 time.Duration) (ok bool, why string) {
	switch {
	case r.Lost > 0:
		return false, "lost events"
	case r.Latency.Count == 0:
		return false, "no commands received"
	case r.Latency.P99 > ms(maxP99):
		return false, "p99 over the limit"
	case r.AchievedRate < 0.9*r.Rate:
		return false, "generator could not reach the rate"
	}
	return true, ""
}
