package automations

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// action is one step of a run. Each kind lives in its own file: it reads
// itself from YAML (a loader method) and does its work on the run's
// context, returning early with the context's error when the run is
// cancelled.
type action interface {
	do(ctx context.Context, t *task) error
	// describe says what the action is, for traces ("delay 5m").
	describe() string
}

// container is an action holding lists of actions (if, choose, repeat): a
// run that stopped inside one at a restart resumes there.
type container interface {
	action
	// resumeInto runs the rest of child list branch from the resume point
	// rest (an index, then deeper branch/index pairs), then the rest of the
	// action as if it had got there normally.
	resumeInto(ctx context.Context, t *task, branch int, rest []int) error
}

// pauser is an action a run waits in (delay, wait): a restart resumes it.
type pauser interface {
	action
	// resume goes on waiting until the timer that was pending fires (at
	// t.resumeDue), or at once when it is due.
	resume(ctx context.Context, t *task) error
}

// errStopped ends a run early, at a stop action.
type errStopped struct{ reason string }

func (e *errStopped) Error() string { return "stopped: " + e.reason }

// errResume says a resume point does not fit the automation's actions.
var errResume = errors.New("the resume point does not fit the actions")

// block is a list of actions run in order.
type block []action

// run runs the actions from the start, or, when resume is set, from inside
// the action it points at and then on.
func (b block) run(ctx context.Context, t *task, resume []int) error {
	from := 0
	if len(resume) > 0 {
		i := resume[0]
		if i < 0 || i >= len(b) {
			return errResume
		}
		t.path = append(t.path, i)
		var err error
		switch a := b[i].(type) {
		case pauser:
			p, ok := t.r.claimResume(t.path)
			if len(resume) != 1 || !ok {
				return errResume
			}
			t.resumeDue = p.due
			err = a.resume(ctx, t)
		case container:
			if len(resume) < 3 {
				return errResume
			}
			err = a.resumeInto(ctx, t, resume[1], resume[2:])
		default:
			return errResume
		}
		t.path = t.path[:len(t.path)-1]
		if err != nil {
			return err
		}
		from = i + 1
	}
	for i := from; i < len(b); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		t.path = append(t.path, i)
		err := b[i].do(ctx, t)
		t.path = t.path[:len(t.path)-1]
		if err != nil {
			return err
		}
	}
	return nil
}

// child runs list c of a container, as branch number branch.
func (t *task) child(ctx context.Context, c block, branch int, resume []int) error {
	t.path = append(t.path, branch)
	err := c.run(ctx, t, resume)
	t.path = t.path[:len(t.path)-1]
	return err
}

// actionKinds are the keys that say what kind an action is.
var actionKinds = []string{"set", "publish", "delay", "wait", "if", "choose", "repeat", "parallel", "log", "scene", "stop", "notify"}

// actions reads a list of actions.
func (l *loader) actions(items []ast.Node) block {
	var out block
	for _, n := range items {
		if a := l.action(n); a != nil {
			out = append(out, a)
		}
	}
	return out
}

// actionList reads the value of a key that holds actions: a list, or one
// action written alone.
func (l *loader) actionList(f field, what string) (block, bool) {
	switch x := f.value.(type) {
	case nil:
		return nil, false
	case *ast.SequenceNode:
		if len(x.Values) == 0 {
			l.errorf(x, "%s is empty", what)
			return nil, false
		}
		return l.actions(x.Values), true
	case *ast.MappingNode:
		if a := l.action(x); a != nil {
			return block{a}, true
		}
		return nil, false
	}
	l.errorf(f.value, "%s must be a list of actions, got %s", what, kindOf(f.value))
	return nil, false
}

// action reads one item of an automation's actions.
func (l *loader) action(n ast.Node) action {
	fs, ok := l.fields(n, "an action")
	if !ok {
		return nil
	}
	kind, ok := l.kind(n, fs, "an action", actionKinds)
	if !ok {
		return nil
	}
	switch kind {
	case "set":
		return l.setAction(n, fs)
	case "publish":
		return l.publishAction(n, fs)
	case "delay":
		return l.delayAction(fs)
	case "wait":
		return l.waitAction(fs)
	case "if":
		return l.ifAction(n, fs)
	case "choose":
		return l.chooseAction(fs)
	case "repeat":
		return l.repeatAction(fs)
	case "parallel":
		return l.parallelAction(fs)
	case "log":
		return l.logAction(fs)
	case "scene":
		return l.sceneAction(fs)
	case "stop":
		return l.stopAction(fs)
	case "notify":
		return l.notifyAction(fs)
	}
	return nil
}

// describeConditions words a list of conditions for a trace.
func describeConditions(cs []condition) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.text()
	}
	return strings.Join(parts, " and ")
}

// pathText writes a resume path as "2.0.1", for timer ids.
func pathText(p []int) string {
	var b strings.Builder
	for i, x := range p {
		if i > 0 {
			b.WriteByte('.')
		}
		fmt.Fprint(&b, x)
	}
	return b.String()
}
