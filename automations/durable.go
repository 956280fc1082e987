package automations

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"hearth"
)

// The durable timer rule: a delay, a wait (with or without a timeout) and
// a `for:` window are stored (Persist.SaveTimer) when armed and deleted
// when they fire or are cancelled (a restart-mode run, a reload that
// changes or removes the automation, disabling it), inside a `parallel`
// too: each branch stores its own, under its own path, so the stored
// timers of a run are the branches still going. A `for:` window that
// fires stays stored, marked Fired, until its `when` stops holding, so
// that a restart does not fire the same hold again. Close does not delete
// them: the next start restores them (Resume). A stored timer holds a
// timerState.

// timerKind says what a stored timer is.
type timerKind string

const (
	timerDelay timerKind = "delay"
	timerWait  timerKind = "wait"
	timerFor   timerKind = "for"
)

// timerState is the JSON kept in hearth.PendingTimer.State: what the engine
// needs to resume a run or reconcile a window after a restart.
type timerState struct {
	Kind timerKind `json:"kind"`
	// Hash is the automation's Hash when the timer was armed: a run resumes
	// only into the same definition (the resume path indexes its actions).
	Hash string `json:"hash"`
	// Run is the run's id (delay, wait); it keeps it after the restart.
	Run string `json:"run,omitempty"`
	// Path is the resume point: the index of a top-level action, then for
	// each if/choose/repeat it is inside, the branch (then 0, else 1; the
	// option of a choose, its default last; the round of a repeat, from 0)
	// and the index in that branch, down to the delay or wait. A parallel
	// counts as a container whose branches are numbered from 0; a run
	// waiting in several branches stores one timer per branch.
	Path []int `json:"path,omitempty"`
	// Forever marks a wait without a timeout: it has no due time (the
	// stored Due is foreverDue) and waits again after a restart.
	Forever bool `json:"forever,omitempty"`
	// Trigger is the position of a `for:` window's trigger.
	Trigger int `json:"trigger,omitempty"`
	// Fired marks a `for:` window that fired and whose `when` still holds:
	// it has no due time (foreverDue) and is not armed again after a restart.
	Fired bool `json:"fired,omitempty"`
	// Cause and Vars are the run's cause and trigger variables.
	Cause hearth.Cause `json:"cause"`
	Vars  triggerVars  `json:"vars"`
	// Armed is when the timer was armed.
	Armed time.Time `json:"armed"`
}

// foreverDue is the Due stored for a wait without a timeout and a fired
// window: later than any real timer, and still a time the store can keep
// (as Unix nanoseconds).
var foreverDue = time.Date(2200, time.January, 1, 0, 0, 0, 0, time.UTC)

// saveTimer stores a run's timer.
func (e *Engine) saveTimer(id string, r *run, due time.Time, st timerState) {
	if e.writer == nil {
		return
	}
	st.Hash, st.Run, st.Cause, st.Vars, st.Armed = r.auto.Hash, r.id, r.cause, r.vars, e.clock.Now()
	e.writeTimer(id, r.auto.ID, due, st)
}

// saveWindow stores a `for:` window: armed, with its due time and the
// event that armed it, or fired.
func (e *Engine) saveWindow(rn *runner, w *window) {
	if e.writer == nil {
		return
	}
	w.stored = windowID(rn.def().ID, w.trig)
	st := timerState{Kind: timerFor, Hash: rn.def().Hash, Trigger: w.trig, Fired: w.fired, Armed: e.clock.Now()}
	due := foreverDue
	if !w.fired {
		st.Cause, st.Vars, due = hearth.Cause{Seq: w.seq, Source: "automation"}, w.vars, w.due
	}
	e.writeTimer(w.stored, rn.def().ID, due, st)
}

func (e *Engine) writeTimer(id, auto string, due time.Time, st timerState) {
	b, err := json.Marshal(st)
	if err != nil {
		e.log.Warn("timer not stored: its state cannot be written as JSON", "timer", id, "err", err)
		return
	}
	e.writer.put(id, &hearth.PendingTimer{ID: id, Automation: auto, Due: due, State: b})
}

// deleteTimer forgets a stored timer.
func (e *Engine) deleteTimer(id string) {
	if e.writer != nil {
		e.writer.put(id, nil)
	}
}

// persister writes timers to the store in a goroutine of its own, so that
// neither the consumer nor a run waits on the disk. Writes to one timer id
// are coalesced, last one wins, in order.
type persister struct {
	p   Persist
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]*hearth.PendingTimer // nil: delete
	order   []string
	flushed []chan struct{} // waiters for the next round
	wake    chan struct{}
	quit    chan struct{}
	done    chan struct{}
}

func newPersister(p Persist, log *slog.Logger) *persister {
	w := &persister{p: p, log: log, pending: map[string]*hearth.PendingTimer{},
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

func (w *persister) put(id string, t *hearth.PendingTimer) {
	w.mu.Lock()
	if _, ok := w.pending[id]; !ok {
		w.order = append(w.order, id)
	}
	w.pending[id] = t
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *persister) loop() {
	defer close(w.done)
	for {
		select {
		case <-w.wake:
			w.write()
		case <-w.quit:
			w.write()
			return
		}
	}
}

// write applies what is pending.
func (w *persister) write() {
	w.mu.Lock()
	pending, order, flushed := w.pending, w.order, w.flushed
	w.pending, w.order, w.flushed = map[string]*hearth.PendingTimer{}, nil, nil
	w.mu.Unlock()
	for _, id := range order {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var err error
		if t := pending[id]; t != nil {
			err = w.p.SaveTimer(ctx, *t)
		} else {
			err = w.p.DeleteTimer(ctx, id)
		}
		cancel()
		if err != nil {
			w.log.Warn("pending timer not written: it may not survive a restart", "timer", id, "err", err)
		}
	}
	for _, ch := range flushed {
		close(ch)
	}
}

// sync waits until everything put so far is written.
func (w *persister) sync() {
	ch := make(chan struct{})
	w.mu.Lock()
	w.flushed = append(w.flushed, ch)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	select {
	case <-ch:
	case <-w.done:
	}
}

// close writes what is pending and stops.
func (w *persister) close() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.done
}
