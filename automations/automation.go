// Package automations loads automations from YAML, compiles their
// expressions once, indexes their triggers by device and topic, and runs
// their actions when events from the bus match.
//
// The flow per event: the engine's consumer goroutine folds state changes
// into its own view of every device's state, looks up the triggers that name
// the event's device or a topic filter matching its topic, evaluates their
// `when` and the automation's conditions, and starts a run. A run executes
// the action list in its own goroutine, so a slow command or a delay never
// holds up the consumer (which must keep reading the bus). Time triggers
// (at, cron, sun) and `for:` windows fire from the engine's clock.
package automations

// Mode says what happens when an automation triggers while a run of it is
// still going.
type Mode string

// The modes an automation can have.
const (
	// ModeSingle ignores new triggers while a run is going.
	ModeSingle Mode = "single"
	// ModeRestart cancels the running run and starts a new one.
	ModeRestart Mode = "restart"
	// ModeQueued runs one after another, up to Max waiting or running.
	ModeQueued Mode = "queued"
	// ModeParallel runs side by side, up to Max at once.
	ModeParallel Mode = "parallel"
)

// DefaultMax is how many runs a queued or parallel automation may have
// waiting or running when its file does not say.
const DefaultMax = 10

// Missed says what happens to a pending timer (a delay, a wait's timeout, a
// `for:` window) that came due while the hub was down.
type Missed string

// The rules for missed timers.
const (
	// MissedFire fires it as the engine starts: the run goes on, the window fires.
	MissedFire Missed = "fire"
	// MissedSkip drops it: the run ends there, the window is forgotten.
	MissedSkip Missed = "skip"
)

// Automation is one loaded automation. It is read-only once loaded; the
// engine keeps what changes (runs, counters) on its side.
type Automation struct {
	// ID names the automation; it is unique in its Set.
	ID string
	// Description is free text from the file.
	Description string
	// Mode says what a trigger does while a run is going.
	Mode Mode
	// Max bounds the runs of a queued or parallel automation.
	Max int
	// Missed says what happens to its timers that came due while the hub was down.
	Missed Missed
	// File, Line and Column say where the automation is defined.
	File         string
	Line, Column int
	// Source is the automation's text as written in its file.
	Source string
	// Hash identifies its normalised definition (and the scenes it uses):
	// two loads with the same Hash behave the same.
	Hash string

	pos        int // position in its Set
	triggers   []trigger
	conditions []condition
	actions    block
	scenes     []string // ids of the scenes its actions use
	fp         any      // normalised definition, until the hash is taken
}

// Set is a validated collection of automations and scenes with their
// triggers indexed and their expressions compiled. It is immutable and may be
// shared (the live engine and a what-if run use the same Set).
type Set struct {
	automations []*Automation
	scenes      map[string]*scene
	index       index
	warnings    []Problem
	sunUser     string // the first to call sunrise() or sunset(), named in the warning
}

// Automations returns the automations in the order they were loaded.
func (s *Set) Automations() []*Automation {
	return append([]*Automation(nil), s.automations...)
}

// Len returns how many automations the set holds.
func (s *Set) Len() int { return len(s.automations) }

// Lookup returns the automation with the given id.
func (s *Set) Lookup(id string) (*Automation, bool) {
	for _, a := range s.automations {
		if a.ID == id {
			return a, true
		}
	}
	return nil, false
}

// Warnings returns what the load doubted without refusing: devices that had
// not been seen yet, each with its position.
func (s *Set) Warnings() []Problem { return append([]Problem(nil), s.warnings...) }

func newSet(autos []*Automation, scenes map[string]*scene) *Set {
	s := &Set{automations: autos, scenes: scenes, index: newIndex()}
	for i, a := range autos {
		a.pos = i
		for _, t := range a.triggers {
			t.addTo(&s.index)
		}
	}
	return s
}
