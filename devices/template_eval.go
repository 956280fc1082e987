package devices

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// maxTemplateOutput bounds what a template may produce, so that replace or
// ~ cannot build a huge string.
const maxTemplateOutput = 64 << 10

// tkind is the type of a template value, Jinja's (Python's) types.
type tkind uint8

const (
	tUndef tkind = iota // a missing key or variable
	tNone
	tBool
	tInt
	tFloat
	tStr
	tMap
	tList
)

// tval is a template value.
type tval struct {
	k tkind
	b bool
	i int64
	f float64
	s string
	m map[string]any
	l []any
}

// tplEnv is what a template is evaluated with: value, and value_json
// decoded from the payload the first time it is named.
type tplEnv struct {
	value    tval
	payload  []byte
	json     tval
	jsonRead bool
	// decode, when set, decodes value_json instead of encoding/json: the
	// registry lends its own parser, which is quicker under the bus lock.
	decode func([]byte) (any, bool)
}

// valueEnv makes the environment of a value template for a payload.
func valueEnv(payload []byte) *tplEnv {
	return &tplEnv{value: tval{k: tStr, s: validString(payload)}, payload: payload}
}

// commandEnv makes the environment of a command template for a value.
func commandEnv(v any) *tplEnv {
	return &tplEnv{value: fromJSON(v), jsonRead: true, json: tval{k: tUndef}}
}

func (env *tplEnv) valueJSON() tval {
	if !env.jsonRead && env.decode != nil {
		env.jsonRead = true
		env.json = tval{k: tUndef} // value_json is undefined when the payload is not JSON
		if v, ok := env.decode(env.payload); ok {
			env.json = fromJSON(v)
		}
	}
	if !env.jsonRead {
		env.jsonRead = true
		d := json.NewDecoder(bytes.NewReader(env.payload))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil || d.More() {
			env.json = tval{k: tUndef} // value_json is undefined when the payload is not JSON
		} else {
			env.json = fromJSON(v)
		}
	}
	return env.json
}

// fromJSON makes a template value of a decoded JSON value; a json.Number
// without a fraction or exponent is an int, as Python reads it.
func fromJSON(v any) tval {
	switch v := v.(type) {
	case nil:
		return tval{k: tNone}
	case bool:
		return tval{k: tBool, b: v}
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return tval{k: tInt, i: i}
		}
		f, _ := v.Float64()
		return tval{k: tFloat, f: f}
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return tval{k: tInt, i: int64(v)}
		}
		return tval{k: tFloat, f: v}
	case string:
		return tval{k: tStr, s: v}
	case map[string]any:
		return tval{k: tMap, m: v}
	case []any:
		return tval{k: tList, l: v}
	}
	return tval{k: tStr, s: fmt.Sprint(v)}
}

// render evaluates the template to text. An expression whose value is
// undefined (value_json.x when the payload has no x) is an error: the
// caller keeps the device's state as it was.
func (t *template) render(env *tplEnv) (string, error) {
	if len(t.parts) == 1 && t.parts[0].expr == nil {
		return t.parts[0].text, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.expr == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := p.expr.eval(env)
		if err != nil {
			return "", err
		}
		if v.k == tUndef {
			return "", errors.New("the template's value is undefined")
		}
		b.WriteString(v.text())
		if b.Len() > maxTemplateOutput {
			return "", errors.New("the template's output is too long")
		}
	}
	return b.String(), nil
}

// text writes a value the way Jinja renders it.
func (v tval) text() string {
	switch v.k {
	case tNone:
		return "None"
	case tBool:
		if v.b {
			return "True"
		}
		return "False"
	case tInt:
		return strconv.FormatInt(v.i, 10)
	case tFloat:
		return pyFloat(v.f)
	case tStr:
		return v.s
	case tMap:
		return jsonText(v.m)
	case tList:
		return jsonText(v.l)
	}
	return ""
}

// pyFloat formats a float like Python's repr: 21.0, 0.1, 1e-05, 1e+16.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	x, _ := strconv.Atoi(exp)
	if x >= -4 && x < 16 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.ContainsAny(s, ".") {
			s += ".0"
		}
		return s
	}
	sign := "+"
	if x < 0 {
		sign, x = "-", -x
	}
	return fmt.Sprintf("%se%s%02d", mant, sign, x)
}

func (v tval) truthy() bool {
	switch v.k {
	case tBool:
		return v.b
	case tInt:
		return v.i != 0
	case tFloat:
		return v.f != 0
	case tStr:
		return v.s != ""
	case tMap:
		return len(v.m) > 0
	case tList:
		return len(v.l) > 0
	}
	return false
}

