package main

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// positioned writes a YAML error in the config file data, read from path,
// as file:line:col: message. A value of the wrong type is said in the
// file's terms, its key and what the key takes ("limits.clients: want a
// whole number, got "many""), not the Go field it was meant for.
func positioned(path string, data []byte, err error) string {
	wrong := func(tk *token.Token, want string) string {
		p := tk.Position
		what := keyAt(data, p)
		if what == "" {
			what = "the value"
		}
		return fmt.Sprintf("%s:%d:%d: %s: want %s, got %s", path, p.Line, p.Column, what, want, given(tk))
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && te.Token != nil {
		return wrong(te.Token, takes(te.DstType))
	}
	var ne *yaml.UnexpectedNodeTypeError
	if errors.As(err, &ne) && ne.Token != nil {
		switch ne.Expected {
		case ast.SequenceType:
			return wrong(ne.Token, "a list")
		case ast.MappingType:
			return wrong(ne.Token, "keys and values")
		}
		return wrong(ne.Token, "a "+ne.Expected.String())
	}
	var pe interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if errors.As(err, &pe) && pe.GetToken() != nil {
		p := pe.GetToken().Position
		msg := pe.GetMessage()
		if key := keyAt(data, p); key != "" {
			msg = key + ": " + msg
		}
		return fmt.Sprintf("%s:%d:%d: %s", path, p.Line, p.Column, msg)
	}
	// A value a type read itself (a duration, the log level) fails with
	// the library's words and no place; the value it quotes finds it.
	if tk, want := culprit(data, err); tk != nil {
		return wrong(tk, want)
	}
	return fmt.Sprintf("%s: %v", path, err)
}

// culprit finds the scalar of data whose value err quotes, for an error
// of time.ParseDuration or slog.Level's UnmarshalText, and says what such a
// value takes.
func culprit(data []byte, err error) (*token.Token, string) {
	msg := err.Error()
	var want string
	switch {
	case strings.Contains(msg, "time: "):
		want = "a duration such as 30s, 5m or 1h30m"
	case strings.Contains(msg, "slog: level string"):
		want = "debug, info, warn or error"
	default:
		return nil, ""
	}
	f, perr := parser.ParseBytes(data, 0)
	if perr != nil {
		return nil, ""
	}
	var found *token.Token
	walkValues(f, func(_ string, _ *token.Token, value ast.Node) bool {
		if tk := value.GetToken(); tk != nil && tk.Value != "" && strings.Contains(msg, strconv.Quote(tk.Value)) {
			found = tk
			return false
		}
		return true
	})
	return found, want
}

// emptyYAML reports whether data holds no YAML value: nothing, or only
// comments. Decoding such a file would zero the defaults.
func emptyYAML(data []byte) bool {
	f, err := parser.ParseBytes(data, 0)
	return err == nil && !slices.ContainsFunc(f.Docs, func(d *ast.DocumentNode) bool { return d.Body != nil })
}

// oddShape finds what the decoder lets through unsaid: a second document
// (after ---), which it ignores; a key that is a number, true or null,
// which no setting is (a name that looks like one must be quoted); and a
// number with a fraction for a setting that counts (max_devices: 10.9),
// which it cuts to 10. into is the type decoded. It returns "line:col:
// why", or "" for a file of the expected shape.
func oddShape(data []byte, into reflect.Type) string {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return "" // the decoder has said what is wrong
	}
	for i, doc := range f.Docs {
		if i > 0 && doc.Body != nil {
			return lineCol(doc.Body.GetToken(), "a second document: the config file holds one")
		}
	}
	var odd string
	walkValues(f, func(path string, key *token.Token, value ast.Node) bool {
		if fl, ok := value.(*ast.FloatNode); ok && wholeNumber(typeAt(into, path)) {
			odd = lineCol(fl.GetToken(), fmt.Sprintf("%s: want a whole number, got %s", path, fl.GetToken().Value))
			return false
		}
		if key == nil {
			return true
		}
		switch key.Type {
		case token.StringType, token.DoubleQuoteType, token.SingleQuoteType, token.MergeKeyType:
			return true
		}
		where := strings.TrimSuffix(strings.TrimSuffix(path, key.Value), ".")
		if where == "" {
			where = "the top"
		}
		odd = lineCol(key, fmt.Sprintf("%s: %s is not the name of a setting (a name that looks like a number or true must be quoted: \"%s\")", where, key.Value, key.Value))
		return false
	})
	return odd
}

