package automations

import (
	"context"
	"fmt"

	"github.com/goccy/go-yaml/ast"
)

// ifAction runs `then` when its conditions hold and `else` (if any) when
// they do not. Branch 0 is then, 1 is else.
type ifAction struct {
	conds     []condition
	then, els block
	desc      string
}

func (l *loader) ifAction(n ast.Node, fs fieldList) action {
	l.unknown(fs, "an if action", "if", "then", "else")
	f, _ := fs.get("if")
	a := &ifAction{conds: l.conditions(f.value, "if")}
	ok := len(a.conds) > 0
	if tf, has := fs.get("then"); has {
		var good bool
		a.then, good = l.actionList(tf, "then")
		ok = ok && good
	} else {
		l.errorf(n, "if needs then: the actions to run when it holds")
		ok = false
	}
	if ef, has := fs.get("else"); has {
		var good bool
		a.els, good = l.actionList(ef, "else")
		ok = ok && good
	}
	if !ok {
		return nil
	}
	a.desc = "if " + describeConditions(a.conds)
	return a
}

func (a *ifAction) describe() string { return a.desc }

func (a *ifAction) do(ctx context.Context, t *task) error {
	held, err := t.check(a.desc, a.conds)
	if err != nil {
		return err
	}
	if held {
		return t.child(ctx, a.then, 0, nil)
	}
	if a.els != nil {
		return t.child(ctx, a.els, 1, nil)
	}
	return nil
}

func (a *ifAction) resumeInto(ctx context.Context, t *task, branch int, rest []int) error {
	switch {
	case branch == 0:
		return t.child(ctx, a.then, 0, rest)
	case branch == 1 && a.els != nil:
		return t.child(ctx, a.els, 1, rest)
	}
	return errResume
}

// chooseAction runs the actions of the first option whose conditions
// hold, or its default when none does. Branch i is option i; the default
// is branch len(options).
type chooseAction struct {
	options []chooseOption
	def     block
}

type chooseOption struct {
	conds   []condition
	actions block
}

func (l *loader) chooseAction(fs fieldList) action {
	l.unknown(fs, "a choose action", "choose", "default")
	f, _ := fs.get("choose")
	items, ok := l.list(f, "choose")
	if ok && len(items) == 0 {
		l.errorf(f.value, "choose needs at least one option (conditions and actions)")
		ok = false
	}
	a := &chooseAction{}
	for _, it := range items {
		ofs, good := l.fields(it, "a choose option")
		if !good {
			ok = false
			continue
		}
		l.unknown(ofs, "a choose option", "conditions", "actions")
		var o chooseOption
		if cf, has := ofs.get("conditions"); has {
			o.conds = l.conditions(cf.value, "conditions")
		}
		if len(o.conds) == 0 {
			l.errorf(it, "a choose option needs conditions")
			ok = false
		}
		if af, has := ofs.get("actions"); has {
			o.actions, good = l.actionList(af, "actions")
			ok = ok && good
		} else {
			l.errorf(it, "a choose option needs actions")
			ok = false
		}
		a.options = append(a.options, o)
	}
	if df, has := fs.get("default"); has {
		var good bool
		a.def, good = l.actionList(df, "default")
		ok = ok && good
	}
	if !ok {
		return nil
	}
	return a
}

func (a *chooseAction) describe() string { return fmt.Sprintf("choose (%d options)", len(a.options)) }

func (a *chooseAction) do(ctx context.Context, t *task) error {
	for i, o := range a.options {
		held, err := t.check(fmt.Sprintf("choose option %d: %s", i+1, describeConditions(o.conds)), o.conds)
		if err != nil {
			return err
		}
		if held {
			return t.child(ctx, o.actions, i, nil)
		}
	}
	if a.def != nil {
		t.step("condition", "choose default", "true", nil, 0, "")
		return t.child(ctx, a.def, len(a.options), nil)
	}
	return nil
}

func (a *chooseAction) resumeInto(ctx context.Context, t *task, branch int, rest []int) error {
	switch {
	case branch >= 0 && branch < len(a.options):
		return t.child(ctx, a.options[branch].actions, branch, rest)
	case branch == len(a.options) && a.def != nil:
		return t.child(ctx, a.def, branch, rest)
	}
	return errResume
}
