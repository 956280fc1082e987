package automations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"hearth"
)

// runner is the engine's state for one automation: its runs going and
// waiting, which the mode consults when a trigger fires, its `for:`
// windows, and its statistics. A reload that leaves the automation
// unchanged keeps its runner, and so its runs, windows and timers.
type runner struct {
	auto      atomic.Pointer[Automation] // the current definition (def); a reload may swap in an identical one
	seq       *atomic.Uint64             // run numbers; shared with the same id's runner after a reload
	lastEvent uint64                     // scope.gen of the last event that fired it (consumer only)
	disabled  atomic.Bool
	windows   []*window // by trigger position; guarded by Engine.handleMu
	stats     *stats

	mu     sync.Mutex
	active int    // runs started and not ended, waiting ones included
	last   *run   // the newest run not ended
	live   []*run // every run not ended
	storm  storm
}

// def returns the automation's current definition.
func (rn *runner) def() *Automation { return rn.auto.Load() }

// newRunner makes the runner of a, with run numbers seq.
func newRunner(a *Automation, seq *atomic.Uint64, st *stats) *runner {
	rn := &runner{seq: seq, stats: st}
	rn.auto.Store(a)
	return rn
}

// run is one execution of an automation's actions, in a goroutine of its own.
type run struct {
	id     string
	auto   *Automation
	set    *Set
	eng    *Engine
	rn     *runner
	cause  hearth.Cause
	vars   triggerVars
	this   thisVars
	ctx    context.Context
	cancel context.CancelFunc
	after  *run      // a run to wait for before starting (queued, restart)
	startG *gate     // opened when after has ended
	succ   *gate     // the startG of the run queued behind this one; guarded by rn.mu
	depth  int       // runs along the chain of causes that led here
	evTime time.Time // when the triggering event came in; zero when not an event
	resume []int     // where a resumed run goes on
	due    time.Time // when its stored timer fires

	resumes []resumePoint // a resumed run's stored timers; guarded by mu

	main    task   // the run's own thread (embedded: one allocation less)
	pathBuf [8]int // its path's first levels

	mu       sync.Mutex
	gates    []*gate
	trace    hearth.Trace
	omitted  int
	reactAt  time.Time // when the last command before the first wait went out
	didReact bool
	why      string // why it was cancelled, when the engine knows
}

// maxSteps bounds a trace (a long repeat would make it huge).
const maxSteps = 200

// startReq asks for a run.
type startReq struct {
	rn     *runner
	cause  hearth.Cause
	vars   triggerVars
	trig   string // how the trace names the trigger ("run now" when by hand)
	conds  bool   // record the automation's conditions as held
	evTime time.Time
	depth  int
	parent string // the run whose command triggered this one
	id     string // a resumed run keeps its id
	resume []int
	due    time.Time
	// points are a resumed run's stored timers, one per branch still
	// waiting (resume is the path of the first).
	points []resumePoint
	seq    uint64 // the sequence number of the event that triggered it
}

