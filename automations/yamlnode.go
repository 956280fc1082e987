package automations

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// maxNodes bounds the nodes read from one file, counting each expansion of
// an alias again, so that a file of nested aliases cannot blow up the load.
const maxNodes = 1 << 20

// maxDepth bounds how deep a state or payload value may nest.
const maxDepth = 64

// loader reads one file's AST into automations, recording every problem
// with its position instead of stopping at the first.
type loader struct {
	c       *collector
	file    string
	auto    string      // the automation being read, for problems
	cur     *Automation // the automation being read, for what its parts record
	anchors map[string]ast.Node
	budget  int
	merging int // depth of nested merge keys
	// templating makes value read strings holding {{ }} as templates.
	templating bool
	// repeats counts the repeats around what is being read: repeat.index
	// and the rest exist only inside one.
	repeats int
}

func (l *loader) errorf(n ast.Node, format string, args ...any) {
	line, col := position(n)
	l.problemAt(line, col, fmt.Sprintf(format, args...))
}

func (l *loader) problemAt(line, col int, msg string) {
	l.c.problems = append(l.c.problems, Problem{File: l.file, Line: line, Column: col, Automation: l.auto, Msg: msg})
}

// device notes a reference to a device at n: a warning when the load knows
// which devices exist and this one has not been seen.
func (l *loader) device(n ast.Node, id string) {
	if l.c.opts.Known == nil || id == "" || l.c.opts.Known(id) {
		return
	}
	line, col := position(n)
	l.c.warnings = append(l.c.warnings, Problem{File: l.file, Line: line, Column: col, Automation: l.auto,
		Msg: fmt.Sprintf("device %q has not been seen yet (a typo, or a device that has not spoken since the hub started logging?)", id)})
}

// position returns where a node starts: for a mapping, its first key (the
// parser places a mapping at its first colon).
func position(n ast.Node) (line, col int) {
	switch x := n.(type) {
	case nil:
		return 0, 0
	case *ast.MappingNode:
		if len(x.Values) > 0 && !x.IsFlowStyle {
			return position(x.Values[0].Key)
		}
	case *ast.MappingValueNode:
		return position(x.Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 0, 0
	}
	return tk.Position.Line, tk.Position.Column
}

// anchors collects the anchors of a file by name, so aliases can be resolved.
func anchors(f *ast.File) map[string]ast.Node {
	v := anchorVisitor{}
	for _, doc := range f.Docs {
		ast.Walk(v, doc)
	}
	return v
}

type anchorVisitor map[string]ast.Node

func (v anchorVisitor) Visit(n ast.Node) ast.Visitor {
	if a, ok := n.(*ast.AnchorNode); ok && a.Name != nil {
		if _, seen := v[a.Name.GetToken().Value]; !seen {
			v[a.Name.GetToken().Value] = a.Value
		}
	}
	return v
}

// resolve looks through anchors and aliases to the node that holds the
// value; it returns nil (after recording a problem) when it cannot.
func (l *loader) resolve(n ast.Node) ast.Node {
	for range 64 {
		if l.budget--; l.budget < 0 {
			if l.budget == -1 {
				l.errorf(n, "file too large: more than %d values once aliases are expanded", maxNodes)
			}
			return nil
		}
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.AliasNode:
			name := ""
			if x.Value != nil {
				name = x.Value.GetToken().Value
			}
			target, ok := l.anchors[name]
			if !ok {
				l.errorf(x, "alias *%s names no anchor", name)
				return nil
			}
			n = target
		case *ast.TagNode:
			l.errorf(x, "YAML tags (%s) are not supported", x.Start.Value)
			return nil
		default:
			return n
		}
	}
	l.errorf(n, "aliases nest too deeply")
	return nil
}

// field is one key: value of a mapping.
type field struct {
	key   string
	keyNd ast.Node
	value ast.Node // resolved: never an anchor or alias; nil if it could not be
}

type fieldList []field

