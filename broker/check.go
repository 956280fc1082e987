package broker

// The structure of each packet a client may send, as MQTT 3.1.1 and 5 define
// it (sections 3.1 to 3.15). Only what mochi's decoders read is checked
// here: UTF-8 validity, protocol names and semantic rules stay with mochi,
// which refuses them with the proper reason code rather than a panic.

// checkBody checks a packet's variable header and payload. For CONNECT it
// returns the protocol level the rest of the connection is read with.
func checkBody(typ, flags byte, body []byte, version byte) (byte, error) {
	r := &wire{b: body, typ: typ}
	switch typ {
	case typeConnect:
		return r.connect()
	case typePublish:
		r.str("topic")
		if flags>>1&3 > 0 {
			r.u16("packet identifier")
		}
		if version == 5 {
			r.props(typePublish)
		}
		r.off = len(r.b) // the rest is the payload
	case typePuback, typePubrec, typePubrel, typePubcomp:
		r.u16("packet identifier")
		if version == 5 && len(body) > 2 {
			r.byte("reason code")
			if len(body) > 3 {
				r.props(int(typ))
			}
		}
	case typeSubscribe:
		r.u16("packet identifier")
		if version == 5 {
			r.props(typeSubscribe)
		}
		if r.err == nil && r.off == len(r.b) {
			r.fail("no topic filter")
		}
		for r.err == nil && r.off < len(r.b) {
			r.str("topic filter")
			r.subscriptionOptions(version)
		}
	case typeUnsubscribe:
		r.u16("packet identifier")
		if version == 5 {
			r.props(typeUnsubscribe)
		}
		if r.err == nil && r.off == len(r.b) {
			r.fail("no topic filter")
		}
		for r.err == nil && r.off < len(r.b) {
			r.str("topic filter")
		}
	case typeDisconnect, typeAuth:
		if version == 5 && len(body) > 0 {
			r.byte("reason code")
			if len(body) > 1 {
				r.props(int(typ))
			}
		}
	case typePingreq:
	}
	return version, r.end()
}

// wire reads MQTT data types from a packet body, remembering the first
// failure so that a check reads as a list of fields.
type wire struct {
	b   []byte
	off int
	typ byte
	err error
}

func (r *wire) fail(format string, args ...any) {
	if r.err == nil {
		r.err = malformed(r.typ, format, args...)
	}
}

// end reports the first failure, or trailing bytes after the last field.
func (r *wire) end() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d trailing bytes", len(r.b)-r.off)
	}
	return r.err
}

func (r *wire) need(n int, what string) bool {
	if r.err != nil {
		return false
	}
	if len(r.b)-r.off < n {
		r.fail("%s: truncated", what)
		return false
	}
	return true
}

func (r *wire) byte(what string) byte {
	if !r.need(1, what) {
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *wire) u16(what string) int {
	if !r.need(2, what) {
		return 0
	}
	r.off += 2
	return int(r.b[r.off-2])<<8 | int(r.b[r.off-1])
}

// bin reads two-byte-length-prefixed data (a UTF-8 string or binary data).
func (r *wire) bin(what string) []byte {
	n := r.u16(what)
	if !r.need(n, what) {
		return nil
	}
	r.off += n
	return r.b[r.off-n : r.off]
}

// str reads a string; its UTF-8 validity is left to mochi, which checks it.
func (r *wire) str(what string) { r.bin(what) }

// varint reads a variable byte integer of at most four bytes.
func (r *wire) varint(what string) int {
	v, mult := 0, 1
	for i := 0; i < 4; i++ {
		d := r.byte(what)
		if r.err != nil {
			return 0
		}
		v += int(d&0x7f) * mult
		if d&0x80 == 0 {
			return v
		}
		mult *= 128
	}
	r.fail("%s: variable byte integer longer than four bytes", what)
	return 0
}

func (r *wire) subscriptionOptions(version byte) {
	o := r.byte("subscription options")
	if r.err != nil {
		return
	}
	if o&3 == 3 {
		r.fail("subscription QoS 3")
	}
	if version == 5 {
		if o&0xc0 != 0 || o>>4&3 == 3 {
			r.fail("subscription options %#x: reserved bits or retain handling 3", o)
		}
	} else if o&0xfc != 0 {
		r.fail("requested QoS byte %#x: reserved bits set", o)
	}
}

// connect checks a CONNECT (MQTT 3.1 and 5: 3.1.2 and 3.1.3) and returns its
// protocol level. Protocol name, level and flags are left to mochi, which
// answers a bad one with the proper CONNACK; only what it reads is checked.
func (r *wire) connect() (byte, error) {
	r.str("protocol name")
	version := r.byte("protocol level")
	flags := r.byte("connect flags")
	r.u16("keepalive")
	if version == 5 {
		r.props(typeConnect)
	}
	r.str("client identifier")
	if flags&0x04 != 0 {
		if version == 5 {
			r.props(propWill)
		}
		r.str("will topic")
		r.bin("will payload")
	}
	if flags&0x80 != 0 {
		r.bin("username")
	}
	if flags&0x40 != 0 {
		r.bin("password")
	}
	return version, r.end()
}
