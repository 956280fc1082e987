package automations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"hearth"
)

// Firing: every trigger ends in tryStart, which checks what may stop a run
// from starting (disabled, conditions, the loop and storm guards, the mode)
// and records each refusal as a near miss.

// deviceEvent applies a state event to one device trigger.
func (e *Engine) deviceEvent(l *loaded, t *deviceTrigger, s *scope) {
	v, err := t.check(s)
	rn := l.runners[t.auto.pos]
	if t.hold > 0 {
		e.windowEvent(rn, t, s, v, err)
		return
	}
	switch v {
	case verdictEdge:
		e.fire(l, &t.triggerBase, s)
	case verdictFalse:
		e.missWhen(rn, &t.triggerBase, t.when, s.newEnv(t.when), s, err)
	}
}

// fire checks an automation's conditions for the event in s and starts a
// run: at most one per automation and event, however many of its triggers
// fire.
func (e *Engine) fire(l *loaded, tb *triggerBase, s *scope) {
	rn := l.runners[tb.auto.pos]
	if rn.lastEvent == s.gen {
		return
	}
	rn.lastEvent = s.gen
	env := s.runEnv()
	env.Trigger.ID, env.Trigger.Kind = tb.id, tb.kind
	env.This = thisVars{ID: tb.auto.ID, Description: tb.auto.Description}
	e.tryStart(rn, tb, &s.ev, env, s.event.Seq, s.event.Cause.Run, s.event.Time)
}

// tryStart is where every trigger ends: enabled, conditions, loop and storm
// guards, then the mode. The caller holds handleMu.
func (e *Engine) tryStart(rn *runner, tb *triggerBase, ev *evaluator, env *runEnv, seq uint64, parent string, evTime time.Time) {
	a := rn.def()
	now := e.clock.Now()
	miss := func(reason, text string, values map[string]any) {
		rn.stats.miss(hearth.NearMiss{Time: now, Seq: seq, Trigger: tb.desc, Reason: reason, Text: text, Values: values})
	}
	if rn.disabled.Load() {
		miss("disabled", "the automation is disabled", nil)
		return
	}
	if failed, err := allHold(ev, env, a.conditions); failed != nil {
		into := ev.scratchValues()
		miss("condition", failed.text(), withError(failed.explain(ev, env, into), into, err))
		if e.log.Enabled(context.Background(), slog.LevelDebug) {
			e.log.Debug("condition not met", "automation", a.ID, "seq", seq, "condition", failed.text())
		}
		return
	}
	depth := e.lineage.depthOf(parent)
	if e.maxChain > 0 && depth > e.maxChain {
		chain := e.lineage.chain(parent, a.ID)
		e.log.Error("loop stopped: a chain of automations kept triggering each other", "automation", a.ID, "chain", chain, "depth", depth, "seq", seq)
		miss("loop", "stopped: loop ("+chain+")", nil)
		e.stopTrace(rn, tb, seq, "stopped: loop", fmt.Sprintf("%d runs in a row each triggered by the one before: %s", depth, chain))
		return
	}
	rn.mu.Lock()
	ok, first := rn.storm.allow(now, e.stormRuns, e.stormWindow)
	rn.mu.Unlock()
	if !ok {
		if first {
			e.log.Error("storm stopped: automation paused for the rest of its window", "automation", a.ID, "runs", e.stormRuns, "window", e.stormWindow, "seq", seq)
			e.stopTrace(rn, tb, seq, "stopped: storm", fmt.Sprintf("more than %d runs within %s", e.stormRuns, e.stormWindow))
		}
		miss("storm", fmt.Sprintf("paused: more than %d runs within %s", e.stormRuns, e.stormWindow), nil)
		return
	}
	vars := env.Trigger
	if e.now == nil {
		evTime = time.Time{} // a what-if run: latencies mean nothing
	}
	_, err := e.start(startReq{rn: rn, cause: hearth.Cause{Seq: seq, Source: "automation"}, vars: vars, trig: tb.desc,
		conds: true, evTime: evTime, depth: depth, parent: parent, seq: seq})
	if errors.Is(err, ErrDropped) {
		e.log.Debug("trigger dropped", "automation", a.ID, "seq", seq, "why", err)
		miss("dropped", err.Error(), nil)
	}
}

// missWhen records a trigger whose `when` was false, or failed with err.
func (e *Engine) missWhen(rn *runner, tb *triggerBase, x *expression, env any, s *scope, err error) {
	if x == nil {
		return
	}
	into := s.ev.scratchValues()
	values := withError(x.values(&s.ev.vm, env, into), into, err)
	rn.stats.miss(hearth.NearMiss{Time: s.time(), Seq: s.event.Seq, Trigger: tb.desc, Reason: "when", Text: x.src, Values: values})
}

// withError adds the error an expression failed with (if any) to the
// values of its near miss; into is the scratch map the values are in, or
// go into when the expression read none.
func withError(values, into map[string]any, err error) map[string]any {
	if err == nil {
		return values
	}
	if values == nil {
		values = into
	}
	values["error"] = err.Error()
	return values
}

// stopTrace keeps the trace of a run the guards refused.
func (e *Engine) stopTrace(rn *runner, tb *triggerBase, seq uint64, outcome, why string) {
	now := e.clock.Now()
	tr := hearth.Trace{
		RunSummary: hearth.RunSummary{Run: rn.def().ID + "#-", Started: now, Ended: now, Outcome: outcome, Error: why},
		Automation: rn.def().ID, Trigger: seq,
		Steps: []hearth.TraceStep{{Time: now, Kind: "trigger", Text: tb.desc, Result: outcome, Error: why}},
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.wg.Add(1)
	e.mu.Unlock()
	e.idle.add(1)
	// Published from a goroutine of its own: never from the consumer's.
	go func() {
		defer e.wg.Done()
		defer e.idle.add(-1)
		e.recordTrace(rn.stats, tr, hearth.Cause{Seq: seq, Source: "automation"})
	}()
}