// typeAt is the Go type the value at path ("limits.clients",
// "bridges[0].topics") decodes into, by the yaml tags of into; nil when
// it cannot tell.
func typeAt(into reflect.Type, path string) reflect.Type {
	t := into
	for _, part := range strings.Split(strings.ReplaceAll(path, "[", ".["), ".") {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case t == nil || part == "":
			return nil
		case strings.HasPrefix(part, "["):
			if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
				return nil
			}
			t = t.Elem()
		case t.Kind() == reflect.Map:
			t = t.Elem()
		case t.Kind() == reflect.Struct:
			t = fieldByTag(t, part)
		default:
			return nil
		}
	}
	return t
}

// fieldByTag is the type of struct t's field named name in YAML, looking
// into inline fields.
func fieldByTag(t reflect.Type, name string) reflect.Type {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if found := fieldByTag(ft, name); found != nil {
					return found
				}
			}
			continue
		}
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		if tag == name {
			return f.Type
		}
	}
	return nil
}

// wholeNumber reports whether t counts: an integer kind decoded as a
// number, not one that reads its own text (a duration, an age, a size).
func wholeNumber(t reflect.Type) bool {
	if t == nil || t == reflect.TypeFor[time.Duration]() || reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// lineCol writes "line:col: msg" for a token.
func lineCol(tk *token.Token, msg string) string {
	if tk == nil || tk.Position == nil {
		return " " + msg
	}
	return fmt.Sprintf("%d:%d: %s", tk.Position.Line, tk.Position.Column, msg)
}

// keyAt returns the keys leading to the value at p in data, joined with
// dots and list indexes ("bridges[0].topics"); "" when none is there.
func keyAt(data []byte, p *token.Position) string {
	f, err := parser.ParseBytes(data, 0)
	if err != nil || p == nil {
		return ""
	}
	var found string
	walkValues(f, func(path string, _ *token.Token, value ast.Node) bool {
		if at(value, p) {
			found = path
			return false
		}
		return true
	})
	return found
}

// walkValues calls visit for every value in f, in order, with the path of
// keys leading to it ("bridges[0].topics") and the token of its key (nil
// for a list's item), looking through anchors and tags. It stops when
// visit returns false.
func walkValues(f *ast.File, visit func(path string, key *token.Token, value ast.Node) bool) {
	var walk func(n ast.Node, path string) bool
	walk = func(n ast.Node, path string) bool {
		switch n := n.(type) {
		case *ast.MappingNode:
			for _, v := range n.Values {
				if !walk(v, path) {
					return false
				}
			}
		case *ast.MappingValueNode:
			tk := n.Key.GetToken()
			if tk == nil {
				return true
			}
			key := tk.Value // without quotes or an anchor
			if path != "" {
				key = path + "." + key
			}
			return visit(key, tk, n.Value) && walk(n.Value, key)
		case *ast.SequenceNode:
			for i, v := range n.Values {
				item := fmt.Sprintf("%s[%d]", path, i)
				if !visit(item, nil, v) || !walk(v, item) {
					return false
				}
			}
		case *ast.TagNode:
			return walk(n.Value, path)
		case *ast.AnchorNode:
			return walk(n.Value, path)
		}
		return true
	}
	for _, doc := range f.Docs {
		if !walk(doc.Body, "") {
			return
		}
	}
}

// given says what a value is, as the error found it: a scalar as written,
// a list or a mapping by its kind (its token is only a "-" or a ":").
func given(tk *token.Token) string {
	switch tk.Type {
	case token.SequenceEntryType, token.SequenceStartType:
		return "a list"
	case token.MappingValueType, token.MappingStartType, token.MappingKeyType:
		return "keys and values"
	}
	return strconv.Quote(tk.Value)
}

// at reports whether node n, an anchor's or a tag's value being the value,
// starts at p.
func at(n ast.Node, p *token.Position) bool {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
			continue
		case *ast.TagNode:
			n = v.Value
			continue
		}
		break
	}
	if n == nil || n.GetToken() == nil || n.GetToken().Position == nil {
		return false
	}
	q := n.GetToken().Position
	return q.Line == p.Line && q.Column == p.Column
}

// takes says what a value of type t is, as a person writes it in YAML.
func takes(t reflect.Type) string {
	if t == nil {
		return "another kind of value"
	}
	if t == reflect.TypeFor[time.Duration]() {
		return "a duration such as 30s or 5m"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "text"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "keys and values"
	case reflect.Pointer:
		return takes(t.Elem())
	}
	return "another kind of value"
}
