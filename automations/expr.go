package automations

import (
	"errors"
	"fmt"
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
	// plus prev, device, states and now.
	envDevice envKind = iota
	// envMQTT: the `when` of an mqtt trigger (mqttEnv).
	envMQTT
	// envCondition: a condition (conditionEnv).
	envCondition
)

// The names a device trigger's `when` sees besides the device's attributes;
// they win over attributes of the same name.
const (
	varPrev   = "prev"
	varDevice = "device"
	varStates = "states"
	varNow    = "now"
)

// states is every device's attributes by device id, as the engine has
// folded them from the log.
type states = map[string]map[string]any

// mqttEnv is what the `when` of an mqtt trigger sees.
type mqttEnv struct {
	Payload any       `expr:"payload"` // the message parsed as JSON, or the raw string
	Topic   string    `expr:"topic"`
	States  states    `expr:"states"`
	Now     time.Time `expr:"now"`
}

// conditionEnv is what a condition sees.
type conditionEnv struct {
	States  states      `expr:"states"`
	Trigger triggerVars `expr:"trigger"`
	Now     time.Time   `expr:"now"`
}

// triggerVars describes what fired the automation.
type triggerVars struct {
	Device  string         `expr:"device"`  // the device of a device trigger
	Topic   string         `expr:"topic"`   // the topic of the event
	Payload any            `expr:"payload"` // the message, parsed as JSON when it is JSON
	State   map[string]any `expr:"state"`   // the device's new attributes
	Prev    map[string]any `expr:"prev"`    // the device's previous attributes
}

// expression is a compiled boolean expression.
type expression struct {
	src  string
	prog *vm.Program
}

// eval runs the expression; a result that is not a bool is an error.
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

// compiler compiles expressions for one load, reusing the program of an
// identical expression (a thousand automations often share a `when`).
type compiler struct {
	options map[envKind][]expr.Option
	cache   map[compileKey]*vm.Program
}

type compileKey struct {
	kind envKind
	src  string
}

func newCompiler() *compiler {
	deviceEnv := map[string]any{
		varPrev:   map[string]any{},
		varDevice: "",
		varStates: states{},
		varNow:    time.Time{},
	}
	return &compiler{
		options: map[envKind][]expr.Option{
			envDevice:    {expr.Env(deviceEnv), expr.AllowUndefinedVariables(), expr.AsBool()},
			envMQTT:      {expr.Env(mqttEnv{}), expr.AsBool()},
			envCondition: {expr.Env(conditionEnv{}), expr.AsBool()},
		},
		cache: map[compileKey]*vm.Program{},
	}
}

func (c *compiler) compile(kind envKind, src string) (p *vm.Program, err error) {
	key := compileKey{kind, src}
	if p, ok := c.cache[key]; ok {
		return p, nil
	}
	defer func() {
		// A panic in expr on some odd input must not take the hub down.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("the expression compiler failed: %v", r)
		}
	}()
	p, err = expr.Compile(src, c.options[kind]...)
	if err != nil {
		return nil, err
	}
	c.cache[key] = p
	return p, nil
}

// expression reads and compiles an expression; what names it in problems
// ("a condition", "when").
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
	if strings.TrimSpace(src) == "" {
		l.errorf(n, "%s is empty", what)
		return nil
	}
	prog, err := l.c.programs.compile(kind, src)
	if err != nil {
		line, col := exprPosition(n, err)
		l.problemAt(line, col, exprProblem(kind, what, src, err))
		return nil
	}
	return &expression{src: src, prog: prog}
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
	if strings.HasPrefix(msg, "trigger has no field") {
		msg += " (it has device, topic, payload, state and prev)"
	}
	if strings.HasPrefix(msg, "unknown name") {
		switch kind {
		case envMQTT:
			msg += " (an mqtt when sees payload, topic, states and now)"
		case envCondition:
			msg += " (a condition sees states, trigger and now)"
		}
	}
	return fmt.Sprintf("%s %q does not compile: %s", what, src, msg)
}
