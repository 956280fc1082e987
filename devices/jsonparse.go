package devices

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The payload parser is hand-written because it runs under the bus lock for
// every message. It validates in one pass without allocating, keeps top-level
// values unboxed (objects and arrays as their text) until the merge knows
// they changed, compares them with the known values in place, and lets
// strings alias the payload when they need no unescaping. A message that
// changes nothing therefore allocates nothing. Its results match
// encoding/json's Unmarshal into an any (json_test.go checks that), including
// invalid UTF-8 in strings becoming U+FFFD byte by byte.

// maxDepth bounds nesting like encoding/json does, so a hostile payload
// cannot grow the stack without limit.
const maxDepth = 10000

// valKind says which field of a scalar holds a top-level value.
type valKind uint8

const (
	valNull valKind = iota
	valBool
	valNum
	valStr
	valAny // an object or an array, decoded into a
	valRaw // an object or an array, validated but not decoded: its text is raw
)

// scalar is a top-level value before it is boxed into an any: the merge
// compares it with the known value first and boxes it only when it changed.
type scalar struct {
	kind valKind
	b    bool
	f    float64
	s    []byte // string bytes, unescaped; may alias the payload or the scratch buffer
	a    any
	raw  []byte // the text of an object or array, aliasing the payload
}

// member is one key of a top-level object.
type member struct {
	key []byte
	val scalar
}

// parser decodes payloads. It is reused under the registry lock, so its
// buffers are not reallocated per message.
type parser struct {
	data    []byte
	pos     int
	members []member
	scratch []byte   // unescaped strings; only appended to during one parse
	seen    [][]byte // keys of the objects being compared, to spot repeats
}

func (p *parser) reset(data []byte) {
	p.data = data
	p.pos = 0
	p.members = p.members[:0]
	p.scratch = p.scratch[:0]
}

// parseObject decodes data as a JSON object into p.members. It reports false
// when data is not exactly one JSON object (surrounding white space allowed).
func (p *parser) parseObject(data []byte) bool {
	p.reset(data)
	p.skipSpace()
	if !p.consume('{') {
		return false
	}
	p.skipSpace()
	if p.consume('}') {
		return p.atEnd()
	}
	for {
		p.skipSpace()
		key, ok := p.parseString()
		if !ok {
			return false
		}
		p.skipSpace()
		if !p.consume(':') {
			return false
		}
		p.skipSpace()
		var v scalar
		if p.pos < len(p.data) && (p.data[p.pos] == '{' || p.data[p.pos] == '[') {
			start := p.pos
			if !p.skip(1) {
				return false
			}
			v = scalar{kind: valRaw, raw: p.data[start:p.pos]}
		} else if v, ok = p.parseScalar(1); !ok {
			return false
		}
		p.members = append(p.members, member{key: key, val: v})
		p.skipSpace()
		if p.consume(',') {
			continue
		}
		if p.consume('}') {
			return p.atEnd()
		}
		return false
	}
}

// parseTop decodes data as any single JSON value. It reports false when data
// is not valid JSON.
func (p *parser) parseTop(data []byte) (scalar, bool) {
	p.reset(data)
	p.skipSpace()
	v, ok := p.parseScalar(0)
	if !ok || !p.atEnd() {
		return scalar{}, false
	}
	return v, true
}

func (p *parser) atEnd() bool {
	p.skipSpace()
	return p.pos == len(p.data)
}

