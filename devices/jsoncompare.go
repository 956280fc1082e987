package devices

import "reflect"

// Comparing before boxing: the merge asks whether a member of a message
// equals the known attribute before it builds anything, so a message that
// changes nothing costs a parse and some map lookups, and no allocation.

// skip validates one value without decoding it.
func (p *parser) skip(depth int) bool {
	if depth >= maxDepth || p.pos >= len(p.data) {
		return false
	}
	switch p.data[p.pos] {
	case '{':
		p.pos++
		p.skipSpace()
		if p.consume('}') {
			return true
		}
		for {
			p.skipSpace()
			if _, ok := p.parseString(); !ok {
				return false
			}
			p.skipSpace()
			if !p.consume(':') {
				return false
			}
			p.skipSpace()
			if !p.skip(depth + 1) {
				return false
			}
			p.skipSpace()
			if p.consume(',') {
				continue
			}
			return p.consume('}')
		}
	case '[':
		p.pos++
		p.skipSpace()
		if p.consume(']') {
			return true
		}
		for {
			p.skipSpace()
			if !p.skip(depth + 1) {
				return false
			}
			p.skipSpace()
			if p.consume(',') {
				continue
			}
			return p.consume(']')
		}
	}
	_, ok := p.parseScalar(depth)
	return ok
}

// value boxes a top-level value, decoding an object or array kept as text.
func (p *parser) value(v scalar) any {
	if v.kind != valRaw {
		return v.box()
	}
	data, pos := p.data, p.pos
	p.data, p.pos = v.raw, 0
	a, _ := p.parseAny(1) // validated by skip
	p.data, p.pos = data, pos
	return a
}

// same reports whether a top-level value equals a stored one, comparing an
// object or array kept as text without decoding it. It may answer false for
// equal values (an object with a repeated key), never true for different ones.
func (p *parser) same(v scalar, old any) bool {
	if v.kind != valRaw {
		return equalScalar(v, old)
	}
	data, pos := p.data, p.pos
	p.data, p.pos = v.raw, 0
	p.seen = p.seen[:0]
	eq := p.match(old, 1)
	p.data, p.pos = data, pos
	return eq
}

// match compares the validated value at p.pos with old.
func (p *parser) match(old any, depth int) bool {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return false
	}
	switch p.data[p.pos] {
	case '{':
		om, ok := old.(map[string]any)
		if !ok {
			return false
		}
		p.pos++
		mark, n := len(p.seen), 0
		for {
			p.skipSpace()
			if p.consume('}') {
				break
			}
			key, ok := p.parseString()
			if !ok {
				return false
			}
			for _, k := range p.seen[mark:] {
				if string(k) == string(key) {
					return false // the last of the repeats counts; leave that to the decoder
				}
			}
			p.seen = append(p.seen, key)
			ov, ok := om[string(key)]
			if !ok {
				return false
			}
			p.skipSpace()
			p.consume(':')
			if !p.match(ov, depth+1) {
				return false
			}
			n++
			p.skipSpace()
			p.consume(',')
		}
		p.seen = p.seen[:mark]
		return n == len(om)
	case '[':
		oa, ok := old.([]any)
		if !ok {
			return false
		}
		p.pos++
		n := 0
		for {
			p.skipSpace()
			if p.consume(']') {
				break
			}
			if n >= len(oa) || !p.match(oa[n], depth+1) {
				return false
			}
			n++
			p.skipSpace()
			p.consume(',')
		}
		return n == len(oa)
	}
	v, ok := p.parseScalar(depth)
	return ok && equalScalar(v, old)
}

// equalValue is deep equality for decoded JSON values, without reflection for
// the types the parser produces.
func equalValue(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		bv, ok := b.(bool)
		return ok && a == bv
	case float64:
		bv, ok := b.(float64)
		return ok && a == bv
	case string:
		bv, ok := b.(string)
		return ok && a == bv
	case map[string]any:
		bv, ok := b.(map[string]any)
		return ok && equalState(a, bv)
	case []any:
		bv, ok := b.([]any)
		if !ok || len(a) != len(bv) {
			return false
		}
		for i := range a {
			if !equalValue(a[i], bv[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// equalState reports whether two attribute maps hold the same keys and values.
func equalState(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok || !equalValue(av, bv) {
			return false
		}
	}
	return true
}

// equalScalar compares an unboxed value with a stored one without boxing it.
func equalScalar(v scalar, old any) bool {
	switch v.kind {
	case valNull:
		return old == nil
	case valBool:
		o, ok := old.(bool)
		return ok && o == v.b
	case valNum:
		o, ok := old.(float64)
		return ok && o == v.f
	case valStr:
		o, ok := old.(string)
		return ok && o == string(v.s)
	}
	return equalValue(v.a, old)
}