func (v tval) isNumber() bool { return v.k == tInt || v.k == tFloat }

func (v tval) num() float64 {
	if v.k == tInt {
		return float64(v.i)
	}
	return v.f
}

// tnode is a node of a compiled expression.
type tnode interface {
	eval(env *tplEnv) (tval, error)
}

type (
	litNode   struct{ v tval }
	varNode   struct{ name string }
	indexNode struct{ x, index tnode }
	negNode   struct{ x tnode }
	notNode   struct{ x tnode }
	logicNode struct {
		and  bool
		l, r tnode
	}
	cmpNode struct {
		op   string
		l, r tnode
	}
	binNode struct {
		op   string
		l, r tnode
	}
	condNode struct{ cond, then, other tnode }
	testNode struct {
		x    tnode
		test string
		neg  bool
	}
	filterNode struct {
		name string
		x    tnode
		args []tnode
	}
)

func (n litNode) eval(*tplEnv) (tval, error) { return n.v, nil }

func (n varNode) eval(env *tplEnv) (tval, error) {
	if n.name == "value_json" {
		return env.valueJSON(), nil
	}
	return env.value, nil
}

func (n indexNode) eval(env *tplEnv) (tval, error) {
	x, err := n.x.eval(env)
	if err != nil {
		return tval{}, err
	}
	i, err := n.index.eval(env)
	if err != nil {
		return tval{}, err
	}
	switch x.k {
	case tUndef:
		return tval{}, fmt.Errorf("cannot read %s of an undefined value", i.text())
	case tMap:
		if i.k == tStr {
			if v, ok := x.m[i.s]; ok {
				return fromJSON(v), nil
			}
		}
	case tList:
		if i.k == tInt {
			j := i.i
			if j < 0 {
				j += int64(len(x.l))
			}
			if j >= 0 && j < int64(len(x.l)) {
				return fromJSON(x.l[j]), nil
			}
		}
	case tStr:
		if i.k == tInt {
			r := []rune(x.s)
			j := i.i
			if j < 0 {
				j += int64(len(r))
			}
			if j >= 0 && j < int64(len(r)) {
				return tval{k: tStr, s: string(r[j])}, nil
			}
		}
	}
	return tval{k: tUndef}, nil
}

func (n negNode) eval(env *tplEnv) (tval, error) {
	x, err := n.x.eval(env)
	if err != nil {
		return tval{}, err
	}
	switch x.k {
	case tInt:
		return tval{k: tInt, i: -x.i}, nil
	case tFloat:
		return tval{k: tFloat, f: -x.f}, nil
	}
	return tval{}, fmt.Errorf("cannot negate %s", x.describe())
}

func (n notNode) eval(env *tplEnv) (tval, error) {
	x, err := n.x.eval(env)
	return tval{k: tBool, b: !x.truthy()}, err
}

func (n logicNode) eval(env *tplEnv) (tval, error) {
	l, err := n.l.eval(env)
	if err != nil || l.truthy() != n.and {
		return l, err // Python's and/or give the operand that decided
	}
	return n.r.eval(env)
}

func (n condNode) eval(env *tplEnv) (tval, error) {
	c, err := n.cond.eval(env)
	if err != nil {
		return tval{}, err
	}
	if c.truthy() {
		return n.then.eval(env)
	}
	return n.other.eval(env)
}

func (n testNode) eval(env *tplEnv) (tval, error) {
	x, err := n.x.eval(env)
	if err != nil {
		return tval{}, err
	}
	var ok bool
	switch n.test {
	case "defined":
		ok = x.k != tUndef
	case "undefined":
		ok = x.k == tUndef
	case "none":
		ok = x.k == tNone
	case "number":
		ok = x.isNumber()
	case "string":
		ok = x.k == tStr
	case "mapping":
		ok = x.k == tMap
	}
	return tval{k: tBool, b: ok != n.neg}, nil
}

