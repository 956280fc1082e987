package devices

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Home Assistant discovery configs carry Jinja templates
// (value_template, command_template). Real firmware uses a small part of
// Jinja: {{ value_json.x }}, {{ value_json['x'] }}, {{ value }}, a few
// filters, sometimes an inline if. This is an evaluator of that part, our
// own: a template is parsed once when its config arrives, and anything
// outside the part (a {% %} statement, a function of Home Assistant's such
// as states(), an unknown filter) is an error then, which the adapter keeps
// as a warning on the device rather than failing the device.
//
// The grammar, Jinja's, from loosest to tightest binding:
//
//	expr    = or [ "if" or [ "else" expr ] ]
//	or      = and { "or" and }
//	and     = not { "and" not }
//	not     = "not" not | compare
//	compare = concat [ ("=="|"!="|"<"|"<="|">"|">="|"in"|"not in") concat | "is" ["not"] test ]
//	concat  = sum { "~" sum }
//	sum     = product { ("+"|"-") product }
//	product = unary { ("*"|"/"|"//"|"%") unary }
//	unary   = "-" unary | postfix { "|" filter [ "(" args ")" ] }
//	postfix = primary { "." name | "[" expr "]" }
//	primary = name | number | string | "(" expr ")" | function "(" args ")"

// maxTemplateLen bounds a template's source, and maxTemplateDepth how deep
// its expressions nest, so that a hostile config cannot cost much.
const (
	maxTemplateLen   = 4096
	maxTemplateDepth = 40
)

// template is a compiled template: text and expressions in turn.
type template struct {
	src   string
	parts []tplPart
}

type tplPart struct {
	text string
	expr tnode // nil for text
}

// errUnsupported marks a template that uses more of Jinja than we evaluate.
var errUnsupported = errors.New("unsupported")

// parseTemplate compiles src; vars are the variables it may name (value,
// value_json).
func parseTemplate(src string, vars ...string) (*template, error) {
	if len(src) > maxTemplateLen {
		return nil, fmt.Errorf("template of %d bytes: at most %d", len(src), maxTemplateLen)
	}
	t := &template{src: src}
	rest := src
	trimNext := false
	for rest != "" {
		i := nextTag(rest)
		text := rest
		if i >= 0 {
			text = rest[:i]
		}
		if trimNext {
			text = strings.TrimLeft(text, " \t\r\n")
		}
		if i >= 0 && i+2 < len(rest) && rest[i+2] == '-' {
			text = strings.TrimRight(text, " \t\r\n")
		}
		if text != "" {
			t.parts = append(t.parts, tplPart{text: text})
		}
		if i < 0 {
			break
		}
		switch rest[i+1] {
		case '%':
			return nil, fmt.Errorf("%w: statements ({%% %%}) are not evaluated; use an inline if", errUnsupported)
		case '#':
			end := strings.Index(rest[i+2:], "#}")
			if end < 0 {
				return nil, errors.New("comment {# is not closed")
			}
			rest = rest[i+2+end+2:]
			trimNext = false
			continue
		}
		body := i + 2
		if body < len(rest) && rest[body] == '-' {
			body++
		}
		p := &tparser{src: rest, pos: body, vars: vars}
		x, err := p.parseExpr(0)
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		trimNext = false
		if strings.HasPrefix(rest[p.pos:], "-}}") {
			trimNext = true
			p.pos++
		}
		if !strings.HasPrefix(rest[p.pos:], "}}") {
			return nil, p.errorf("expected }}")
		}
		t.parts = append(t.parts, tplPart{expr: x})
		rest = rest[p.pos+2:]
	}
	return t, nil
}

// nextTag returns where the next {{, {% or {# starts, or -1.
func nextTag(s string) int {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '{' && (s[i+1] == '{' || s[i+1] == '%' || s[i+1] == '#') {
			return i
		}
	}
	return -1
}

// tparser parses one expression of a template.
type tparser struct {
	src  string
	pos  int
	vars []string
}

func (p *tparser) errorf(format string, args ...any) error {
	return fmt.Errorf("at %d: "+format, append([]any{p.pos}, args...)...)
}

func (p *tparser) skipSpace() {
	for p.pos < len(p.src) && strings.IndexByte(" \t\r\n", p.src[p.pos]) >= 0 {
		p.pos++
	}
}

// peekWord returns the name at the current position, without moving.
func (p *tparser) peekWord() string {
	p.skipSpace()
	i := p.pos
	for i < len(p.src) && isNameByte(p.src[i], i == p.pos) {
		i++
	}
	return p.src[p.pos:i]
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
}

// word consumes the keyword w if it comes next.
func (p *tparser) word(w string) bool {
	if p.peekWord() == w {
		p.pos += len(w)
		return true
	}
	return false
}

