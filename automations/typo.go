package automations

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// attribute notes, as a warning, an expression at n that reads an
// attribute its device neither reports nor describes, when the name is
// one letter or two away from one it does (or from true, false or nil): a
// typo (`contact == fals`, `illuminanse`) makes a `when` that never holds
// and a condition that never passes, without an error, because a device
// trigger's attributes are names the expression cannot check. A name far
// from all of them is not warned of: a device may send an attribute only
// now and then (a button's action, a light's brightness once it is on).
func (l *loader) attribute(n ast.Node, what, src, device, attr string) {
	if l.c.opts.Attrs == nil || device == "" {
		return
	}
	attrs := l.c.opts.Attrs(device)
	if len(attrs) == 0 || slices.Contains(attrs, attr) {
		return
	}
	meant := closest(attr, attrs)
	if meant == "" {
		return
	}
	if !slices.Contains(literals, meant) {
		meant = strconv.Quote(meant)
	}
	line, col := position(n)
	l.c.warnings = append(l.c.warnings, Problem{File: l.file, Line: line, Column: col, Automation: l.auto,
		Msg: fmt.Sprintf("%s %q reads %q, which %s has not reported: did you mean %s?", what, src, attr, device, meant)})
}

// literals are the words an expression may have meant where it names an
// attribute.
var literals = []string{"true", "false", "nil"}

// closest returns the attribute of attrs, or the literal, that name is
// most likely a typo of: the nearest within one edit for a short name, two
// for a longer one, ignoring case (a letter changed, added, dropped, or
// two swapped). It returns "" when none is that near.
func closest(name string, attrs []string) string {
	limit := 1
	if len(name) > 5 {
		limit = 2
	}
	best, bestDist := "", limit+1
	for _, cands := range [][]string{literals, attrs} {
		for _, c := range cands {
			if d := editDistance(strings.ToLower(name), strings.ToLower(c), limit); d < bestDist {
				best, bestDist = c, d
			}
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b
// (Levenshtein's, with a swap of neighbours as one edit), or limit+1 once it
// is sure to exceed limit.
func editDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if abs(len(ra)-len(rb)) > limit {
		return limit + 1
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(rb)], limit+1)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
