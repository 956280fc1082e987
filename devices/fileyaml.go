package devices

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	yamlparser "github.com/goccy/go-yaml/parser"
)

// Reading the devices file's YAML node by node, so that every problem is
// reported with its line and column and all of them at once.

// maxFileNodes bounds the nodes read from a devices file, counting each
// expansion of an alias again, so that nested aliases cannot blow up a load.
const maxFileNodes = 1 << 18

// Problem is one thing wrong in a devices file.
type Problem struct {
	// File is the file's path (or the name given to ParseFile).
	File string
	// Line and Column locate the problem, 1-based; 0 when the whole file is meant.
	Line, Column int
	// Device is the id of the device concerned, "#n" for the n-th entry when
	// it has no usable id, and "" for the file as a whole.
	Device string
	// Msg says what is wrong.
	Msg string
}

// String formats the problem as "file:line:col: device <id>: msg".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", p.Line, p.Column)
	}
	b.WriteString(": ")
	if p.Device != "" {
		b.WriteString("device ")
		b.WriteString(p.Device)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// FileError holds every problem found in a devices file; nothing was loaded.
type FileError struct {
	Problems []Problem
}

// Error lists the problems one per line.
func (e *FileError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// yreader walks one file's nodes, recording problems with their positions.
type yreader struct {
	file     string
	entry    string // the entry being read, for problems
	anchors  map[string]ast.Node
	budget   int
	problems []Problem
}

func (y *yreader) errorf(n ast.Node, format string, args ...any) {
	line, col := nodePos(n)
	y.problems = append(y.problems, Problem{File: y.file, Line: line, Column: col, Device: y.entry, Msg: fmt.Sprintf(format, args...)})
}

// parseFileYAML parses data, turning a panic of the parser on hostile input
// into an error: a bad file must never take the hub down.
func parseFileYAML(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	return yamlparser.ParseBytes(data, 0)
}

// syntaxProblem turns a parse error into a problem with its position.
func syntaxProblem(file string, err error) Problem {
	p := Problem{File: file, Msg: err.Error()}
	var ye yaml.Error
	if errors.As(err, &ye) {
		p.Msg = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			p.Line, p.Column = tk.Position.Line, tk.Position.Column
		}
	}
	return p
}

// nodePos returns where a node starts: for a mapping, its first key.
func nodePos(n ast.Node) (line, col int) {
	switch x := n.(type) {
	case nil:
		return 0, 0
	case *ast.MappingNode:
		if len(x.Values) > 0 && !x.IsFlowStyle {
			return nodePos(x.Values[0].Key)
		}
	case *ast.MappingValueNode:
		return nodePos(x.Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 0, 0
	}
	return tk.Position.Line, tk.Position.Column
}

type yanchors map[string]ast.Node

func (v yanchors) Visit(n ast.Node) ast.Visitor {
	if a, ok := n.(*ast.AnchorNode); ok && a.Name != nil {
		if _, seen := v[a.Name.GetToken().Value]; !seen {
			v[a.Name.GetToken().Value] = a.Value
		}
	}
	return v
}

// resolve looks through anchors and aliases; nil (after a problem) when it cannot.
func (y *yreader) resolve(n ast.Node) ast.Node {
	for range 32 {
		if y.budget--; y.budget < 0 {
			if y.budget == -1 {
				y.errorf(n, "file too large: more than %d values once aliases are expanded", maxFileNodes)
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
			target, ok := y.anchors[name]
			if !ok {
				y.errorf(x, "alias *%s names no anchor", name)
				return nil
			}
			n = target
		case *ast.TagNode:
			y.errorf(x, "YAML tags (%s) are not supported", x.Start.Value)
			return nil
		default:
			return n
		}
	}
	y.errorf(n, "aliases nest too deeply")
	return nil
}

// yfield is one key: value of a mapping; value is resolved (nil when it
// could not be, its problem recorded).
type yfield struct {
	key   string
	keyNd ast.Node
	value ast.Node
}

type yfields []yfield

func (fs yfields) get(key string) (yfield, bool) {
	for _, f := range fs {
		if f.key == key {
			return f, true
		}
	}
	return yfield{}, false
}

// fields reads a mapping, reporting keys not in known and keys given twice.
func (y *yreader) fields(n ast.Node, what string, known ...string) (yfields, bool) {
	if n = y.resolve(n); n == nil {
		return nil, false
	}
	m, ok := n.(*ast.MappingNode)
	if !ok {
		y.errorf(n, "%s must be a map of key: value, got %s", what, nodeKind(n))
		return nil, false
	}
	var fs yfields
	for _, mv := range m.Values {
		if mv.Key == nil {
			continue
		}
		if mv.Key.IsMergeKey() {
			y.errorf(mv.Key, "merge keys (<<) are not supported in %s", what)
			continue
		}
		key := y.resolve(mv.Key)
		if key == nil {
			continue
		}
		name, ok := scalarString(key)
		if !ok {
			y.errorf(key, "a key must be a plain word, got %s", nodeKind(key))
			continue
		}
		if known != nil && !containsString(known, name) {
			y.errorf(mv.Key, "unknown key %q in %s (known keys: %s)", name, what, strings.Join(known, ", "))
			continue
		}
		if _, dup := fs.get(name); dup {
			y.errorf(mv.Key, "key %q given twice in %s", name, what)
			continue
		}
		fs = append(fs, yfield{key: name, keyNd: mv.Key, value: y.resolve(mv.Value)})
	}
	return fs, true
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scalarString returns the text of a scalar node as written.
func scalarString(n ast.Node) (string, bool) {
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

// nodeKind names the kind of a node for problems ("got a list").
func nodeKind(n ast.Node) string {
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
	case *ast.NullNode, nil:
		return "nothing"
	}
	return n.Type().String()
}

// str reads a string; a number or a boolean is taken as written, since a
// payload like 1 or ON is text to MQTT.
func (y *yreader) str(f yfield, what string) (string, bool) {
	switch x := f.value.(type) {
	case nil:
		return "", false
	case *ast.StringNode, *ast.LiteralNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		s, _ := scalarString(x)
		return s, true
	}
	y.errorf(f.value, "%s must be a string, got %s", what, nodeKind(f.value))
	return "", false
}

// scalarValue reads a scalar as the JSON value it stands for.
func (y *yreader) scalarValue(n ast.Node, what string) (any, bool) {
	switch x := n.(type) {
	case *ast.NullNode:
		return nil, true
	case *ast.BoolNode:
		return x.Value, true
	case *ast.IntegerNode:
		switch v := x.Value.(type) {
		case int64:
			return float64(v), true
		case uint64:
			return float64(v), true
		}
	case *ast.FloatNode:
		if !math.IsNaN(x.Value) && !math.IsInf(x.Value, 0) {
			return x.Value, true
		}
	case *ast.StringNode, *ast.LiteralNode:
		s, _ := scalarString(x)
		return s, true
	}
	y.errorf(n, "%s must be a single value (a string, number, true/false or null), got %s", what, nodeKind(n))
	return nil, false
}
