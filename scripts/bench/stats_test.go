package main

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	oneToN := func(n int) []time.Duration {
		d := make([]time.Duration, n)
		for i := range d {
			d[i] = time.Duration(i+1) * time.Millisecond
		}
		// Shuffled, so that summarize has to sort.
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
		return d
	}
	tests := []struct {
		name string
		in   []time.Duration
		want Latency
	}{
		{
			name: "an empty set gives zeros",
			in:   nil,
			want: Latency{},
		},
		{
			name: "one sample is every percentile",
			in:   []time.Duration{3 * time.Millisecond},
			want: Latency{Count: 1, P50: 3, P90: 3, P99: 3, P999: 3, Max: 3, Mean: 3},
		},
		{
			name: "1 to 100 ms gives each percentile its own rank",
			in:   oneToN(100),
			want: Latency{Count: 100, P50: 50, P90: 90, P99: 99, P999: 100, Max: 100, Mean: 50.5, Over40: 61},
		},
		{
			name: "1 to 1000 ms separates p99.9 from the maximum",
			in:   oneToN(1000),
			want: Latency{Count: 1000, P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000, Mean: 500.5, Over40: 961},
		},
		{
			name: "one slow outlier in 1000 shows in the max but not in p99.9",
			in: func() []time.Duration {
				d := make([]time.Duration, 1000)
				for i := range d {
					d[i] = 200 * time.Microsecond
				}
				d[500] = 45 * time.Millisecond
				return d
			}(),
			want: Latency{Count: 1000, P50: 0.2, P90: 0.2, P99: 0.2, P999: 0.2, Max: 45, Mean: 0.2448, Over40: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarize(tt.in)
			if !closeLatency(got, tt.want) {
				t.Errorf("summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func closeLatency(a, b Latency) bool {
	near := func(x, y float64) bool { return x-y < 1e-9 && y-x < 1e-9 }
	return a.Count == b.Count && a.Over40 == b.Over40 && near(a.P50, b.P50) && near(a.P90, b.P90) &&
		near(a.P99, b.P99) && near(a.P999, b.P999) && near(a.Max, b.Max) && near(a.Mean, b.Mean)
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"no values give zero", nil, 0},
		{"an odd count takes the middle one", []float64{5, 1, 3}, 3},
		{"an even count takes the mean of the middle two", []float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.in); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestSustainable(t *testing.T) {
	good := Run{Rate: 1000, AchievedRate: 998, Sent: 5000, Received: 5000, Latency: Latency{Count: 5000, P99: 2}}
	with := func(f func(*Run)) Run { r := good; f(&r); return r }
	tests := []struct {
		name string
		run  Run
		want bool
	}{
		{"a run with nothing lost and a low p99 holds", good, true},
		{"one lost event fails", with(func(r *Run) { r.Lost = 1 }), false},
		{"a p99 over the limit fails", with(func(r *Run) { r.Latency.P99 = 51 }), false},
		{"a generator that fell short fails", with(func(r *Run) { r.AchievedRate = 800 }), false},
		{"a run without commands fails", with(func(r *Run) { r.Latency = Latency{} }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, why := sustainable(tt.run, 50*time.Millisecond); got != tt.want {
				t.Errorf("sustainable = %v (%s), want %v", got, why, tt.want)
			}
		})
	}
}

func TestMedianRuns(t *testing.T) {
	runs := []Run{
		{QoS: 0, Rate: 1000, Lost: 0, Latency: Latency{P50: 0.3, P99: 1}},
		{QoS: 0, Rate: 1000, Lost: 2, Latency: Latency{P50: 0.2, P99: 3}},
		{QoS: 0, Rate: 1000, Lost: 0, Latency: Latency{P50: 0.4, P99: 2}},
		{QoS: 1, Rate: 5, Latency: Latency{P50: 0.5, P99: 0.9}},
	}
	got := medianRuns(runs)
	if len(got) != 2 {
		t.Fatalf("got %d summaries, want 2 (one per rate and QoS)", len(got))
	}
	if got[0].Latency.P50 != 0.3 || got[0].Latency.P99 != 2 {
		t.Errorf("QoS 0 summary p50 %v p99 %v, want the medians 0.3 and 2", got[0].Latency.P50, got[0].Latency.P99)
	}
	if got[0].Lost != 2 {
		t.Errorf("QoS 0 summary lost %d, want 2: a loss in any repeat counts", got[0].Lost)
	}
	if got[1].Latency.P50 != 0.5 {
		t.Errorf("a single run is its own summary: p50 %v, want 0.5", got[1].Latency.P50)
	}
}