func (p *parser) consume(c byte) bool {
	if p.pos < len(p.data) && p.data[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// parseScalar decodes one value; objects and arrays are decoded into an any.
func (p *parser) parseScalar(depth int) (scalar, bool) {
	if p.pos >= len(p.data) {
		return scalar{}, false
	}
	switch c := p.data[p.pos]; {
	case c == '"':
		s, ok := p.parseString()
		return scalar{kind: valStr, s: s}, ok
	case c == '{' || c == '[':
		a, ok := p.parseAny(depth)
		return scalar{kind: valAny, a: a}, ok
	case c == 't':
		return scalar{kind: valBool, b: true}, p.literal("true")
	case c == 'f':
		return scalar{kind: valBool}, p.literal("false")
	case c == 'n':
		return scalar{kind: valNull}, p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		f, ok := p.parseNumber()
		return scalar{kind: valNum, f: f}, ok
	}
	return scalar{}, false
}

// parseAny decodes one value into the types encoding/json uses for an any:
// map[string]any, []any, string, float64, bool and nil.
func (p *parser) parseAny(depth int) (any, bool) {
	if depth >= maxDepth || p.pos >= len(p.data) {
		return nil, false
	}
	switch p.data[p.pos] {
	case '{':
		p.pos++
		m := map[string]any{}
		p.skipSpace()
		if p.consume('}') {
			return m, true
		}
		for {
			p.skipSpace()
			key, ok := p.parseString()
			if !ok {
				return nil, false
			}
			p.skipSpace()
			if !p.consume(':') {
				return nil, false
			}
			p.skipSpace()
			v, ok := p.parseAny(depth + 1)
			if !ok {
				return nil, false
			}
			m[string(key)] = v
			p.skipSpace()
			if p.consume(',') {
				continue
			}
			if p.consume('}') {
				return m, true
			}
			return nil, false
		}
	case '[':
		p.pos++
		a := []any{}
		p.skipSpace()
		if p.consume(']') {
			return a, true
		}
		for {
			p.skipSpace()
			v, ok := p.parseAny(depth + 1)
			if !ok {
				return nil, false
			}
			a = append(a, v)
			p.skipSpace()
			if p.consume(',') {
				continue
			}
			if p.consume(']') {
				return a, true
			}
			return nil, false
		}
	}
	v, ok := p.parseScalar(depth)
	if !ok {
		return nil, false
	}
	return v.box(), true
}

// box turns a decoded scalar into the value stored in a state map.
func (v scalar) box() any {
	switch v.kind {
	case valBool:
		return v.b
	case valNum:
		return v.f
	case valStr:
		return string(v.s)
	case valAny:
		return v.a
	}
	return nil
}

func (p *parser) literal(word string) bool {
	if len(p.data)-p.pos >= len(word) && string(p.data[p.pos:p.pos+len(word)]) == word {
		p.pos += len(word)
		return true
	}
	return false
}

// parseNumber checks the JSON number grammar, then converts. A number out of
// float64's range is an error, as it is for encoding/json.
func (p *parser) parseNumber() (float64, bool) {
	d, start := p.data, p.pos
	i := p.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return 0, false
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return 0, false
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return 0, false
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	p.pos = i
	f, err := strconv.ParseFloat(string(d[start:i]), 64)
	return f, err == nil
}

// parseString decodes a JSON string at p.pos. The result aliases the payload
// when the string holds no escapes and only valid UTF-8; otherwise it is
// written to the scratch buffer.
func (p *parser) parseString() ([]byte, bool) {
	if !p.consume('"') {
		return nil, false
	}
	d, start := p.data, p.pos
	for i := start; i < len(d); i++ {
		c := d[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return d[start:i], true
		case c == '\\' || c >= utf8.RuneSelf:
			return p.parseStringSlow(start)
		case c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

func (p *parser) parseStringSlow(start int) ([]byte, bool) {
	d := p.data
	from := len(p.scratch)
	out := p.scratch
	i := start
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			p.pos = i + 1
			p.scratch = out
			return out[from:len(out):len(out)], true
		case c < 0x20:
			return nil, false
		case c < utf8.RuneSelf && c != '\\':
			out = append(out, c)
			i++
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, d[i:i+size]...)
			}
			i += size
		default: // an escape
			if i+1 >= len(d) {
				return nil, false
			}
			i++
			switch d[i] {
			case '"', '\\', '/':
				out = append(out, d[i])
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(d, i+1)
				if !ok {
					return nil, false
				}
				i += 4
				if utf16.IsSurrogate(r) {
					r2, ok2 := rune(0), false
					if i+6 < len(d) && d[i+1] == '\\' && d[i+2] == 'u' {
						r2, ok2 = hex4(d, i+3)
					}
					if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				return nil, false
			}
			i++
		}
	}
	return nil, false
}

// hex4 reads the four hex digits of a \u escape starting at d[i].
func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	return r, true
}
