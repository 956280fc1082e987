package hearth

import (
	"errors"
	"time"
)

// ErrNoAutomation is returned (wrapped) when an automation id is not loaded.
var ErrNoAutomation = errors.New("no such automation")

// ErrBusy is returned (wrapped) when an automation refuses a run by hand
// because of its mode: a single one that is running, a queued or parallel
// one at its max. The page answers it with 409.
var ErrBusy = errors.New("busy")

// AutomationInfo describes one loaded automation for people: the page and
// the HTTP API show it.
type AutomationInfo struct {
	// ID names the automation; it is unique among those loaded.
	ID string `json:"id"`
	// Description is the free text of its file.
	Description string `json:"description,omitempty"`
	// Mode is single, restart, queued or parallel.
	Mode string `json:"mode"`
	// Enabled says whether its triggers start runs.
	Enabled bool `json:"enabled"`
	// File and Line say where it is defined.
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	// YAML is its source text as written in the file.
	YAML string `json:"yaml,omitempty"`
	// LastRun summarises its newest run, nil if it never ran.
	LastRun *RunSummary `json:"last_run,omitempty"`
	// Missed says what happens to its timers that came due while the hub
	// was down: "fire" or "skip".
	Missed string `json:"missed,omitempty"`
	// Latency summarises how long its runs took from the triggering event
	// to their last command before they first waited, since the hub started.
	Latency *LatencySummary `json:"latency,omitempty"`
	// NearMisses are the newest events that reached one of its triggers but
	// did not start a run, newest first (only in the answer for one automation).
	NearMisses []NearMiss `json:"near_misses,omitempty"`
}

// LatencySummary is a histogram of run latencies, summarised.
type LatencySummary struct {
	// Count is how many runs were measured.
	Count uint64 `json:"count"`
	// P50, P90 and P99 are percentiles (bucketed: within about a fifth);
	// Max is the largest seen.
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// NearMiss is an event that reached an automation's trigger (its device or
// topic) without starting a run, and why: the answer to "why didn't it fire?".
type NearMiss struct {
	// Time is when it happened; Seq the event concerned (0 for a timer).
	Time time.Time `json:"time"`
	Seq  uint64    `json:"seq,omitempty"`
	// Trigger describes the trigger reached ("device hall_motion").
	Trigger string `json:"trigger,omitempty"`
	// Reason is "when", "condition", "dropped", "disabled", "loop" or "storm".
	Reason string `json:"reason"`
	// Text is what did not hold (the expression), or why the run was dropped.
	Text string `json:"text"`
	// Values are the inputs the expression read, as it saw them.
	Values map[string]any `json:"values,omitempty"`
	// Repeats counts the same miss (same trigger, reason, text and values)
	// seen again right after this one; Time and Seq are the latest's.
	Repeats int `json:"repeats,omitempty"`
}

// RunSummary is the outline of one automation run.
type RunSummary struct {
	// Run names the run ("hall_light_on_motion#12").
	Run string `json:"run"`
	// Started and Ended bound the run; Ended is zero while it goes on.
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	// Outcome is "running", "done", "cancelled", "failed", "stopped" (a stop
	// action), "stopped: loop", "stopped: storm" or "interrupted" (the hub
	// stopped; a pending delay resumes the run after the restart).
	Outcome string `json:"outcome"`
	// Error says why a failed run failed.
	Error string `json:"error,omitempty"`
}

// AutomationProblem is one mistake found when the automations were last
// loaded; the page shows them plainly.
type AutomationProblem struct {
	// File, Line and Column say where the mistake is.
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	// Automation is the id of the automation concerned, if known.
	Automation string `json:"automation,omitempty"`
	// Message says what is wrong.
	Message string `json:"message"`
}

// AutomationList is every loaded automation and the outcome of the last load.
type AutomationList struct {
	// Automations are in the order they were loaded.
	Automations []AutomationInfo `json:"automations"`
	// Problems are the mistakes of the last load; when there are any, the
	// automations listed are those of the last good load.
	Problems []AutomationProblem `json:"problems,omitempty"`
	// Warnings are doubts about the listed automations that did not stop
	// them from loading, such as a device that has not been seen yet.
	Warnings []AutomationProblem `json:"warnings,omitempty"`
	// Loaded is when the listed automations were loaded.
	Loaded time.Time `json:"loaded,omitzero"`
}

// Trace records one automation run step by step, to answer "why did it (not)
// do that?".
type Trace struct {
	RunSummary
	// Automation is the id of the automation that ran.
	Automation string `json:"automation"`
	// Trigger is the sequence number of the event that started the run, 0
	// when it was started by hand.
	Trigger uint64 `json:"trigger,omitempty"`
	// Steps are the trigger, conditions and actions in the order they happened.
	Steps []TraceStep `json:"steps"`
}

// TraceStep is one step of a run: a trigger matched, a condition evaluated,
// an action taken or a command sent.
type TraceStep struct {
	// Time is when the step happened.
	Time time.Time `json:"time"`
	// Kind is "trigger", "condition", "action" or "command".
	Kind string `json:"kind"`
	// Text is the step as written ("states.hall_lux.illuminance < 30").
	Text string `json:"text"`
	// Result is the outcome ("true", "false", "done", "cancelled").
	Result string `json:"result,omitempty"`
	// Values are the inputs the step saw, such as the attributes an
	// expression read.
	Values map[string]any `json:"values,omitempty"`
	// Seq is the event the step produced (a command), if any.
	Seq uint64 `json:"seq,omitempty"`
	// Error says why the step failed.
	Error string `json:"error,omitempty"`
}
