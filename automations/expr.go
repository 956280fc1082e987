package automations

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// envKind says which variables an expression sees.
type envKind int

const (
	// envDevice: the `when` of a device trigger. The device's attributes are
	// top-level variables (unknown at load, so undefined names are allowed),
	// plus prev, device, states, now, this and the helpers.
	envDevice envKind = iota
	// envMQTT: the `when` of an mqtt trigger (mqttEnv).
	envMQTT
	// envRun: conditions, and everything a run evaluates (runEnv).
	envRun
)

// The names a device trigger's `when` sees besides the device's attributes;
// they win over attributes of the same name.
const (
	varPrev   = "prev"
	varDevice = "device"
	varStates = "states"
	varNow    = "now"
	varThis   = "this"
	varRepeat = "repeat"
)

// helperNames are the functions the engine gives every expression; an
// expression naming one of them (or this) gets them filled in.
var helperNames = []string{"since", "at", "between", "sunrise", "sunset", varThis}

// states is every device's attributes by device id, as the engine has
// folded them from the log.
type states = map[string]map[string]any

// helpers are the functions of the engine every expression may call. They
// are fields rather than compiled-in functions because a Set is shared:
// each engine (the live one, a what-if run) binds them to its own clock and
// states.
type helpers struct {
	// Since is how long ago a device's state last changed (very long when never).
	Since func(device string) time.Duration `expr:"since"`
	// At is today at a time of day ("07:30") in the hub's time zone.
	At func(clock string) time.Time `expr:"at"`
	// Between reports whether now is within [from, to), wrapping midnight.
	Between func(from, to string) bool `expr:"between"`
	// Sunrise and Sunset are today's, at the configured location. They
	// fail without a location (or on a day the sun does not rise or set
	// there) rather than give the zero time, which `now > sunset()` would
	// take for long ago: an expression that fails counts as false.
	Sunrise func() (time.Time, error) `expr:"sunrise"`
	Sunset  func() (time.Time, error) `expr:"sunset"`
}

// thisVars describes the automation an expression belongs to.
type thisVars struct {
	ID          string `expr:"id"`
	Description string `expr:"description"`
}

// mqttEnv is what the `when` of an mqtt trigger sees.
type mqttEnv struct {
	helpers
	Payload any       `expr:"payload"` // the message parsed as JSON, or the raw string
	Topic   string    `expr:"topic"`
	States  states    `expr:"states"`
	Now     time.Time `expr:"now"`
	This    thisVars  `expr:"this"`
}

// runEnv is what conditions, and a run's expressions and templates, see.
type runEnv struct {
	helpers
	States  states      `expr:"states"`
	Trigger triggerVars `expr:"trigger"`
	Now     time.Time   `expr:"now"`
	This    thisVars    `expr:"this"`
	Repeat  repeatVars  `expr:"repeat"`
}

// triggerVars describes what started a run. It is kept with a pending
// timer, so it survives a restart.
type triggerVars struct {
	ID      string         `expr:"id" json:"id,omitempty"`           // the trigger's id, or its position ("0")
	Kind    string         `expr:"kind" json:"kind"`                 // device, mqtt, at, cron, sun, event, run
	Device  string         `expr:"device" json:"device,omitempty"`   // the device of a device trigger
	Topic   string         `expr:"topic" json:"topic,omitempty"`     // the topic of the event
	Payload any            `expr:"payload" json:"payload,omitempty"` // the message, parsed as JSON when it is JSON
	State   map[string]any `expr:"state" json:"state,omitempty"`     // the device's new attributes
	Prev    map[string]any `expr:"prev" json:"prev,omitempty"`       // the device's previous attributes
}

// repeatVars describes the innermost repeat around an action.
type repeatVars struct {
	Index int  `expr:"index"` // 1 for the first time round
	First bool `expr:"first"`
	Last  bool `expr:"last"` // known only for a count
}

// expression is a compiled expression.
type expression struct {
	src     string
	prog    *vm.Program
	helpers bool    // it names a helper or this
	reads   []*read // what it reads, shown when it is false
}

