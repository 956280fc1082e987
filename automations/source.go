package automations

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// itemSource returns the text of the i-th top-level item of a file: from
// its first line to the line before the next item, without the blank and
// comment lines at its end (they usually introduce the next item).
func itemSource(lines []string, items []ast.Node, i int) string {
	first, _ := position(items[i])
	if first < 1 || first > len(lines) {
		return ""
	}
	last := len(lines)
	if i+1 < len(items) {
		if next, _ := position(items[i+1]); next > first {
			last = next - 1
		}
	}
	last = min(last, len(lines))
	for last > first {
		t := strings.TrimSpace(lines[last-1])
		if t != "" && !strings.HasPrefix(t, "#") {
			break
		}
		last--
	}
	return strings.Join(lines[first-1:last], "\n") + "\n"
}

// quietly runs f and forgets the problems it records: for reading a node a
// second time (its problems were reported the first time).
func (l *loader) quietly(f func()) {
	np, nw := len(l.c.problems), len(l.c.warnings)
	f()
	l.c.problems, l.c.warnings = l.c.problems[:np], l.c.warnings[:nw]
}

// peek reads the keys of a top-level item without reporting anything.
func (l *loader) peek(n ast.Node) (fs fieldList, ok bool) {
	budget := l.budget
	l.quietly(func() { fs, ok = l.fields(n, "an item") })
	l.budget = budget
	return fs, ok
}

// normalised is an automation's definition as plain values, free of
// formatting, comments, anchors and aliases: what reload compares.
func (l *loader) normalised(n ast.Node) any {
	var v any
	l.quietly(func() { v, _ = l.value(l.resolve(n), 0) })
	return v
}

// fingerprint hashes an automation's normalised definition with those of
// the scenes it uses, so that changing a scene changes its users.
func fingerprint(a *Automation, scenes map[string]*scene) string {
	ids := slices.Clone(a.scenes)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	parts := []any{a.fp}
	for _, id := range ids {
		if sc, ok := scenes[id]; ok {
			parts = append(parts, id, sc.fp)
		}
	}
	b, err := json.Marshal(parts)
	if err != nil {
		b = []byte(a.Source) // cannot happen for values read from YAML; the text is a fair stand-in
	}
	sum := sha256.Sum256(b)
	a.fp = nil
	return hex.EncodeToString(sum[:12])
}
