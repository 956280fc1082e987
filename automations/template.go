package automations

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// A template is a string value holding {{ expr }}. Written alone
// ("{{ trigger.state.illuminance < 10 ? 80 : 254 }}") it yields the
// expression's value with its type (a number stays a number in JSON);
// inside a longer string ("Motion in {{ trigger.device }}") each expression
// is written into the text. Templates are compiled at load against a run's
// environment and evaluated per run.
type tmpl struct {
	src   string
	whole *expression // the whole string is one {{ }}
	parts []tmplPart  // text with {{ }} inside
}

type tmplPart struct {
	lit string
	x   *expression // nil for plain text
}

// template reads s (at n) as a template; it returns s itself when s holds
// no {{.
func (l *loader) template(n ast.Node, s string) (any, bool) {
	if !strings.Contains(s, "{{") {
		return s, true
	}
	t := &tmpl{src: s}
	trimmed := strings.TrimSpace(s)
	if strings.HasPrefix(trimmed, "{{") && strings.HasSuffix(trimmed, "}}") && strings.Count(trimmed, "{{") == 1 {
		x := l.compileAt(n, strings.TrimSpace(trimmed[2:len(trimmed)-2]), "template", envRun, true)
		if x == nil {
			return nil, false
		}
		t.whole = x
		return t, true
	}
	rest := s
	ok := true
	for rest != "" {
		open := strings.Index(rest, "{{")
		if open < 0 {
			t.parts = append(t.parts, tmplPart{lit: rest})
			break
		}
		end := strings.Index(rest[open:], "}}")
		if end < 0 {
			l.errorf(n, "template %q has {{ without }}", s)
			return nil, false
		}
		if open > 0 {
			t.parts = append(t.parts, tmplPart{lit: rest[:open]})
		}
		x := l.compileAt(n, strings.TrimSpace(rest[open+2:open+end]), "template", envRun, true)
		if x == nil {
			ok = false
		}
		t.parts = append(t.parts, tmplPart{x: x})
		rest = rest[open+end+2:]
	}
	return t, ok
}

// render evaluates the template.
func (t *tmpl) render(ev *evaluator, env *runEnv) (any, error) {
	if t.whole != nil {
		v, err := ev.value(t.whole, env)
		if err != nil {
			return nil, fmt.Errorf("template %q: %w", t.src, err)
		}
		return v, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.x == nil {
			b.WriteString(p.lit)
			continue
		}
		v, err := ev.value(p.x, env)
		if err != nil {
			return nil, fmt.Errorf("template %q: %w", t.src, err)
		}
		b.WriteString(textOf(v))
	}
	return b.String(), nil
}

// textOf writes a value into text: strings as they are, nothing as
// nothing, the rest as JSON.
func textOf(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	case fmt.Stringer:
		return v.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// payload is a value to send: encoded once at load when it holds no
// template, rendered per run when it does.
type payload struct {
	static []byte
	tree   any  // with *tmpl leaves
	raw    bool // a string payload (publish): a string result is sent as is
}

// dynamic reports whether the payload is rendered per run.
func (p *payload) dynamic() bool { return p.static == nil }

// readPayload reads a value that may hold templates; raw says a string is
// sent as text rather than as JSON.
func (l *loader) readPayload(n ast.Node, raw bool) (*payload, bool) {
	l.templating = true
	v, ok := l.value(n, 0)
	l.templating = false
	if !ok {
		return nil, false
	}
	p := &payload{tree: v, raw: raw}
	if !hasTemplate(v) {
		b, err := encodePayload(v, raw)
		if err != nil {
			l.errorf(n, "payload cannot be written as JSON: %v", err)
			return nil, false
		}
		p.static, p.tree = b, nil
	}
	return p, true
}

func hasTemplate(v any) bool {
	switch v := v.(type) {
	case *tmpl:
		return true
	case map[string]any:
		for _, x := range v {
			if hasTemplate(x) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if hasTemplate(x) {
				return true
			}
		}
	}
	return false
}

// encodePayload writes a value to send: a raw string as is, anything else as JSON.
func encodePayload(v any, raw bool) ([]byte, error) {
	if s, ok := v.(string); ok && raw {
		return []byte(s), nil
	}
	return json.Marshal(v)
}

// render returns the bytes to send for one run.
func (p *payload) render(ev *evaluator, env *runEnv) ([]byte, error) {
	if p.static != nil {
		return p.static, nil
	}
	v, err := renderTree(p.tree, ev, env)
	if err != nil {
		return nil, err
	}
	b, err := encodePayload(v, p.raw)
	if err != nil {
		return nil, fmt.Errorf("payload cannot be written as JSON: %w", err)
	}
	return b, nil
}

func renderTree(v any, ev *evaluator, env *runEnv) (any, error) {
	switch v := v.(type) {
	case *tmpl:
		return v.render(ev, env)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			r, err := renderTree(x, ev, env)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			r, err := renderTree(x, ev, env)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}
