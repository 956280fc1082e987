package automations

import (
	"slices"
	"strings"

	exprast "github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// What an expression's syntax says, read once per load: the helpers it
// calls, the devices and attributes it names, and the inputs a near miss
// or a trace shows.

// syntax is what an expression's syntax alone says, the same wherever it
// appears: a file of a thousand automations repeats its expressions, and
// parsing each again took a fifth of loading it.
type syntax struct {
	calls   []helperCall // calls of the helpers, with their literal string arguments
	devices []string     // devices named under states
	attrs   []deviceAttr // states.<device>.<attr> it reads
	names   []string     // the other names it reads at the top: in a device trigger's `when`, the device's attributes
	reads   []readSpec   // the member chains it reads, longest first kept, at most maxReads
	helpers bool         // it uses a helper
}

// deviceAttr is an attribute of a device an expression reads.
type deviceAttr struct{ device, attr string }

// readSpec is one input of an expression as written.
type readSpec struct {
	text string
	path []any // see read.path; nil when it is not a path
}

// helperCall is one call of a helper in an expression.
type helperCall struct {
	name string
	args []string
}

// syntaxOf parses src once per load; nil when it does not parse.
func (c *compiler) syntaxOf(src string) *syntax {
	if syn, ok := c.syntaxes[src]; ok {
		return syn
	}
	var syn *syntax
	if tree, err := parser.Parse(src); err == nil {
		syn = readSyntax(tree)
	}
	c.syntaxes[src] = syn
	return syn
}

// readSyntax walks a parsed expression.
func readSyntax(tree *parser.Tree) *syntax {
	v := &readVisitor{callees: map[exprast.Node]bool{}}
	exprast.Walk(&tree.Node, v)
	syn := &syntax{devices: v.devices, helpers: v.helpers}
	for _, a := range v.attrs {
		if !slices.Contains(syn.attrs, a) {
			syn.attrs = append(syn.attrs, a)
		}
	}
	for _, id := range v.idents {
		name := id.Value
		if v.callees[id] || slices.Contains(v.declared, name) || slices.Contains(syn.names, name) {
			continue
		}
		switch name {
		case varPrev, varDevice, varStates, varNow, varThis, "$env":
			continue
		}
		syn.names = append(syn.names, name)
	}
	for _, call := range v.calls {
		hc := helperCall{name: call.Callee.(*exprast.IdentifierNode).Value}
		for _, a := range call.Arguments {
			if s, ok := a.(*exprast.StringNode); ok {
				hc.args = append(hc.args, s.Value)
			}
		}
		syn.calls = append(syn.calls, hc)
	}
	var chains []chain
	for _, c := range v.chains {
		if !slices.ContainsFunc(chains, func(o chain) bool { return o.text == c.text }) {
			chains = append(chains, c)
		}
	}
	for _, c := range chains {
		t := c.text
		if t == varThis || slices.ContainsFunc(chains, func(o chain) bool {
			return len(o.text) > len(t) && strings.HasPrefix(o.text, t) && (o.text[len(t)] == '.' || o.text[len(t)] == '[')
		}) {
			continue // a prefix of a longer chain: the longer one says more
		}
		if len(syn.reads) == maxReads {
			break
		}
		syn.reads = append(syn.reads, readSpec{text: t, path: pathOf(c.node)})
	}
	return syn
}

// readVisitor collects the member chains an expression reads
// ("states.hall_lux.illuminance", "occupancy"), the helper calls it makes
// and the devices it names under states.
type readVisitor struct {
	callees  map[exprast.Node]bool
	chains   []chain
	calls    []*exprast.CallNode
	devices  []string
	attrs    []deviceAttr
	idents   []*exprast.IdentifierNode
	declared []string // names of let
	helpers  bool
}

func (v *readVisitor) Visit(np *exprast.Node) {
	switch n := (*np).(type) {
	case *exprast.CallNode:
		v.callees[n.Callee] = true
		if id, ok := n.Callee.(*exprast.IdentifierNode); ok && slices.Contains(helperNames, id.Value) {
			v.calls = append(v.calls, n)
			v.chains = append(v.chains, chain{n.String(), n})
		}
	case *exprast.IdentifierNode:
		if slices.Contains(helperNames, n.Value) {
			v.helpers = true
		}
		v.idents = append(v.idents, n)
	case *exprast.VariableDeclaratorNode:
		v.declared = append(v.declared, n.Name)
	case *exprast.MemberNode:
		if root, ok := n.Node.(*exprast.IdentifierNode); ok && root.Value == varStates {
			if s, ok := n.Property.(*exprast.StringNode); ok {
				v.devices = append(v.devices, s.Value)
			}
		}
		if dev, ok := n.Node.(*exprast.MemberNode); ok {
			root, isIdent := dev.Node.(*exprast.IdentifierNode)
			d, isDevice := dev.Property.(*exprast.StringNode)
			a, isAttr := n.Property.(*exprast.StringNode)
			if isIdent && root.Value == varStates && isDevice && isAttr {
				v.attrs = append(v.attrs, deviceAttr{d.Value, a.Value})
			}
		}
	}
	// Walk is post-order: a chain's parts come before the chain, and a
	// call's callee before the call; callees are dropped at the end.
	switch n := (*np).(type) {
	case *exprast.IdentifierNode, *exprast.MemberNode:
		if isChain(n) {
			v.chains = append(v.chains, chain{n.String(), n})
		}
	}
	v.chains = slices.DeleteFunc(v.chains, func(ch chain) bool {
		for c := range v.callees {
			if c.String() == ch.text {
				return true
			}
		}
		return false
	})
}

// chain is a member chain or a helper's call an expression reads.
type chain struct {
	text string
	node exprast.Node
}

// pathOf returns the path a chain reads (see read.path), nil when it is
// not one: a helper's call, or a chain from $env (which a lookup does not
// know).
func pathOf(n exprast.Node) []any {
	switch n := n.(type) {
	case *exprast.IdentifierNode:
		if n.Value == "$env" {
			return nil
		}
		return []any{n.Value}
	case *exprast.MemberNode:
		p := pathOf(n.Node)
		if p == nil {
			return nil
		}
		switch k := n.Property.(type) {
		case *exprast.StringNode:
			return append(p, k.Value)
		case *exprast.IntegerNode:
			return append(p, k.Value)
		}
	}
	return nil
}

// isChain reports whether n is a variable or a path of constant members
// below one ("trigger.state.occupancy").
func isChain(n exprast.Node) bool {
	switch n := n.(type) {
	case *exprast.IdentifierNode:
		return true
	case *exprast.MemberNode:
		switch n.Property.(type) {
		case *exprast.StringNode, *exprast.IntegerNode:
			return isChain(n.Node)
		}
	}
	return false
}