func (fs fieldList) get(key string) (field, bool) {
	for _, f := range fs {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

func (fs fieldList) has(key string) bool {
	_, ok := fs.get(key)
	return ok
}

// fields reads a mapping; what names it in the problem when n is something
// else. Merge keys (<<: *base) bring in the keys the mapping does not set.
func (l *loader) fields(n ast.Node, what string) (fieldList, bool) {
	if n = l.resolve(n); n == nil {
		return nil, false
	}
	m, ok := n.(*ast.MappingNode)
	if !ok {
		l.errorf(n, "%s must be a map of key: value, got %s", what, kindOf(n))
		return nil, false
	}
	var fs, merged fieldList
	for _, mv := range m.Values {
		if mv.Key == nil {
			continue
		}
		if mv.Key.IsMergeKey() {
			merged = append(merged, l.mergeFields(mv.Value)...)
			continue
		}
		key := l.resolve(mv.Key)
		if key == nil {
			continue
		}
		name, ok := scalarText(key)
		if !ok {
			l.errorf(key, "a key must be a plain word, got %s", kindOf(key))
			continue
		}
		// A value that does not resolve (a bad alias) is kept as nil: its
		// problem is recorded, and the readers below pass over it quietly.
		fs = append(fs, field{key: name, keyNd: mv.Key, value: l.resolve(mv.Value)})
	}
	for _, f := range merged {
		if !fs.has(f.key) {
			fs = append(fs, f)
		}
	}
	return fs, true
}

func (l *loader) mergeFields(n ast.Node) fieldList {
	if l.merging >= maxDepth {
		l.errorf(n, "merge keys (<<) nest more than %d levels deep", maxDepth)
		return nil
	}
	l.merging++
	defer func() { l.merging-- }()
	n = l.resolve(n)
	if seq, ok := n.(*ast.SequenceNode); ok {
		var out fieldList
		for _, v := range seq.Values {
			fs, _ := l.fields(v, "a merged value (<<)")
			for _, f := range fs {
				if !out.has(f.key) {
					out = append(out, f)
				}
			}
		}
		return out
	}
	fs, _ := l.fields(n, "a merged value (<<)")
	return fs
}

// unknown reports every key of fs not in known.
func (l *loader) unknown(fs fieldList, what string, known ...string) {
	for _, f := range fs {
		if !contains(known, f.key) {
			l.errorf(f.keyNd, "unknown key %q in %s (known keys: %s)", f.key, what, strings.Join(known, ", "))
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scalarText returns the text of a scalar node as written.
func scalarText(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.LiteralNode:
		if x.Value == nil {
			return "", true
		}
		return x.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	}
	return "", false
}

// kindOf names the kind of a node for problems ("got a list").
func kindOf(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode:
		return "a map"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "true/false"
	case *ast.NullNode:
		return "nothing"
	case nil:
		return "nothing"
	}
	return n.Type().String()
}

// str reads a string value.
func (l *loader) str(f field, what string) (string, bool) {
	switch x := f.value.(type) {
	case nil:
		return "", false
	case *ast.StringNode:
		return x.Value, true
	case *ast.LiteralNode:
		s, _ := scalarText(x)
		return s, true
	}
	l.errorf(f.value, "%s must be a string, got %s", what, kindOf(f.value))
	return "", false
}

// integer reads a whole number within [lo, hi].
func (l *loader) integer(f field, what string, lo, hi int) (int, bool) {
	x, ok := f.value.(*ast.IntegerNode)
	if !ok && f.value != nil {
		l.errorf(f.value, "%s must be a whole number, got %s", what, kindOf(f.value))
	}
	if !ok {
		return 0, false
	}
	var v int64
	switch n := x.Value.(type) {
	case int64:
		v = n
	case uint64:
		v = math.MaxInt64
		if n < math.MaxInt64 {
			v = int64(n)
		}
	}
	if v < int64(lo) || v > int64(hi) {
		l.errorf(f.value, "%s must be between %d and %d, got %d", what, lo, hi, v)
		return 0, false
	}
	return int(v), true
}

// boolean reads true or false.
func (l *loader) boolean(f field, what string) (bool, bool) {
	x, ok := f.value.(*ast.BoolNode)
	if !ok {
		if f.value != nil {
			l.errorf(f.value, "%s must be true or false, got %s", what, kindOf(f.value))
		}
		return false, false
	}
	return x.Value, true
}

// duration reads a positive duration written like 30s, 5m or 1h30m.
func (l *loader) duration(f field, what string) (time.Duration, bool) {
	s, ok := f.value.(*ast.StringNode)
	if !ok && f.value == nil {
		return 0, false
	}
	if !ok {
		l.errorf(f.value, "%s must be a duration like 30s, 5m or 1h30m, got %s", what, kindOf(f.value))
		return 0, false
	}
	d, err := time.ParseDuration(s.Value)
	if err != nil {
		l.errorf(f.value, "%s must be a duration like 30s, 5m or 1h30m, got %q", what, s.Value)
		return 0, false
	}
	if d <= 0 {
		l.errorf(f.value, "%s must be more than zero, got %q", what, s.Value)
		return 0, false
	}
	return d, true
}

// signedDuration reads a duration that may be negative ("-30m"), for offsets.
func (l *loader) signedDuration(f field, what string) (time.Duration, bool) {
	s, ok := f.value.(*ast.StringNode)
	if !ok {
		if f.value != nil {
			l.errorf(f.value, "%s must be a duration like 30m or -1h, got %s", what, kindOf(f.value))
		}
		return 0, false
	}
	d, err := time.ParseDuration(s.Value)
	if err != nil {
		l.errorf(f.value, "%s must be a duration like 30m or -1h, got %q", what, s.Value)
		return 0, false
	}
	return d, true
}

// timeOfDay reads a time of day written "07:30" or "07:30:15", as the
// duration since midnight.
func (l *loader) timeOfDay(f field, what string) (time.Duration, bool) {
	s, ok := f.value.(*ast.StringNode)
	if !ok {
		if f.value != nil {
			l.errorf(f.value, "%s must be a time of day like \"07:30\" (quoted), got %s", what, kindOf(f.value))
		}
		return 0, false
	}
	d, err := parseClock(s.Value)
	if err != nil {
		l.errorf(f.value, "%s: %v", what, err)
		return 0, false
	}
	return d, true
}

// parseClock parses "HH:MM" or "HH:MM:SS" (24-hour) into the time since midnight.
func parseClock(s string) (time.Duration, error) {
	var h, m, sec int
	var err error
	switch len(s) {
	case 5:
		_, err = fmt.Sscanf(s, "%2d:%2d", &h, &m)
	case 8:
		_, err = fmt.Sscanf(s, "%2d:%2d:%2d", &h, &m, &sec)
	default:
		err = fmt.Errorf("bad length")
	}
	if err != nil || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 59 || s[2] != ':' {
		return 0, fmt.Errorf("%q is not a time of day like \"07:30\" or \"22:15:00\"", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second, nil
}

// list reads a sequence; nothing (a key with no value) is an empty list.
func (l *loader) list(f field, what string) ([]ast.Node, bool) {
	switch x := f.value.(type) {
	case *ast.SequenceNode:
		return x.Values, true
	case *ast.NullNode:
		return nil, true
	case nil:
		return nil, false
	}
	l.errorf(f.value, "%s must be a list (items starting with \"- \"), got %s", what, kindOf(f.value))
	return nil, false
}

// value reads any YAML value as the Go value encoding/json would decode
// from the equivalent JSON: maps with string keys, lists, strings, numbers,
// booleans and nil.
func (l *loader) value(n ast.Node, depth int) (any, bool) {
	if depth > maxDepth {
		l.errorf(n, "value nests more than %d levels deep", maxDepth)
		return nil, false
	}
	switch x := n.(type) {
	case nil:
		return nil, false
	case *ast.NullNode:
		return nil, true
	case *ast.BoolNode:
		return x.Value, true
	case *ast.IntegerNode:
		return x.Value, true
	case *ast.FloatNode:
		if math.IsNaN(x.Value) || math.IsInf(x.Value, 0) {
			l.errorf(n, "%s is not a number JSON can carry", x.GetToken().Value)
			return nil, false
		}
		return x.Value, true
	case *ast.InfinityNode, *ast.NanNode:
		l.errorf(n, "%s is not a number JSON can carry", n.GetToken().Value)
		return nil, false
	case *ast.StringNode, *ast.LiteralNode:
		s, _ := scalarText(x)
		if l.templating {
			return l.template(x, s)
		}
		return s, true
	case *ast.SequenceNode:
		out := make([]any, 0, len(x.Values))
		ok := true
		for _, v := range x.Values {
			v = l.resolve(v)
			if v == nil {
				return nil, false
			}
			item, good := l.value(v, depth+1)
			ok = ok && good
			out = append(out, item)
		}
		return out, ok
	case *ast.MappingNode:
		fs, ok := l.fields(x, "a map")
		if !ok {
			return nil, false
		}
		out := make(map[string]any, len(fs))
		for _, f := range fs {
			v, good := l.value(f.value, depth+1)
			ok = ok && good
			out[f.key] = v
		}
		return out, ok
	}
	l.errorf(n, "unsupported value: %s", kindOf(n))
	return nil, false
}