// op consumes the operator o if it comes next and is not the start of a
// longer one ("/" of "//", "=" of "==", "-" of "-}}").
func (p *tparser) op(o string) bool {
	p.skipSpace()
	if !strings.HasPrefix(p.src[p.pos:], o) {
		return false
	}
	rest := p.src[p.pos+len(o):]
	switch o {
	case "/":
		if strings.HasPrefix(rest, "/") {
			return false
		}
	case "<", ">", "=", "!":
		if strings.HasPrefix(rest, "=") {
			return false
		}
	case "-":
		if strings.HasPrefix(rest, "}}") {
			return false
		}
	}
	p.pos += len(o)
	return true
}

func (p *tparser) parseExpr(depth int) (tnode, error) {
	if depth > maxTemplateDepth {
		return nil, p.errorf("expression nests too deeply")
	}
	x, err := p.parseOr(depth)
	if err != nil {
		return nil, err
	}
	if p.word("if") {
		cond, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		var other tnode = litNode{tval{k: tUndef}}
		if p.word("else") {
			if other, err = p.parseExpr(depth + 1); err != nil {
				return nil, err
			}
		}
		return condNode{cond: cond, then: x, other: other}, nil
	}
	return x, nil
}

func (p *tparser) parseOr(depth int) (tnode, error) {
	x, err := p.parseAnd(depth)
	for err == nil && p.word("or") {
		var y tnode
		if y, err = p.parseAnd(depth + 1); err == nil {
			x = logicNode{and: false, l: x, r: y}
		}
	}
	return x, err
}

func (p *tparser) parseAnd(depth int) (tnode, error) {
	x, err := p.parseNot(depth)
	for err == nil && p.word("and") {
		var y tnode
		if y, err = p.parseNot(depth + 1); err == nil {
			x = logicNode{and: true, l: x, r: y}
		}
	}
	return x, err
}

func (p *tparser) parseNot(depth int) (tnode, error) {
	if depth > maxTemplateDepth {
		return nil, p.errorf("expression nests too deeply")
	}
	if p.word("not") {
		x, err := p.parseNot(depth + 1)
		return notNode{x}, err
	}
	return p.parseCompare(depth)
}

func (p *tparser) parseCompare(depth int) (tnode, error) {
	x, err := p.parseConcat(depth)
	if err != nil {
		return nil, err
	}
	for _, o := range []string{"==", "!=", "<=", ">=", "<", ">"} {
		if p.op(o) {
			y, err := p.parseConcat(depth + 1)
			return cmpNode{op: o, l: x, r: y}, err
		}
	}
	save := p.pos
	if p.word("not") {
		if !p.word("in") {
			p.pos = save
			return x, nil
		}
		y, err := p.parseConcat(depth + 1)
		return notNode{cmpNode{op: "in", l: x, r: y}}, err
	}
	if p.word("in") {
		y, err := p.parseConcat(depth + 1)
		return cmpNode{op: "in", l: x, r: y}, err
	}
	if p.word("is") {
		neg := p.word("not")
		name := p.peekWord()
		switch name {
		case "defined", "undefined", "none", "number", "string", "mapping":
		default:
			return nil, p.errorf("%w: test %q", errUnsupported, name)
		}
		p.pos += len(name)
		return testNode{x: x, test: name, neg: neg}, nil
	}
	return x, nil
}

func (p *tparser) parseConcat(depth int) (tnode, error) {
	x, err := p.parseSum(depth)
	for err == nil && p.op("~") {
		var y tnode
		if y, err = p.parseSum(depth + 1); err == nil {
			x = binNode{op: "~", l: x, r: y}
		}
	}
	return x, err
}

func (p *tparser) parseSum(depth int) (tnode, error) {
	x, err := p.parseProduct(depth)
	for err == nil {
		o := ""
		switch {
		case p.op("+"):
			o = "+"
		case p.op("-"):
			o = "-"
		default:
			return x, nil
		}
		var y tnode
		if y, err = p.parseProduct(depth + 1); err == nil {
			x = binNode{op: o, l: x, r: y}
		}
	}
	return x, err
}

func (p *tparser) parseProduct(depth int) (tnode, error) {
	x, err := p.parseUnary(depth)
	for err == nil {
		o := ""
		switch {
		case p.op("//"):
			o = "//"
		case p.op("*"):
			o = "*"
		case p.op("/"):
			o = "/"
		case p.op("%"):
			o = "%"
		default:
			return x, nil
		}
		var y tnode
		if y, err = p.parseUnary(depth + 1); err == nil {
			x = binNode{op: o, l: x, r: y}
		}
	}
	return x, err
}

func (p *tparser) parseUnary(depth int) (tnode, error) {
	if depth > maxTemplateDepth {
		return nil, p.errorf("expression nests too deeply")
	}
	if p.op("-") {
		x, err := p.parseUnary(depth + 1)
		return negNode{x}, err
	}
	x, err := p.parsePostfix(depth)
	for err == nil && p.op("|") {
		name := p.peekWord()
		if name == "" {
			return nil, p.errorf("expected a filter name after |")
		}
		p.pos += len(name)
		if name == "d" {
			name = "default"
		}
		if _, ok := filters[name]; !ok {
			return nil, p.errorf("%w: filter %q", errUnsupported, name)
		}
		var args []tnode
		if p.op("(") {
			if args, err = p.parseArgs(depth + 1); err != nil {
				return nil, err
			}
		}
		x = filterNode{name: name, x: x, args: args}
	}
	return x, err
}

