package automations

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr/vm"
	"github.com/goccy/go-yaml/ast"
)

// condition is something that holds or not when a run is about to start,
// or inside a run (if, choose, wait, repeat). The forms: an expression
// string; and/or/not blocks of conditions; a time window.
type condition interface {
	// holds evaluates the condition.
	holds(ev *evaluator, env *runEnv) (bool, error)
	// text is the condition as written, for traces.
	text() string
	// explain puts the values the condition read, for a near miss or a
	// trace, into into (which the caller has cleared) and returns it; nil
	// when it read nothing.
	explain(ev *evaluator, env *runEnv, into map[string]any) map[string]any
}

// evaluator evaluates expressions on one goroutine. A run's evaluator locks
// the engine's states for reading; the consumer's needs no lock, as it is
// the one that writes them.
type evaluator struct {
	vm      vm.VM
	lock    *sync.RWMutex
	loc     *time.Location
	scratch map[string]any // the values of a near miss, reused: most repeat the last one and are not kept
}

// scratchValues returns the evaluator's map for values, emptied. What is
// put into it must be copied to be kept.
func (ev *evaluator) scratchValues() map[string]any {
	if ev.scratch == nil {
		ev.scratch = map[string]any{}
	}
	clear(ev.scratch)
	return ev.scratch
}

func (ev *evaluator) boolean(x *expression, env any) (bool, error) {
	if ev.lock != nil {
		ev.lock.RLock()
		defer ev.lock.RUnlock()
	}
	return x.eval(&ev.vm, env)
}

func (ev *evaluator) value(x *expression, env any) (any, error) {
	if ev.lock != nil {
		ev.lock.RLock()
		defer ev.lock.RUnlock()
	}
	return x.value(&ev.vm, env)
}

func (ev *evaluator) values(x *expression, env any, into map[string]any) map[string]any {
	if ev.lock != nil {
		ev.lock.RLock()
		defer ev.lock.RUnlock()
	}
	return x.values(&ev.vm, env, into)
}

// allHold evaluates conditions in order; it returns the first that does not
// hold (nil when all do). An error counts as not holding.
func allHold(ev *evaluator, env *runEnv, cs []condition) (condition, error) {
	for _, c := range cs {
		ok, err := c.holds(ev, env)
		if err != nil || !ok {
			return c, err
		}
	}
	return nil, nil
}

// exprCond is a condition written as an expression.
type exprCond struct{ x *expression }

func (c exprCond) holds(ev *evaluator, env *runEnv) (bool, error) { return ev.boolean(c.x, env) }
func (c exprCond) text() string                                   { return c.x.src }
func (c exprCond) explain(ev *evaluator, env *runEnv, into map[string]any) map[string]any {
	return ev.values(c.x, env, into)
}

// blockCond is an and, or or not block.
type blockCond struct {
	op    string // "and", "or", "not" (none holds)
	items []condition
}

func (c blockCond) holds(ev *evaluator, env *runEnv) (bool, error) {
	for _, it := range c.items {
		ok, err := it.holds(ev, env)
		if err != nil {
			ok = false
		}
		switch {
		case c.op == "and" && !ok:
			return false, err
		case c.op == "or" && ok:
			return true, nil
		case c.op == "not" && ok:
			return false, nil
		}
	}
	return c.op != "or", nil
}

func (c blockCond) text() string {
	parts := make([]string, len(c.items))
	for i, it := range c.items {
		parts[i] = it.text()
	}
	return c.op + "(" + strings.Join(parts, "; ") + ")"
}

func (c blockCond) explain(ev *evaluator, env *runEnv, into map[string]any) map[string]any {
	for _, it := range c.items {
		it.explain(ev, env, into)
	}
	return into
}

// timeCond holds within a window of the day and on some weekdays.
type timeCond struct {
	after, before       time.Duration
	hasAfter, hasBefore bool
	weekdays            uint8 // bit per time.Weekday; 0: every day
	src                 string
}

func (c timeCond) holds(ev *evaluator, env *runEnv) (bool, error) {
	return c.at(env.Now.In(ev.loc)), nil
}

