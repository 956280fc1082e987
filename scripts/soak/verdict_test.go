package main

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestFitLine(t *testing.T) {
	tests := []struct {
		name                   string
		points                 []point
		slope, intercept, rise float64
	}{
		{
			name:   "a line through its own points is found exactly",
			points: []point{{0, 10}, {time.Hour, 12}, {2 * time.Hour, 14}},
			slope:  2, intercept: 10, rise: 4,
		},
		{
			name:   "a flat series has no slope",
			points: []point{{0, 5}, {30 * time.Minute, 5}, {time.Hour, 5}},
			slope:  0, intercept: 5, rise: 0,
		},
		{
			name:   "one point has no slope",
			points: []point{{time.Minute, 7}},
			slope:  0, intercept: 7, rise: 0,
		},
		{
			name:   "a falling series has a negative slope",
			points: []point{{0, 9}, {time.Hour, 6}, {2 * time.Hour, 3}},
			slope:  -3, intercept: 9, rise: -6,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fitLine(tt.points)
			if !near(f.Slope, tt.slope) || !near(f.Intercept, tt.intercept) || !near(f.Rise, tt.rise) {
				t.Errorf("fitLine = slope %g, intercept %g, rise %g; want %g, %g, %g",
					f.Slope, f.Intercept, f.Rise, tt.slope, tt.intercept, tt.rise)
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// series makes 26 lines a minute apart (a 30-minute run after its 5-minute
// warm-up) from f.
func series(f func(i int) sample) []sample {
	var out []sample
	for i := 0; i < 26; i++ {
		s := f(i)
		s.Elapsed = time.Duration(i+5) * time.Minute
		out = append(out, s)
	}
	return out
}

func TestVerdicts(t *testing.T) {
	const mb = 1 << 20
	steady := func(i int) sample {
		return sample{RSS: 30 * mb, Heap: 10 * mb, Goroutines: 130, LogBytes: int64(i+1) * 400_000, LogEvents: int64(i+1) * 1_000}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		f    func(i int) sample
		grew []string
	}{
		{name: "a steady hub passes", f: steady},
		{
			name: "a heap that swings with the garbage collector passes",
			f: func(i int) sample {
				s := steady(i)
				s.Heap = int64((8 + 8*rng.Float64()) * mb)
				s.RSS = int64((30 + 3*rng.Float64()) * mb)
				return s
			},
		},
		{
			name: "memory that gains a megabyte a minute fails",
			f: func(i int) sample {
				s := steady(i)
				s.RSS += int64(i) * mb
				s.Heap += int64(i) * mb
				return s
			},
			grew: []string{"rss", "heap"},
		},
		{
			name: "goroutines that leak two a minute fail",
			f: func(i int) sample {
				s := steady(i)
				s.Goroutines += 2 * i
				return s
			},
			grew: []string{"goroutines"},
		},
		{
			name: "a goroutine or two more at the end passes",
			f: func(i int) sample {
				s := steady(i)
				s.Goroutines += i / 13
				return s
			},
		},
		{
			name: "a log whose bytes per event grow fails",
			f: func(i int) sample {
				s := steady(i)
				s.LogBytes = int64(i+1) * int64(400_000+20_000*i)
				return s
			},
			grew: []string{"log/event"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var grew []string
			var lines []string
			for _, j := range verdicts(series(tt.f)) {
				lines = append(lines, j.String())
				if j.Grew {
					grew = append(grew, j.Name)
				}
			}
			if strings.Join(grew, ",") != strings.Join(tt.grew, ",") {
				t.Errorf("grew %v, want %v:\n%s", grew, tt.grew, strings.Join(lines, "\n"))
			}
		})
	}
}

func TestJudgedDropsTheWarmUp(t *testing.T) {
	var samples []sample
	for i := 1; i <= 10; i++ {
		samples = append(samples, sample{Elapsed: time.Duration(i) * time.Minute})
	}
	got := judged(samples, 5*time.Minute)
	if len(got) != 6 || got[0].Elapsed != 5*time.Minute {
		t.Errorf("judged kept %d lines from %v, want 6 from 5m", len(got), got[0].Elapsed)
	}
}

func TestQuantile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond, 0: time.Millisecond} {
		if got := quantile(ds, q); got != want {
			t.Errorf("quantile(%g) = %v, want %v", q, got, want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile of nothing = %v, want 0", got)
	}
}
