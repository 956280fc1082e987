package automations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"hearth"
)

// The methods here are what the web page needs (web.Automations): the list,
// one automation, enabling and disabling, a run by hand, and traces.

// runnerOf finds the runner of an automation id in the active set.
func (e *Engine) runnerOf(id string) (*runner, error) {
	l := e.active.Load()
	for _, rn := range l.runners {
		if rn.def().ID == id {
			return rn, nil
		}
	}
	return nil, fmt.Errorf("automation %q: %w", id, hearth.ErrNoAutomation)
}

func (e *Engine) info(rn *runner) hearth.AutomationInfo {
	a := rn.def()
	return hearth.AutomationInfo{
		ID: a.ID, Description: a.Description, Mode: string(a.Mode), Enabled: !rn.disabled.Load(),
		File: a.File, Line: a.Line, YAML: a.Source, LastRun: rn.stats.lastRun(), Missed: string(a.Missed),
		Latency: rn.stats.latency.summary(),
	}
}

// List returns every loaded automation, the problems of the last load
// (when it failed, the automations listed are the previous ones still
// running) and the warnings of the set running.
func (e *Engine) List(ctx context.Context) (hearth.AutomationList, error) {
	l := e.active.Load()
	out := hearth.AutomationList{Automations: make([]hearth.AutomationInfo, 0, len(l.runners))}
	for _, rn := range l.runners {
		out.Automations = append(out.Automations, e.info(rn))
	}
	e.ctlMu.Lock()
	out.Problems = toProblems(e.problems)
	out.Loaded = e.loadedAt
	e.ctlMu.Unlock()
	out.Warnings = toProblems(l.set.warnings)
	return out, nil
}

func toProblems(ps []Problem) []hearth.AutomationProblem {
	var out []hearth.AutomationProblem
	for _, p := range ps {
		out = append(out, hearth.AutomationProblem{File: p.File, Line: p.Line, Column: p.Column, Automation: p.Automation, Message: p.Msg})
	}
	return out
}

// Get returns one automation with its YAML, latency and near misses.
func (e *Engine) Get(ctx context.Context, id string) (hearth.AutomationInfo, error) {
	rn, err := e.runnerOf(id)
	if err != nil {
		return hearth.AutomationInfo{}, err
	}
	info := e.info(rn)
	info.NearMisses = rn.stats.nearMisses()
	return info, nil
}

// NearMisses returns the newest events that reached an automation's
// triggers without starting a run, newest first.
func (e *Engine) NearMisses(ctx context.Context, id string) ([]hearth.NearMiss, error) {
	rn, err := e.runnerOf(id)
	if err != nil {
		return nil, err
	}
	return rn.stats.nearMisses(), nil
}

// Enable lets an automation's triggers start runs again; remembered
// through Persist.
func (e *Engine) Enable(ctx context.Context, id string) error { return e.setEnabled(ctx, id, true) }

// Disable stops an automation's triggers from starting runs, cancels its
// runs and disarms its `for:` windows; remembered through Persist.
func (e *Engine) Disable(ctx context.Context, id string) error { return e.setEnabled(ctx, id, false) }

func (e *Engine) setEnabled(ctx context.Context, id string, on bool) error {
	rn, err := e.runnerOf(id)
	if err != nil {
		return err
	}
	if e.persist != nil {
		if err := e.persist.SetEnabled(ctx, id, on); err != nil {
			return fmt.Errorf("automation %q: remember enabled=%v: %w", id, on, err)
		}
	}
	e.ctlMu.Lock()
	if on {
		delete(e.disabled, id)
	} else {
		e.disabled[id] = true
	}
	e.ctlMu.Unlock()
	rn.disabled.Store(!on)
	if !on {
		e.handleMu.Lock()
		e.retire(rn, "disabled")
		e.handleMu.Unlock()
	}
	e.log.Info("automation "+map[bool]string{true: "enabled", false: "disabled"}[on], "automation", id)
	return nil
}

// Run starts a run of an automation now, by hand: its triggers and
// conditions are skipped, its mode applies (a single automation that is
// running answers an error). It returns the run's id; the run goes on
// after it returns. The cause's Source is "web".
func (e *Engine) Run(ctx context.Context, id string) (string, error) {
	e.handleMu.Lock()
	defer e.handleMu.Unlock()
	rn, err := e.runnerOf(id)
	if err != nil {
		return "", err
	}
	run, err := e.start(startReq{rn: rn, cause: hearth.Cause{Source: "web"}, vars: handVars(), trig: "run by hand", depth: 1})
	if errors.Is(err, ErrDropped) {
		// Callers outside this package (the web page) tell it by the root's sentinel.
		return "", fmt.Errorf("automation %q %w: %w", id, hearth.ErrBusy, err)
	}
	if err != nil {
		return "", fmt.Errorf("automation %q: %w", id, err)
	}
	return run, nil
}

// handVars are the trigger variables of a run by hand. There is no event,
// but its payload and state are empty objects rather than nil, so that
// trigger.payload.x reads nil there as it does for an event without x,
// instead of failing the run with "cannot fetch x from <nil>".
func handVars() triggerVars {
	return triggerVars{ID: "run", Kind: "run", Payload: map[string]any{}, State: map[string]any{}}
}

// Traces returns the newest runs of an automation, newest first, at most
// limit: the runs still going first, then those in the log (or, without
// one, in memory).
func (e *Engine) Traces(ctx context.Context, id string, limit int) ([]hearth.Trace, error) {
	rn, err := e.runnerOf(id)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 20
	}
	var out []hearth.Trace
	rn.mu.Lock()
	live := append([]*run(nil), rn.live...)
	rn.mu.Unlock()
	for i := len(live) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, live[i].snapshot())
	}
	if len(out) >= limit {
		return out, nil
	}
	if e.eventLog == nil {
		for _, tr := range rn.stats.memTraces() {
			if len(out) == limit {
				break
			}
			out = append(out, tr)
		}
		return out, nil
	}
	evs, err := e.eventLog.Events(ctx, hearth.EventQuery{Kind: hearth.KindRun, Topic: traceTopic(id), Limit: limit - len(out)})
	if err != nil {
		return out, fmt.Errorf("automation %q: read traces: %w", id, err)
	}
	for _, ev := range evs {
		var tr hearth.Trace
		if err := json.Unmarshal(ev.Payload, &tr); err != nil {
			e.log.Warn("a trace in the log is unreadable", "seq", ev.Seq, "err", err)
			continue
		}
		out = append(out, tr)
	}
	return out, nil
}

// settle waits until every event the engine was given is handled and no
// run is busy (all are done or waiting on the clock or a state): for
// what-if runs and tests.
func (e *Engine) settle(ctx context.Context) error { return e.idle.wait(ctx) }