// start applies the automation's mode to a trigger and, unless the mode
// drops it, starts a run. It returns the run's id, or why it was dropped.
func (e *Engine) start(q startReq) (string, error) {
	rn := q.rn
	a := rn.def()
	rn.mu.Lock()
	defer rn.mu.Unlock()
	var after *run
	switch a.Mode {
	case ModeSingle:
		if rn.active > 0 {
			return "", fmt.Errorf("%w: mode single and run %s is going", ErrDropped, rn.last.id)
		}
	case ModeRestart:
		if rn.last != nil {
			e.log.Debug("restarting automation: cancelling its run", "automation", a.ID, "seq", q.seq, "cancelled", rn.last.id)
			rn.last.stop("restarted")
			after = rn.last
		}
	case ModeQueued:
		if rn.active >= a.Max {
			e.log.Warn("trigger dropped: run queue is full (mode queued)", "automation", a.ID, "seq", q.seq, "max", a.Max)
			return "", fmt.Errorf("%w: mode queued and %d runs are queued (max %d)", ErrDropped, rn.active, a.Max)
		}
		after = rn.last
	case ModeParallel:
		if rn.active >= a.Max {
			e.log.Warn("trigger dropped: too many runs (mode parallel)", "automation", a.ID, "seq", q.seq, "max", a.Max)
			return "", fmt.Errorf("%w: mode parallel and %d runs are going (max %d)", ErrDropped, rn.active, a.Max)
		}
	}

	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return "", errClosed
	}
	e.wg.Add(1)
	e.mu.Unlock()

	id := q.id
	if id == "" {
		id = a.ID + "#" + strconv.FormatUint(rn.seq.Add(1), 10)
	}
	if q.cause.Run == "" {
		q.cause.Run = id
	}
	ctx, cancel := context.WithCancel(e.ctx)
	r := &run{
		id: id, auto: a, set: e.active.Load().set, eng: e, rn: rn,
		cause: q.cause, vars: q.vars, this: thisVars{ID: a.ID, Description: a.Description},
		ctx: ctx, cancel: cancel, after: after,
		depth: q.depth, evTime: q.evTime, resume: q.resume, due: q.due,
		resumes: q.points,
	}
	now := e.clock.Now()
	r.trace = hearth.Trace{
		RunSummary: hearth.RunSummary{Run: id, Started: now, Outcome: "running"},
		Automation: a.ID, Trigger: q.seq,
		// Room for the trigger, the conditions and a step per action:
		// what most runs record.
		Steps: make([]hearth.TraceStep, 0, 1+len(a.conditions)+len(a.actions)),
	}
	r.trace.Steps = append(r.trace.Steps, hearth.TraceStep{Time: now, Kind: "trigger", Text: q.trig, Result: "fired"})
	if q.conds {
		for _, c := range a.conditions {
			r.trace.Steps = append(r.trace.Steps, hearth.TraceStep{Time: now, Kind: "condition", Text: c.text(), Result: "true"})
		}
	}
	if after != nil {
		r.startG = e.newGate()
		after.succ = r.startG
	}
	rn.active++
	rn.last = r
	rn.live = append(rn.live, r)
	rn.stats.started(r.trace.RunSummary)
	e.lineage.add(id, a.ID, q.parent, q.depth)
	e.idle.add(1)
	go r.exec()
	return id, nil
}

// ErrDropped is returned (wrapped) by Run when the automation's mode
// refuses another run: a single automation that is running, or a queued or
// parallel one at its max.
var ErrDropped = errors.New("trigger dropped")

// errClosed says the engine is closed.
var errClosed = errors.New("the automation engine is closed")

// exec runs the actions in order, after the run it waits for has ended.
func (r *run) exec() {
	e := r.eng
	var err error
	defer func() { r.finish(err) }()
	if r.after != nil {
		t := &task{r: r}
		if err = t.block(r.ctx, r.startG); err != nil {
			return
		}
	}
	if e.log.Enabled(context.Background(), slog.LevelDebug) {
		e.log.Debug("run started", "automation", r.auto.ID, "run", r.id, "seq", r.cause.Seq)
	}
	r.main = task{r: r, durable: true, path: r.pathBuf[:0], resumeDue: r.due}
	err = r.auto.actions.run(r.ctx, &r.main, r.resume)
	r.dropUnclaimed()
}

