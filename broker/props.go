package broker

// MQTT 5 properties (2.2.2): each has a one-byte identifier, a value of a
// fixed data type, and a set of packets it may appear in. The guard checks
// that every property is known, allowed in its packet, and that its value
// lies inside the property length declared before the list; mochi decodes
// values without holding them to that length.

// propWill stands for the will properties of a CONNECT in the table below.
const propWill = 16

type propKind uint8

const (
	propByte propKind = iota + 1
	propU16
	propU32
	propVarint
	propBinary // a UTF-8 string or binary data: two-byte length, then bytes
	propPair   // a UTF-8 string pair (user property)
)

type propSpec struct {
	name string
	kind propKind
	in   uint32 // bit t set: allowed in packet type t (propWill for will properties)
}

func allowedIn(types ...int) uint32 {
	var m uint32
	for _, t := range types {
		m |= 1 << t
	}
	return m
}

// userPropertyIn is every packet a user property may appear in.
var userPropertyIn = allowedIn(typeConnect, typeConnack, typePublish, typePuback, typePubrec, typePubrel,
	typePubcomp, typeSubscribe, typeSuback, typeUnsubscribe, typeUnsuback, typeDisconnect, typeAuth, propWill)

// propSpecs is indexed by property identifier; a zero kind is unknown.
var propSpecs = [43]propSpec{
	1:  {"payload format indicator", propByte, allowedIn(typePublish, propWill)},
	2:  {"message expiry interval", propU32, allowedIn(typePublish, propWill)},
	3:  {"content type", propBinary, allowedIn(typePublish, propWill)},
	8:  {"response topic", propBinary, allowedIn(typePublish, propWill)},
	9:  {"correlation data", propBinary, allowedIn(typePublish, propWill)},
	11: {"subscription identifier", propVarint, allowedIn(typePublish, typeSubscribe)},
	17: {"session expiry interval", propU32, allowedIn(typeConnect, typeConnack, typeDisconnect)},
	18: {"assigned client identifier", propBinary, allowedIn(typeConnack)},
	19: {"server keep alive", propU16, allowedIn(typeConnack)},
	21: {"authentication method", propBinary, allowedIn(typeConnect, typeConnack, typeAuth)},
	22: {"authentication data", propBinary, allowedIn(typeConnect, typeConnack, typeAuth)},
	23: {"request problem information", propByte, allowedIn(typeConnect)},
	24: {"will delay interval", propU32, allowedIn(propWill)},
	25: {"request response information", propByte, allowedIn(typeConnect)},
	26: {"response information", propBinary, allowedIn(typeConnack)},
	28: {"server reference", propBinary, allowedIn(typeConnack, typeDisconnect)},
	31: {"reason string", propBinary, allowedIn(typeConnack, typePuback, typePubrec, typePubrel, typePubcomp,
		typeSuback, typeUnsuback, typeDisconnect, typeAuth)},
	33: {"receive maximum", propU16, allowedIn(typeConnect, typeConnack)},
	34: {"topic alias maximum", propU16, allowedIn(typeConnect, typeConnack)},
	35: {"topic alias", propU16, allowedIn(typePublish)},
	36: {"maximum QoS", propByte, allowedIn(typeConnack)},
	37: {"retain available", propByte, allowedIn(typeConnack)},
	38: {"user property", propPair, userPropertyIn},
	39: {"maximum packet size", propU32, allowedIn(typeConnect, typeConnack)},
	40: {"wildcard subscription available", propByte, allowedIn(typeConnack)},
	41: {"subscription identifiers available", propByte, allowedIn(typeConnack)},
	42: {"shared subscription available", propByte, allowedIn(typeConnack)},
}

// props reads a property list for packet type pt (or propWill): its length,
// then properties that must end exactly where the length says.
func (r *wire) props(pt int) {
	n := r.varint("property length")
	if !r.need(n, "properties") {
		return
	}
	end := r.off + n
	outer := r.b
	r.b = r.b[:end] // a property running past the declared length is truncated
	defer func() { r.b = outer }()
	for r.err == nil && r.off < end {
		id := r.byte("property identifier")
		if int(id) >= len(propSpecs) || propSpecs[id].kind == 0 {
			r.fail("unknown property %#x", id)
			return
		}
		spec := propSpecs[id]
		if spec.in&(1<<pt) == 0 {
			r.fail("property %q not allowed here", spec.name)
			return
		}
		switch spec.kind {
		case propByte:
			r.byte(spec.name)
		case propU16:
			r.u16(spec.name)
		case propU32:
			if r.need(4, spec.name) {
				r.off += 4
			}
		case propVarint:
			r.varint(spec.name)
		case propBinary:
			r.bin(spec.name)
		case propPair:
			r.bin("user property name")
			r.bin("user property value")
		}
	}
}