func (n cmpNode) eval(env *tplEnv) (tval, error) {
	l, err := n.l.eval(env)
	if err != nil {
		return tval{}, err
	}
	r, err := n.r.eval(env)
	if err != nil {
		return tval{}, err
	}
	switch n.op {
	case "==":
		return tval{k: tBool, b: equalT(l, r)}, nil
	case "!=":
		return tval{k: tBool, b: !equalT(l, r)}, nil
	case "in":
		return containsT(r, l)
	}
	var c int
	switch {
	case l.isNumber() && r.isNumber():
		c = cmpFloat(l.num(), r.num())
	case l.k == tStr && r.k == tStr:
		c = strings.Compare(l.s, r.s)
	default:
		return tval{}, fmt.Errorf("cannot compare %s with %s", l.describe(), r.describe())
	}
	var b bool
	switch n.op {
	case "<":
		b = c < 0
	case "<=":
		b = c <= 0
	case ">":
		b = c > 0
	case ">=":
		b = c >= 0
	}
	return tval{k: tBool, b: b}, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func equalT(a, b tval) bool {
	switch {
	case a.isNumber() && b.isNumber():
		return a.num() == b.num()
	case a.k != b.k:
		return false
	case a.k == tStr:
		return a.s == b.s
	case a.k == tBool:
		return a.b == b.b
	case a.k == tNone:
		return true
	case a.k == tMap:
		return equalValue(normalizeJSON(a.m), normalizeJSON(b.m))
	case a.k == tList:
		return equalValue(normalizeJSON(a.l), normalizeJSON(b.l))
	}
	return false
}

func containsT(haystack, needle tval) (tval, error) {
	switch haystack.k {
	case tStr:
		if needle.k == tStr {
			return tval{k: tBool, b: strings.Contains(haystack.s, needle.s)}, nil
		}
	case tMap:
		if needle.k == tStr {
			_, ok := haystack.m[needle.s]
			return tval{k: tBool, b: ok}, nil
		}
		return tval{k: tBool}, nil
	case tList:
		for _, x := range haystack.l {
			if equalT(fromJSON(x), needle) {
				return tval{k: tBool, b: true}, nil
			}
		}
		return tval{k: tBool}, nil
	}
	return tval{}, fmt.Errorf("cannot look for %s in %s", needle.describe(), haystack.describe())
}

func (n binNode) eval(env *tplEnv) (tval, error) {
	l, err := n.l.eval(env)
	if err != nil {
		return tval{}, err
	}
	r, err := n.r.eval(env)
	if err != nil {
		return tval{}, err
	}
	if n.op == "~" {
		s := l.text() + r.text()
		if len(s) > maxTemplateOutput {
			return tval{}, errors.New("the template's output is too long")
		}
		return tval{k: tStr, s: s}, nil
	}
	if n.op == "+" && l.k == tStr && r.k == tStr {
		if len(l.s)+len(r.s) > maxTemplateOutput {
			return tval{}, errors.New("the template's output is too long")
		}
		return tval{k: tStr, s: l.s + r.s}, nil
	}
	if !l.isNumber() || !r.isNumber() {
		return tval{}, fmt.Errorf("cannot compute %s %s %s", l.describe(), n.op, r.describe())
	}
	if l.k == tInt && r.k == tInt {
		a, b := l.i, r.i
		switch n.op {
		case "+":
			return tval{k: tInt, i: a + b}, nil
		case "-":
			return tval{k: tInt, i: a - b}, nil
		case "*":
			return tval{k: tInt, i: a * b}, nil
		case "//", "%":
			if b == 0 {
				return tval{}, errors.New("division by zero")
			}
			q, m := a/b, a%b
			if m != 0 && (m < 0) != (b < 0) { // Python floors
				q--
				m += b
			}
			if n.op == "//" {
				return tval{k: tInt, i: q}, nil
			}
			return tval{k: tInt, i: m}, nil
		}
	}
	a, b := l.num(), r.num()
	switch n.op {
	case "+":
		return tval{k: tFloat, f: a + b}, nil
	case "-":
		return tval{k: tFloat, f: a - b}, nil
	case "*":
		return tval{k: tFloat, f: a * b}, nil
	}
	if b == 0 {
		return tval{}, errors.New("division by zero")
	}
	switch n.op {
	case "/":
		return tval{k: tFloat, f: a / b}, nil
	case "//":
		return tval{k: tFloat, f: math.Floor(a / b)}, nil
	}
	m := math.Mod(a, b)
	if m != 0 && (m < 0) != (b < 0) {
		m += b
	}
	return tval{k: tFloat, f: m}, nil
}

// describe names a value in an error.
func (v tval) describe() string {
	switch v.k {
	case tUndef:
		return "an undefined value"
	case tNone:
		return "none"
	case tStr:
		return strconv.Quote(v.s)
	case tMap:
		return "an object"
	case tList:
		return "a list"
	}
	return v.text()
}

func (n filterNode) eval(env *tplEnv) (tval, error) {
	x, err := n.x.eval(env)
	if err != nil {
		return tval{}, err
	}
	args := make([]tval, len(n.args))
	for i, a := range n.args {
		if args[i], err = a.eval(env); err != nil {
			return tval{}, err
		}
	}
	v, err := filters[n.name](x, args)
	if err != nil {
		return tval{}, fmt.Errorf("%s: %w", n.name, err)
	}
	return v, nil
}
