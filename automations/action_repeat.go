package automations

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/goccy/go-yaml/ast"
)

// maxRepeat caps the rounds of a while or until repeat: a condition that
// never changes must not spin forever.
const maxRepeat = 10000

// repeatAction runs its actions a number of times (count), while its
// conditions hold (checked before each round) or until they hold (checked
// after each round), at most maxRepeat rounds. repeat.index (from 1),
// repeat.first and repeat.last (count only) tell the actions which round it
// is. The branch of a resume path is the round, from 0, so a restart inside
// the loop goes on with the right round.
type repeatAction struct {
	count   int
	while   []condition
	until   []condition
	actions block
	desc    string
}

func (l *loader) repeatAction(fs fieldList) action {
	l.unknown(fs, "a repeat action", "repeat")
	f, _ := fs.get("repeat")
	rfs, ok := l.fields(f.value, "repeat")
	if !ok {
		return nil
	}
	l.unknown(rfs, "repeat", "count", "while", "until", "actions")
	// Its while, until and actions see repeat (the count does not).
	l.repeats++
	defer func() { l.repeats-- }()
	a := &repeatAction{}
	kinds := 0
	if cf, has := rfs.get("count"); has {
		kinds++
		n, good := l.integer(cf, "count", 1, maxRepeat)
		a.count = n
		ok = ok && good
		a.desc = fmt.Sprintf("repeat %d times", n)
	}
	if wf, has := rfs.get("while"); has {
		kinds++
		a.while = l.conditions(wf.value, "while")
		ok = ok && len(a.while) > 0
		a.desc = "repeat while " + describeConditions(a.while)
	}
	if uf, has := rfs.get("until"); has {
		kinds++
		a.until = l.conditions(uf.value, "until")
		ok = ok && len(a.until) > 0
		a.desc = "repeat until " + describeConditions(a.until)
	}
	if kinds != 1 {
		l.errorf(f.value, "repeat needs exactly one of count, while or until")
		ok = false
	}
	if af, has := rfs.get("actions"); has {
		var good bool
		a.actions, good = l.actionList(af, "actions")
		ok = ok && good
	} else {
		l.errorf(f.value, "repeat needs actions")
		ok = false
	}
	if !ok {
		return nil
	}
	return a
}

func (a *repeatAction) describe() string { return a.desc }

func (a *repeatAction) do(ctx context.Context, t *task) error { return a.from(ctx, t, 0, nil) }

func (a *repeatAction) resumeInto(ctx context.Context, t *task, branch int, rest []int) error {
	if branch < 0 || branch >= maxRepeat {
		return errResume
	}
	return a.from(ctx, t, branch, rest)
}

// from runs rounds from round (0-based), the first of them from resume.
func (a *repeatAction) from(ctx context.Context, t *task, round int, resume []int) error {
	outer := t.repeat
	defer func() { t.repeat = outer }()
	for ; round < maxRepeat; round++ {
		if a.count > 0 && round >= a.count {
			return nil
		}
		t.repeat = repeatVars{Index: round + 1, First: round == 0, Last: a.count > 0 && round == a.count-1}
		if a.while != nil && resume == nil {
			held, err := t.check(a.desc, a.while)
			if err != nil || !held {
				return err
			}
		}
		if err := t.child(ctx, a.actions, round, resume); err != nil {
			return err
		}
		resume = nil
		if a.until != nil {
			held, err := t.check(a.desc, a.until)
			if err != nil || held {
				return err
			}
		}
	}
	t.step("action", a.desc, "stopped", nil, 0, fmt.Sprintf("stopped after %d rounds (the most a repeat may run)", maxRepeat))
	return nil
}

// parallelAction runs its branches side by side and goes on when all have
// ended. A branch that fails or stops ends alone: the others go on, and so
// does the run after them (the failed or stopped step is in the trace);
// only the run's own end (cancelled, the hub stopping) ends it here. Each
// branch stores its own timers (path: the parallel, the branch, the index
// in it, ...), so after a restart the branches that were still waiting
// resume where they were and the ones that had ended stay ended.
type parallelAction struct {
	branches []block
}

func (l *loader) parallelAction(fs fieldList) action {
	l.unknown(fs, "a parallel action", "parallel")
	f, _ := fs.get("parallel")
	items, ok := l.list(f, "parallel")
	if ok && len(items) < 2 {
		l.errorf(f.value, "parallel needs at least two branches (each an action, or a list of actions)")
		ok = false
	}
	a := &parallelAction{}
	for _, it := range items {
		it = l.resolve(it)
		switch x := it.(type) {
		case *ast.SequenceNode:
			b := l.actions(x.Values)
			if len(b) != len(x.Values) {
				ok = false
			}
			a.branches = append(a.branches, b)
		case nil:
			ok = false
		default:
			act := l.action(x)
			if act == nil {
				ok = false
				continue
			}
			a.branches = append(a.branches, block{act})
		}
	}
	if !ok {
		return nil
	}
	return a
}

func (a *parallelAction) describe() string {
	return fmt.Sprintf("parallel (%d branches)", len(a.branches))
}

func (a *parallelAction) do(ctx context.Context, t *task) error {
	starts := make([]branchStart, len(a.branches))
	for i := range starts {
		starts[i] = branchStart{branch: i}
	}
	return a.runBranches(ctx, t, starts)
}

// resumeInto resumes every branch that has a stored timer under this
// parallel (the run keeps them all), not only the one of branch and rest;
// the branches without one had ended before the restart.
func (a *parallelAction) resumeInto(ctx context.Context, t *task, branch int, rest []int) error {
	starts := t.r.resumeBranches(t.path)
	if len(starts) == 0 {
		return errResume
	}
	for _, s := range starts {
		if s.branch < 0 || s.branch >= len(a.branches) {
			return errResume
		}
	}
	return a.runBranches(ctx, t, starts)
}

// runBranches runs the given branches side by side, each from its start.
func (a *parallelAction) runBranches(ctx context.Context, t *task, starts []branchStart) error {
	r := t.r
	errs := make([]error, len(starts))
	var wg sync.WaitGroup
	var left atomic.Int32
	left.Store(int32(len(starts)))
	// The branches run on goroutines of their own and count as busy until
	// each ends; this task waits for the last of them, which opens its gate.
	done := r.eng.newGate()
	r.eng.idle.add(len(starts))
	for k, s := range starts {
		b := a.branches[s.branch]
		bt := &task{r: r, durable: t.durable, repeat: t.repeat, path: append(slices.Clone(t.path), s.branch)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = b.run(ctx, bt, s.resume)
			if left.Add(-1) == 0 {
				done.open()
			}
			r.eng.idle.add(-1)
		}()
	}
	r.eng.idle.add(-1)
	<-done.ch // not cancellable: the branches end on the same context
	wg.Wait()
	// The run itself was cancelled: it ends here, whatever the branches said.
	if err := ctx.Err(); err != nil {
		return err
	}
	for k, err := range errs {
		switch {
		case err == nil, isStopped(err):
			// A stop ends its branch alone; its step says so.
		case errors.Is(err, errResume):
			// The stored place does not fit the actions: the run cannot
			// go on as it would have, so it fails as a whole.
			return err
		default:
			// The failing step is in the trace; the log says it once,
			// here, as it would a run's failure.
			r.eng.log.Warn("parallel branch failed; the run goes on", "automation", r.auto.ID, "run", r.id,
				"branch", starts[k].branch+1, "err", err)
		}
	}
	return nil
}