// parseArgs reads arguments up to the closing ")"; keyword arguments
// (precision=1) are taken in order, their names checked by the filter.
func (p *tparser) parseArgs(depth int) ([]tnode, error) {
	var args []tnode
	if p.op(")") {
		return args, nil
	}
	for {
		save := p.pos
		if w := p.peekWord(); w != "" {
			p.pos += len(w)
			if !p.op("=") {
				p.pos = save // not a keyword argument: a name starting the value
			}
		}
		x, err := p.parseExpr(depth + 1)
		if err != nil {
			return nil, err
		}
		args = append(args, x)
		if p.op(")") {
			return args, nil
		}
		if !p.op(",") {
			return nil, p.errorf("expected , or ) in arguments")
		}
	}
}

func (p *tparser) parsePostfix(depth int) (tnode, error) {
	x, err := p.parsePrimary(depth)
	for err == nil {
		switch {
		case p.op("."):
			name := p.peekWord()
			if name == "" {
				// value_json.0 reads like value_json[0] in Jinja.
				start := p.pos
				for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
					p.pos++
				}
				if p.pos == start {
					return nil, p.errorf("expected a name after .")
				}
				n, _ := strconv.Atoi(p.src[start:p.pos])
				x = indexNode{x: x, index: litNode{tval{k: tInt, i: int64(n)}}}
				continue
			}
			p.pos += len(name)
			if p.op("(") {
				return nil, p.errorf("%w: method call .%s()", errUnsupported, name)
			}
			x = indexNode{x: x, index: litNode{tval{k: tStr, s: name}}}
		case p.op("["):
			var i tnode
			if i, err = p.parseExpr(depth + 1); err != nil {
				return nil, err
			}
			if !p.op("]") {
				return nil, p.errorf("expected ]")
			}
			x = indexNode{x: x, index: i}
		default:
			return x, nil
		}
	}
	return x, err
}

func (p *tparser) parsePrimary(depth int) (tnode, error) {
	p.skipSpace()
	if p.pos >= len(p.src) {
		return nil, p.errorf("unexpected end of template")
	}
	c := p.src[p.pos]
	switch {
	case c == '(':
		p.pos++
		x, err := p.parseExpr(depth + 1)
		if err != nil {
			return nil, err
		}
		if !p.op(")") {
			return nil, p.errorf("expected )")
		}
		return x, nil
	case c == '\'' || c == '"':
		return p.parseString(c)
	case c >= '0' && c <= '9':
		return p.parseNumber()
	case isNameByte(c, true):
		name := p.peekWord()
		p.pos += len(name)
		switch name {
		case "true", "True":
			return litNode{tval{k: tBool, b: true}}, nil
		case "false", "False":
			return litNode{tval{k: tBool}}, nil
		case "none", "None":
			return litNode{tval{k: tNone}}, nil
		}
		if p.op("(") {
			switch name {
			case "float", "int", "bool":
			default:
				return nil, p.errorf("%w: function %s()", errUnsupported, name)
			}
			args, err := p.parseArgs(depth + 1)
			if err != nil {
				return nil, err
			}
			if len(args) == 0 {
				return nil, p.errorf("%s() needs a value", name)
			}
			return filterNode{name: name, x: args[0], args: args[1:]}, nil
		}
		for _, v := range p.vars {
			if v == name {
				return varNode{name}, nil
			}
		}
		return nil, p.errorf("%w: variable %q (known: %s)", errUnsupported, name, strings.Join(p.vars, ", "))
	}
	return nil, p.errorf("unexpected %q", c)
}

func (p *tparser) parseString(quote byte) (tnode, error) {
	var b strings.Builder
	for i := p.pos + 1; i < len(p.src); i++ {
		c := p.src[i]
		switch {
		case c == quote:
			p.pos = i + 1
			return litNode{tval{k: tStr, s: b.String()}}, nil
		case c == '\\' && i+1 < len(p.src):
			i++
			switch e := p.src[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return nil, p.errorf("string is not closed")
}

func (p *tparser) parseNumber() (tnode, error) {
	start := p.pos
	isFloat := false
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c >= '0' && c <= '9' || c == '_' {
			p.pos++
			continue
		}
		if c == '.' && !isFloat && p.pos+1 < len(p.src) && p.src[p.pos+1] >= '0' && p.src[p.pos+1] <= '9' {
			isFloat = true
			p.pos++
			continue
		}
		break
	}
	text := strings.ReplaceAll(p.src[start:p.pos], "_", "")
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, p.errorf("bad number %q", text)
		}
		return litNode{tval{k: tFloat, f: f}}, nil
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return nil, p.errorf("bad number %q", text)
	}
	return litNode{tval{k: tInt, i: n}}, nil
}