// at reports whether the window holds at t (in the hub's zone).
func (c timeCond) at(t time.Time) bool {
	if c.weekdays != 0 && c.weekdays&(1<<t.Weekday()) == 0 {
		return false
	}
	tod := sinceMidnight(t)
	switch {
	case c.hasAfter && c.hasBefore && c.after <= c.before:
		return tod >= c.after && tod < c.before
	case c.hasAfter && c.hasBefore: // wraps midnight: 22:00 to 06:00
		return tod >= c.after || tod < c.before
	case c.hasAfter:
		return tod >= c.after
	case c.hasBefore:
		return tod < c.before
	}
	return true
}

func (c timeCond) text() string { return c.src }
func (c timeCond) explain(ev *evaluator, env *runEnv, into map[string]any) map[string]any {
	t := env.Now.In(ev.loc)
	into["now"], into["weekday"] = t.Format("15:04:05"), t.Weekday().String()
	return into
}

// sinceMidnight is the wall-clock time of day of t.
func sinceMidnight(t time.Time) time.Duration {
	h, m, s := t.Clock()
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second + time.Duration(t.Nanosecond())
}

var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// conditions reads a list of conditions (all must hold), or one condition
// written alone: what names the place in problems.
func (l *loader) conditions(n ast.Node, what string) []condition {
	n = l.resolve(n)
	switch x := n.(type) {
	case nil, *ast.NullNode:
		return nil
	case *ast.SequenceNode:
		var out []condition
		for _, it := range x.Values {
			if c := l.condition(it); c != nil {
				out = append(out, c)
			}
		}
		return out
	}
	if c := l.condition(n); c != nil {
		return []condition{c}
	}
	return nil
}

var conditionKeys = []string{"and", "or", "not", "after", "before", "weekdays"}

// condition reads one condition: an expression string, or a map that is an
// and/or/not block or a time window.
func (l *loader) condition(n ast.Node) condition {
	n = l.resolve(n)
	switch n.(type) {
	case nil:
		return nil
	case *ast.StringNode, *ast.LiteralNode:
		if x := l.expression(n, "a condition", envRun); x != nil {
			return exprCond{x}
		}
		return nil
	case *ast.MappingNode:
	default:
		l.errorf(n, "a condition must be an expression (a string), an and/or/not block or a time window (after, before, weekdays), got %s", kindOf(n))
		return nil
	}
	fs, _ := l.fields(n, "a condition")
	l.unknown(fs, "a condition", conditionKeys...)
	for _, op := range []string{"and", "or", "not"} {
		if f, ok := fs.get(op); ok {
			if len(fs) > 1 {
				l.errorf(n, "an %s block stands alone: write other conditions inside it or beside it in the list", op)
				return nil
			}
			items := l.conditions(f.value, op)
			if len(items) == 0 {
				l.errorf(f.keyNd, "%s needs at least one condition", op)
				return nil
			}
			return blockCond{op: op, items: items}
		}
	}
	c := timeCond{}
	ok := true
	var parts []string
	if f, has := fs.get("after"); has {
		c.after, c.hasAfter = l.timeOfDay(f, "after")
		ok = ok && c.hasAfter
		parts = append(parts, "after "+scalarOf(f.value))
	}
	if f, has := fs.get("before"); has {
		c.before, c.hasBefore = l.timeOfDay(f, "before")
		ok = ok && c.hasBefore
		parts = append(parts, "before "+scalarOf(f.value))
	}
	if f, has := fs.get("weekdays"); has {
		items, good := l.list(f, "weekdays")
		ok = ok && good
		var names []string
		for _, it := range items {
			it = l.resolve(it)
			s, isStr := it.(*ast.StringNode)
			d, known := weekdayNames[strings.ToLower(strings.TrimSpace(valueOr(s, isStr)))]
			if !isStr || !known {
				l.errorf(it, "weekdays holds day names: mon, tue, wed, thu, fri, sat, sun")
				ok = false
				continue
			}
			c.weekdays |= 1 << d
			names = append(names, d.String()[:3])
		}
		parts = append(parts, "on "+strings.Join(names, ","))
	}
	if !ok {
		return nil
	}
	c.src = fmt.Sprintf("time %s", strings.Join(parts, ", "))
	return c
}

func valueOr(s *ast.StringNode, ok bool) string {
	if !ok {
		return ""
	}
	return s.Value
}

// scalarOf is the text of a scalar node, "" for anything else.
func scalarOf(n ast.Node) string {
	s, _ := scalarText(n)
	return s
}
