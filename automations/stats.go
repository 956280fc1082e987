package automations

import (
	"maps"
	"math/bits"
	"reflect"
	"slices"
	"sync"
	"time"

	"hearth"
)

// nearMissesKept is how many near misses an automation keeps.
const nearMissesKept = 20

// tracesKept is how many traces an automation keeps in memory when there is
// no event log to keep them (tests, what-if runs).
const tracesKept = 20

// stats is what the engine keeps in memory about one automation id, across
// reloads: its last run, near misses, latency and (without a log) traces.
type stats struct {
	topic   string // of its traces in the log
	mu      sync.Mutex
	last    hearth.RunSummary // Run is "" before the first run
	misses  []hearth.NearMiss // a ring, at most nearMissesKept; grown as needed
	nMisses int               // how many were ever recorded
	traces  []hearth.Trace    // a ring, at most tracesKept
	nTraces int               // how many were ever kept
	latency histogram
}

// miss records a near miss, overwriting the oldest. The same miss again
// (a sensor repeating a state that does not match) is counted on the last
// one rather than pushing the others out. m.Values may be the caller's
// scratch: it is copied when kept, and most misses repeat the last one.
// Durations (since()) are kept as templates write them, "1m 5s", not as
// the nanoseconds JSON would show; so a since() read repeats the last miss
// when it is the same to the second.
func (s *stats) miss(m hearth.NearMiss) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nMisses > 0 {
		last := &s.misses[(s.nMisses-1)%nearMissesKept]
		if last.Trigger == m.Trigger && last.Reason == m.Reason && last.Text == m.Text && sameValues(last.Values, m.Values) {
			last.Time, last.Seq = m.Time, m.Seq
			last.Repeats++
			return
		}
	}
	m.Values = keptValues(m.Values)
	// Most automations repeat one or two misses (a sensor going back and
	// forth): grown one at a time rather than made whole, the ring costs
	// a thousand automations 2 MB less.
	if n := len(s.misses); n < nearMissesKept {
		if n == cap(s.misses) {
			s.misses = slices.Grow(s.misses, min(max(n, 1), nearMissesKept-n))
		}
		s.misses = append(s.misses, m)
	} else {
		s.misses[s.nMisses%nearMissesKept] = m
	}
	s.nMisses++
}

// keptValues copies a near miss's values to keep, each duration written
// as durationText writes it.
func keptValues(values map[string]any) map[string]any {
	out := maps.Clone(values)
	readableValues(out)
	return out
}

// readableValues writes, in place, the durations among values as
// durationText does: what a near miss or a trace shows people.
func readableValues(values map[string]any) {
	for k, v := range values {
		if d, ok := v.(time.Duration); ok {
			values[k] = durationText(d)
		}
	}
}

// sameValues reports whether the values kept of a near miss (kept, see
// keptValues) are those of a new one (fresh): reflect.DeepEqual of the two
// maps, a duration equal to the text kept for it, without the allocations
// reflect makes to walk a map.
func sameValues(kept, fresh map[string]any) bool {
	if len(kept) != len(fresh) || (kept == nil) != (fresh == nil) {
		return false
	}
	for k, v := range kept {
		w, ok := fresh[k]
		if !ok {
			return false
		}
		if d, isDur := w.(time.Duration); isDur {
			text, isText := v.(string)
			var buf [32]byte // on the stack: the comparison does not allocate
			if !isText || string(appendDuration(buf[:0], d)) != text {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(v, w) {
			return false
		}
	}
	return true
}

// nearMisses returns the near misses kept, newest first.
func (s *stats) nearMisses() []hearth.NearMiss {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(s.nMisses, nearMissesKept)
	out := make([]hearth.NearMiss, 0, n)
	for i := range n {
		out = append(out, s.misses[(s.nMisses-1-i)%nearMissesKept])
	}
	return out
}

// started notes a run going on, for the list.
func (s *stats) started(sum hearth.RunSummary) {
	s.mu.Lock()
	s.last = sum
	s.mu.Unlock()
}

// finished notes a run's end; keep says to hold its trace in memory.
func (s *stats) finished(tr hearth.Trace, keep bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last.Run == "" || !s.last.Started.After(tr.Started) {
		s.last = tr.RunSummary
	}
	if keep {
		if len(s.traces) < tracesKept {
			s.traces = append(s.traces, tr)
		} else {
			s.traces[s.nTraces%tracesKept] = tr
		}
		s.nTraces++
	}
}

// lastRun returns the newest run's summary.
func (s *stats) lastRun() *hearth.RunSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last.Run == "" {
		return nil
	}
	sum := s.last
	return &sum
}

// memTraces returns the traces kept in memory, newest first.
func (s *stats) memTraces() []hearth.Trace {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]hearth.Trace, 0, len(s.traces))
	for i := range len(s.traces) {
		out = append(out, s.traces[(s.nTraces-1-i)%tracesKept])
	}
	return out
}

// histogram counts latencies in buckets four to an octave, from 1µs:
// percentiles are known within a fifth, in a few hundred bytes.
type histogram struct {
	mu     sync.Mutex
	counts []uint32 // made at the first record
	n      uint64
	max    time.Duration
}

const histBuckets = 4 * 40

func bucketOf(d time.Duration) int {
	us := uint64(max(d, 0) / time.Microsecond)
	if us < 4 {
		return int(us)
	}
	e := bits.Len64(us) - 1 // us is in [2^e, 2^(e+1))
	sub := int(us>>(e-2)) & 3
	return min(e*4+sub-4, histBuckets-1)
}

// bucketTop is the largest latency a bucket holds.
func bucketTop(b int) time.Duration {
	if b < 4 {
		return time.Duration(b+1) * time.Microsecond
	}
	e, sub := (b+4)/4, (b+4)%4
	return time.Duration(uint64(4+sub+1)<<(e-2)) * time.Microsecond
}

func (h *histogram) record(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts == nil {
		h.counts = make([]uint32, histBuckets)
	}
	h.counts[bucketOf(d)]++
	h.n++
	h.max = max(h.max, d)
}

// summary returns the count, percentiles and max, nil when empty.
func (h *histogram) summary() *hearth.LatencySummary {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return nil
	}
	pct := func(p float64) time.Duration {
		want := uint64(p*float64(h.n) + 0.999999)
		var seen uint64
		for b, c := range h.counts {
			seen += uint64(c)
			if seen >= want {
				return min(bucketTop(b), h.max)
			}
		}
		return h.max
	}
	return &hearth.LatencySummary{Count: h.n, P50: pct(0.50), P90: pct(0.90), P99: pct(0.99), Max: h.max}
}

// outcomeCounts counts finished runs by outcome, for /metrics.
type outcomeCounts struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (o *outcomeCounts) count(outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]uint64{}
	}
	o.n[outcome]++
}

// RunOutcomes returns how many runs have ended since the engine started, by
// outcome ("done", "failed", "cancelled", "stopped: loop", ...).
func (e *Engine) RunOutcomes() map[string]uint64 {
	e.outcomes.mu.Lock()
	defer e.outcomes.mu.Unlock()
	out := make(map[string]uint64, len(e.outcomes.n))
	for k, v := range e.outcomes.n {
		out[k] = v
	}
	return out
}
