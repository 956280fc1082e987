// Package automations loads automations from YAML, compiles their
// expressions once, indexes their triggers by device and topic, and runs
// their actions when events from the bus match.
//
// The flow per event: the engine's consumer goroutine folds state changes
// into its own view of every device's state, looks up the triggers that name
// the event's device or a topic filter matching its topic, evaluates their
// `when` and the automation's conditions, and starts a run. A run executes
// the action list in its own goroutine, so a slow command or a delay never
// holds up the consumer (which must keep reading the bus).
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
	// File, Line and Column say where the automation is defined.
	File         string
	Line, Column int

	pos        int // position in its Set
	triggers   []trigger
	conditions []*expression
	actions    []action
}

// Set is a validated collection of automations with their triggers indexed
// and their expressions compiled. It is immutable and may be shared.
type Set struct {
	automations []*Automation
	index       index
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

func newSet(autos []*Automation) *Set {
	s := &Set{automations: autos, index: newIndex()}
	for i, a := range autos {
		a.pos = i
		for _, t := range a.triggers {
			t.addTo(&s.index)
		}
	}
	return s
}
