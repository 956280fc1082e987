package devices

import (
	"bytes"
	"maps"
	"slices"
	"unicode/utf8"

	"hearth"
)

// valueKey is the attribute a payload that is not a JSON object is kept under.
const valueKey = "value"

// decode turns a state payload into the members to merge. A JSON object gives
// its keys; a JSON scalar is kept as {"value": scalar}; anything else (an
// array, text that is not JSON, invalid UTF-8) as {"value": "the text"}.
// The result is valid until the parser is used again.
func (r *Registry) decode(payload []byte) []member {
	if r.p.parseObject(payload) {
		return r.p.members
	}
	v, ok := r.p.parseTop(payload)
	if !ok || v.kind == valAny {
		s := payload
		if !utf8.Valid(s) {
			s = []byte(validString(s))
		}
		v = scalar{kind: valStr, s: s}
	}
	r.p.scratch = append(r.p.scratch, valueKey...)
	key := r.p.scratch[len(r.p.scratch)-len(valueKey):]
	r.p.members = append(r.p.members[:0], member{key: key, val: v})
	return r.p.members
}

// merge folds members into old the Zigbee2MQTT way: a key present replaces
// the attribute (nested objects are replaced whole), a key with null removes
// it. It returns the new map, its sorted keys when the set of keys changed
// (newKeys), and whether anything changed at all; old is never modified.
func (r *Registry) merge(old map[string]any, ms []member) (next map[string]any, keys []string, newKeys, changed bool) {
	// First a check that allocates nothing: most messages from a sensor
	// that reports on a timer change nothing.
	first := len(ms) // the first member that differs from the known state
	for i := range ms {
		ov, had := old[string(ms[i].key)]
		if ms[i].val.kind == valNull && had || ms[i].val.kind != valNull && (!had || !r.p.same(ms[i].val, ov)) {
			first = i
			break
		}
	}
	if first == len(ms) {
		return nil, nil, false, false
	}
	// Members before first equal the known state and come before any
	// change, so only the rest need applying and checking.
	ms = ms[first:]

	next = maps.Clone(old)
	if next == nil {
		next = make(map[string]any, len(ms))
	}
	for i := range ms {
		m := &ms[i]
		ov, had := old[string(m.key)]
		if m.val.kind == valNull {
			delete(next, string(m.key))
			newKeys = newKeys || had
			continue
		}
		k := r.key(m.key)
		if had && r.p.same(m.val, ov) {
			next[k] = ov // reuse the stored value rather than box a copy
		} else {
			next[k] = r.p.value(m.val)
		}
		newKeys = newKeys || !had
	}
	if _, had := old[string(ms[0].key)]; !repeats(ms) && (ms[0].val.kind != valRaw || !had) {
		changed = true // the first member differs and nothing later undoes it
	} else {
		// A key given twice ({"a":2,"a":1}) can undo its own change, and
		// same may not have seen that an object or array was equal: decide
		// on the result; only the keys named can differ.
		newKeys = false
		for i := range ms {
			k := string(ms[i].key)
			ov, had := old[k]
			nv, has := next[k]
			if had != has {
				newKeys, changed = true, true
			} else if has && !equalValue(ov, nv) {
				changed = true
			}
		}
		if !changed {
			return nil, nil, false, false
		}
	}
	if newKeys || old == nil {
		keys, newKeys = sortedKeys(next), true
	}
	return next, keys, newKeys, true
}

// repeats reports whether a key occurs twice among ms; for many members it
// answers true rather than compare every pair.
func repeats(ms []member) bool {
	if len(ms) > 16 {
		return true
	}
	for i := 1; i < len(ms); i++ {
		for j := range i {
			if string(ms[i].key) == string(ms[j].key) {
				return true
			}
		}
	}
	return false
}

// wholeState parses a whole state (a logged state event, a restored state):
// a JSON object whose null attributes are dropped. It returns the map, its
// sorted keys and its canonical encoding.
func (r *Registry) wholeState(payload []byte) (map[string]any, []string, []byte, bool) {
	if !r.p.parseObject(payload) {
		return nil, nil, nil, false
	}
	st := make(map[string]any, len(r.p.members))
	for _, m := range r.p.members {
		k := r.key(m.key)
		if m.val.kind == valNull {
			delete(st, k)
		} else {
			st[k] = r.p.value(m.val)
		}
	}
	keys := sortedKeys(st)
	return st, keys, r.enc.appendState(nil, st, keys), true
}

// parseAvailability accepts the native "online"/"offline" and Zigbee2MQTT's
// newer {"state":"online"}.
func (r *Registry) parseAvailability(payload []byte) (hearth.Availability, bool) {
	s := bytes.TrimSpace(payload)
	if !bytes.HasPrefix(s, []byte("{")) {
		return availability(s)
	}
	if !r.p.parseObject(s) {
		return hearth.AvailabilityUnknown, false
	}
	for _, m := range r.p.members {
		if string(m.key) == "state" && m.val.kind == valStr {
			return availability(m.val.s)
		}
	}
	return hearth.AvailabilityUnknown, false
}

func availability(s []byte) (hearth.Availability, bool) {
	switch string(s) {
	case string(hearth.Online):
		return hearth.Online, true
	case string(hearth.Offline):
		return hearth.Offline, true
	}
	return hearth.AvailabilityUnknown, false
}

// key returns the attribute name as a string, shared with earlier messages
// that used the same name so that steady payloads allocate no keys.
func (r *Registry) key(b []byte) string {
	if k, ok := r.intern[string(b)]; ok {
		return k
	}
	k := string(b)
	if len(r.intern) < maxInterned {
		r.intern[k] = k
	}
	return k
}

// sortedKeys returns the keys of m in order, never nil.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