// read is one input of an expression ("states.hall_lux.illuminance"),
// evaluated on its own so that a near miss can show what it saw. Most
// reads are paths (a variable and constant members below it), looked up in
// the environment directly (lookup); the others, a helper's call, are
// compiled with their expression when the file is loaded. Nothing is
// compiled while events are handled.
type read struct {
	text string
	path []any       // a path: the variable's name, then each member's name (string) or index (int); nil for the others
	prog *vm.Program // the others; nil when it does not compile
}

// value is what the read sees in env; nil when it cannot be evaluated.
func (r *read) value(m *vm.VM, env any) any {
	if r.path != nil {
		return lookup(env, r.path)
	}
	if r.prog == nil {
		return nil
	}
	v, err := m.Run(r.prog, env)
	if err != nil {
		return nil
	}
	return v
}

// eval runs the expression for a true or false answer.
func (x *expression) eval(m *vm.VM, env any) (bool, error) {
	out, err := m.Run(x.prog, env)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("%q gave %T, not true or false", x.src, out)
	}
	return b, nil
}

// value runs the expression for its value.
func (x *expression) value(m *vm.VM, env any) (any, error) { return m.Run(x.prog, env) }

// values evaluates what the expression reads, for a near miss or a trace,
// into into (which the caller has cleared) and returns it; nil when the
// expression reads nothing.
func (x *expression) values(m *vm.VM, env any, into map[string]any) map[string]any {
	if len(x.reads) == 0 {
		return nil
	}
	for _, r := range x.reads {
		into[r.text] = r.value(m, env)
	}
	return into
}

// compiler compiles expressions for one load, reusing the program of an
// identical expression (a thousand automations often share a `when`).
type compiler struct {
	options  map[envKind][]expr.Option
	cache    map[compileKey]*vm.Program
	syntaxes map[string]*syntax // by source; nil for one that does not parse
}

type compileKey struct {
	kind    envKind
	asValue bool
	src     string
}

func newCompiler() *compiler {
	deviceEnv := map[string]any{
		varPrev:   map[string]any{},
		varDevice: "",
		varStates: states{},
		varNow:    time.Time{},
		varThis:   thisVars{},
	}
	addHelpers(deviceEnv, helpers{})
	return &compiler{
		options: map[envKind][]expr.Option{
			envDevice: {expr.Env(deviceEnv), expr.AllowUndefinedVariables()},
			envMQTT:   {expr.Env(mqttEnv{})},
			envRun:    {expr.Env(runEnv{})},
		},
		cache:    map[compileKey]*vm.Program{},
		syntaxes: map[string]*syntax{},
	}
}

// addHelpers puts the helpers into a device `when`'s environment.
func addHelpers(env map[string]any, h helpers) {
	env["since"], env["at"], env["between"], env["sunrise"], env["sunset"] = h.Since, h.At, h.Between, h.Sunrise, h.Sunset
}

func (c *compiler) compile(kind envKind, src string, asValue bool) (p *vm.Program, err error) {
	key := compileKey{kind, asValue, src}
	if p, ok := c.cache[key]; ok {
		return p, nil
	}
	defer func() {
		// A panic in expr on some odd input must not take the hub down.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("the expression compiler failed: %v", r)
		}
	}()
	opts := c.options[kind]
	if !asValue {
		opts = append(slices.Clip(opts), expr.AsBool())
	}
	p, err = expr.Compile(src, opts...)
	if err != nil {
		return nil, err
	}
	c.cache[key] = p
	return p, nil
}

// expression reads and compiles a boolean expression; what names it in
// problems ("a condition", "when").
func (l *loader) expression(n ast.Node, what string, kind envKind) *expression {
	n = l.resolve(n)
	if n == nil {
		return nil
	}
	src, ok := "", false
	switch x := n.(type) {
	case *ast.StringNode, *ast.LiteralNode:
		src, ok = scalarText(x)
	}
	if !ok {
		l.errorf(n, "%s must be an expression written as a string, got %s", what, kindOf(n))
		return nil
	}
	return l.compileAt(n, src, what, kind, false)
}

