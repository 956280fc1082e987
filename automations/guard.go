package automations

import (
	"strings"
	"sync"
	"time"
)

// Loops: a command an automation sends is an event on the bus, and an
// event can trigger another automation (an mqtt trigger on its topic), whose
// command is another event... The engine follows causes: a command event
// carries the run that sent it (Cause.Run), so a run started by it is one
// step deeper than that run. A chain deeper than Options.MaxChain is a loop
// (an automation triggering itself, or two triggering each other): the run
// is not started, the log says which automations form the chain and a
// trace with the outcome "stopped: loop" is kept.
//
// Storms: a loop through a real device (a light whose state change
// triggers the automation that sets it) carries no cause, so the engine
// also counts runs: more than Options.StormRuns starts of one automation
// within Options.StormWindow pause it until the window ends.

// lineageKept is how many recent runs the loop guard remembers.
const lineageKept = 4096

// lineage remembers, for recent runs, their automation and depth.
type lineage struct {
	mu    sync.Mutex
	runs  map[string]lineageEntry
	order [lineageKept]string // a ring of the runs kept, for eviction
	n     int
}

type lineageEntry struct {
	auto   string
	parent string // the run that caused it, "" if none
	depth  int
}

func (l *lineage) add(run, auto, parent string, depth int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.runs == nil {
		l.runs = make(map[string]lineageEntry, lineageKept)
	}
	slot := &l.order[l.n%lineageKept]
	if *slot != "" {
		delete(l.runs, *slot)
	}
	*slot = run
	l.n++
	l.runs[run] = lineageEntry{auto: auto, parent: parent, depth: depth}
}

// depthOf returns the depth of a run started by an event caused by run
// parent (1 when parent is unknown or empty).
func (l *lineage) depthOf(parent string) int {
	if parent == "" {
		return 1
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.runs[parent]; ok {
		return p.depth + 1
	}
	return 1
}

// chain names the automations along the causes that lead to run, oldest
// first ("a → b → a").
func (l *lineage) chain(run string, last string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for i := 0; run != "" && i < 16; i++ {
		p, ok := l.runs[run]
		if !ok {
			break
		}
		ids = append(ids, p.auto)
		run = p.parent
	}
	for i, j := 0, len(ids)-1; i < j; i, j = i+1, j-1 {
		ids[i], ids[j] = ids[j], ids[i]
	}
	return strings.Join(append(ids, last), " → ")
}

// storm counts an automation's starts in the current window.
type storm struct {
	start  time.Time
	count  int
	paused bool // logged for this window
}

// allow counts a start at now and reports whether it may go on; first is
// true the first time a window is exceeded (to log it once).
func (s *storm) allow(now time.Time, limit int, window time.Duration) (ok, first bool) {
	if limit <= 0 {
		return true, false
	}
	if now.Sub(s.start) >= window || now.Before(s.start) {
		s.start, s.count, s.paused = now, 0, false
	}
	s.count++
	if s.count <= limit {
		return true, false
	}
	first = !s.paused
	s.paused = true
	return false, first
}