// finish ends the run: its mode's bookkeeping, its outcome, its trace.
func (r *run) finish(err error) {
	e, rn := r.eng, r.rn
	outcome, msg := "done", ""
	switch {
	case err == nil:
	case isStopped(err):
		outcome = "stopped"
	case r.ctx.Err() != nil:
		r.mu.Lock()
		why := r.why
		r.mu.Unlock()
		switch {
		case e.stopping():
			outcome = "interrupted"
		case why != "":
			outcome, msg = "cancelled", why
		default:
			outcome = "cancelled"
		}
	default:
		outcome, msg = "failed", err.Error()
	}
	switch outcome {
	case "failed":
		e.log.Warn("run failed", "automation", r.auto.ID, "run", r.id, "err", err)
	case "cancelled", "interrupted":
		e.log.Debug("run ended early", "automation", r.auto.ID, "run", r.id, "outcome", outcome, "why", msg)
	default:
		if e.log.Enabled(context.Background(), slog.LevelDebug) {
			e.log.Debug("run finished", "automation", r.auto.ID, "run", r.id, "outcome", outcome)
		}
	}

	rn.mu.Lock()
	rn.active--
	if rn.last == r {
		rn.last = nil
	}
	if i := slices.Index(rn.live, r); i >= 0 {
		rn.live = slices.Delete(rn.live, i, i+1)
	}
	if r.succ != nil {
		r.succ.open()
	}
	rn.mu.Unlock()
	r.cancel()

	r.mu.Lock()
	if !r.didReact && !r.reactAt.IsZero() {
		r.didReact = true
		rn.stats.latency.record(r.reactAt.Sub(r.evTime))
	}
	r.trace.Ended = e.clock.Now()
	r.trace.Outcome = outcome
	r.trace.Error = msg
	if r.omitted > 0 {
		r.trace.Steps = append(r.trace.Steps, hearth.TraceStep{Time: r.trace.Ended, Kind: "action", Text: fmt.Sprintf("%d more steps not recorded", r.omitted)})
	}
	tr := r.trace
	r.mu.Unlock()
	e.recordTrace(rn.stats, tr, r.cause)
	e.idle.add(-1)
	e.wg.Done()
}

// isStopped reports whether err is a stop action's.
func isStopped(err error) bool {
	var stopped *errStopped
	return errors.As(err, &stopped)
}

// stop cancels the run and wakes whatever it waits on; why goes into its trace.
func (r *run) stop(why string) {
	r.mu.Lock()
	if r.why == "" {
		r.why = why
	}
	gates := slices.Clone(r.gates)
	r.mu.Unlock()
	r.cancel()
	for _, g := range gates {
		g.open()
	}
}

func (r *run) addGate(g *gate) {
	r.mu.Lock()
	r.gates = append(r.gates, g)
	r.mu.Unlock()
	if r.ctx.Err() != nil {
		g.open() // stopped before the gate was known
	}
}

func (r *run) removeGate(g *gate) {
	r.mu.Lock()
	if i := slices.Index(r.gates, g); i >= 0 {
		r.gates = slices.Delete(r.gates, i, i+1)
	}
	r.mu.Unlock()
}

// step appends a step to the trace, up to maxSteps.
func (r *run) step(s hearth.TraceStep) {
	r.mu.Lock()
	if len(r.trace.Steps) < maxSteps {
		r.trace.Steps = append(r.trace.Steps, s)
	} else {
		r.omitted++
	}
	r.mu.Unlock()
}

// commanded notes a command sent, for the latency of the run's reaction.
func (r *run) commanded() {
	if r.evTime.IsZero() || r.eng.now == nil {
		return
	}
	r.mu.Lock()
	if !r.didReact {
		r.reactAt = r.eng.now()
	}
	r.mu.Unlock()
}

// reacted ends the reaction: the run is about to wait, so its latency is
// measured up to its last command so far.
func (r *run) reacted() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.didReact {
		return
	}
	r.didReact = true
	if !r.reactAt.IsZero() {
		r.rn.stats.latency.record(r.reactAt.Sub(r.evTime))
	}
}

// snapshot copies the trace of a run still going.
func (r *run) snapshot() hearth.Trace {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.trace
	t.Steps = slices.Clone(t.Steps)
	return t
}

// recordTrace keeps a finished run's trace: its summary for the list, the
// trace in memory when there is no log, and the trace in the log as a
// KindRun event (from the run's goroutine, never the consumer's).
func (e *Engine) recordTrace(st *stats, tr hearth.Trace, cause hearth.Cause) {
	st.finished(tr, e.eventLog == nil)
	e.outcomes.count(tr.Outcome)
	if e.events == nil {
		return
	}
	b, err := e.traceJSON(&tr)
	if err != nil {
		e.log.Warn("trace cannot be written as JSON", "run", tr.Run, "err", err)
		return
	}
	if _, err := e.events.Publish(hearth.Event{Kind: hearth.KindRun, Topic: st.topic, Payload: b, Cause: cause}); err != nil {
		e.log.Debug("trace not logged", "run", tr.Run, "err", err)
	}
}

// traceTopic is the topic of an automation's KindRun events.
func traceTopic(id string) string { return "$hearth/automations/" + id }