// compileAt compiles src, found at n, and checks what it refers to.
func (l *loader) compileAt(n ast.Node, src, what string, kind envKind, asValue bool) *expression {
	if strings.TrimSpace(src) == "" {
		l.errorf(n, "%s is empty", what)
		return nil
	}
	prog, err := l.c.programs.compile(kind, src, asValue)
	if err != nil {
		line, col := exprPosition(n, err)
		if what == "template" {
			line, col = position(n) // the column of an error is within the {{ }}, not the string
		}
		l.problemAt(line, col, exprProblem(kind, what, src, err))
		return nil
	}
	x := &expression{src: src, prog: prog}
	l.inspect(n, x, kind, what)
	return x
}

// maxReads bounds the inputs a near miss shows for one expression.
const maxReads = 8

// inspect walks the expression's syntax: it lists what it reads (for near
// misses), notes the devices it names and checks the literal arguments of
// the helpers.
func (l *loader) inspect(n ast.Node, x *expression, kind envKind, what string) {
	syn := l.c.programs.syntaxOf(x.src)
	if syn == nil {
		return
	}
	for _, call := range syn.calls {
		switch call.name {
		case "since":
			for _, a := range call.args {
				l.device(n, a)
			}
		case "at", "between":
			for _, a := range call.args {
				if _, err := parseClock(a); err != nil {
					l.errorf(n, "%s %q: %s(%q): %v", what, x.src, call.name, a, err)
				}
			}
		case "sunrise", "sunset":
			l.c.callsSun(l.auto)
		}
	}
	if kind == envRun && l.repeats == 0 && slices.Contains(syn.names, varRepeat) {
		// Outside a repeat, repeat is all zero: repeat.index would read
		// 0 and repeat.first false, with no error, in every run.
		l.errorf(n, "%s %q reads repeat, which exists only inside a repeat (its actions, while and until)", what, x.src)
	}
	for _, d := range syn.devices {
		l.device(n, d)
	}
	for _, da := range syn.attrs {
		l.attribute(n, what, x.src, da.device, da.attr)
	}
	for _, rd := range syn.reads {
		r := &read{text: rd.text, path: rd.path}
		if r.path == nil {
			r.prog, _ = l.c.programs.compile(kind, rd.text, true) // one that does not compile shows nil
		}
		x.reads = append(x.reads, r)
	}
	x.helpers = syn.helpers
}

// exprPosition points into the YAML at the place of a compile error when the
// expression sits on one line of the file, and at the expression otherwise.
func exprPosition(n ast.Node, err error) (line, col int) {
	line, col = position(n)
	var fe *file.Error
	s, isString := n.(*ast.StringNode)
	if !isString || !errors.As(err, &fe) || fe.Line != 1 || strings.Contains(s.Value, "\n") {
		return line, col
	}
	if t := s.GetToken().Type; t == token.DoubleQuoteType || t == token.SingleQuoteType {
		col++
	}
	return line, col + fe.Column
}

// exprProblem words a compile error for people, without Go type names.
func exprProblem(kind envKind, what, src string, err error) string {
	msg := err.Error()
	var fe *file.Error
	if errors.As(err, &fe) {
		msg = fe.Message
	}
	if got, ok := strings.CutPrefix(msg, "expected bool, but got "); ok {
		return fmt.Sprintf("%s %q must give true or false, but gives %s", what, src, got)
	}
	msg = strings.ReplaceAll(msg, "type automations.triggerVars has no field", "trigger has no field")
	msg = strings.ReplaceAll(msg, "automations.triggerVars", "trigger")
	msg = strings.ReplaceAll(msg, "automations.thisVars", "this")
	msg = strings.ReplaceAll(msg, "automations.repeatVars", "repeat")
	if strings.HasPrefix(msg, "trigger has no field") {
		msg += " (it has id, kind, device, topic, payload, state and prev)"
	}
	if strings.HasPrefix(msg, "unknown name") {
		switch kind {
		case envMQTT:
			msg += " (an mqtt when sees payload, topic, states, now, this and the helpers)"
		case envRun:
			msg += " (a condition sees states, trigger, now, this, repeat and the helpers since, at, between, sunrise, sunset)"
		}
	}
	return fmt.Sprintf("%s %q does not compile: %s", what, src, msg)
}
