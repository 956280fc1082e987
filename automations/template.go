package automations

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

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

// text renders the template where only text goes (a topic, a log line,
// a notification), whatever the type of its value.
func (t *tmpl) text(ev *evaluator, env *runEnv) (string, error) {
	v, err := t.render(ev, env)
	if err != nil {
		return "", err
	}
	return textOf(v, ev.loc, env.Now), nil
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
		b.WriteString(textOf(v, ev.loc, env.Now))
	}
	return b.String(), nil
}

// textOf writes a value into text as people read it: strings as they are,
// nothing as nothing, durations and times as durationText and timeText
// write them (Go's "24.889638327s" makes a poor notification), the rest as
// JSON. loc is the hub's zone and now the run's.
func textOf(v any, loc *time.Location, now time.Time) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	case time.Duration:
		return durationText(v)
	case time.Time:
		return timeText(v, loc, now)
	case fmt.Stringer:
		return v.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// durationUnits are the units of durationText, largest first.
var durationUnits = [...]struct {
	secs int64
	name string
}{{24 * 60 * 60, "d"}, {60 * 60, "h"}, {60, "m"}, {1, "s"}}

// durationText writes a duration rounded to the second, in its two largest
// units: "25s", "3m 10s", "2h 5m", "3d 4h".
func durationText(d time.Duration) string {
	var buf [32]byte // the longest, "-106751d 23h", fits: one allocation, the string's
	return string(appendDuration(buf[:0], d))
}

// appendDuration appends durationText(d) to b: into a buffer on the stack,
// a near miss compares a duration with the text it kept without allocating.
func appendDuration(b []byte, d time.Duration) []byte {
	secs := int64(d.Round(time.Second) / time.Second)
	if secs < 0 {
		secs = -secs
		b = append(b, '-')
	}
	i := 0
	for i < len(durationUnits)-1 && secs < durationUnits[i].secs {
		i++
	}
	u := durationUnits[i]
	b = strconv.AppendInt(b, secs/u.secs, 10)
	b = append(b, u.name...)
	if i+1 < len(durationUnits) {
		next := durationUnits[i+1]
		if n := secs % u.secs / next.secs; n > 0 {
			b = append(b, ' ')
			b = strconv.AppendInt(b, n, 10)
			b = append(b, next.name...)
		}
	}
	return b
}

// timeText writes a time in the hub's zone: its time of day ("07:30:00")
// when it falls on the day of now, with its date ("2025-11-27 07:30:00")
// when not.
func timeText(t time.Time, loc *time.Location, now time.Time) string {
	t, now = t.In(loc), now.In(loc)
	y, m, d := t.Date()
	ny, nm, nd := now.Date()
	if y == ny && m == nm && d == nd {
		return t.Format(time.TimeOnly)
	}
	return t.Format(time.DateTime)
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
