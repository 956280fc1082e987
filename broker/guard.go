package broker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// The guard reads MQTT packets off a client's socket before mochi does. It
// frames each packet itself (fixed header, remaining length bounded by the
// maximum packet size), reads the whole packet, checks its structure against
// the MQTT 3.1.1 and 5 specifications, and only then hands the bytes to
// mochi. mochi's decoders trust lengths they read from the wire: a v5
// SUBSCRIBE whose last filter lacks its options byte panics SubscribeDecode
// (upstream issue #501) on a goroutine without recover, taking the hub down.
//
// Why a structural check rather than a trial decode with mochi's own decoders
// inside recover: the audit of mochi v2.7.9's decoders (CONNECT, PUBLISH, the
// four acks, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT, AUTH, properties) found the
// one unchecked index above, plus property lists that mochi reads past their
// declared length. Checking the structure costs one pass over a few header
// bytes and no allocation, rejects the packets mochi would misread as well as
// the ones it would crash on, and does not depend on where mochi happens to
// check its bounds; a trial decode would allocate every packet twice and only
// catch what panics. FuzzGuard checks that whatever passes here decodes in
// mochi without a panic.

// Packet types (MQTT 2.1.2), named as mochi's packets package names them.
const (
	typeConnect     = 1
	typeConnack     = 2
	typePublish     = 3
	typePuback      = 4
	typePubrec      = 5
	typePubrel      = 6
	typePubcomp     = 7
	typeSubscribe   = 8
	typeSuback      = 9
	typeUnsubscribe = 10
	typeUnsuback    = 11
	typePingreq     = 12
	typePingresp    = 13
	typeDisconnect  = 14
	typeAuth        = 15
)

var typeNames = [16]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

// malformedError says why a packet was refused.
type malformedError struct {
	typ    byte
	reason string
}

func (e *malformedError) Error() string {
	return fmt.Sprintf("malformed %s packet: %s", typeNames[e.typ&0x0f], e.reason)
}

func malformed(typ byte, format string, args ...any) error {
	return &malformedError{typ: typ, reason: fmt.Sprintf(format, args...)}
}

// framer reads one checked packet at a time from a client connection and
// hands it out to mochi's reads. It is used by the connection's reading
// goroutine only.
type framer struct {
	br  *bufio.Reader
	max int // largest whole packet accepted

	version   byte // protocol level from CONNECT; properties exist at 5
	connected bool // a CONNECT has been framed

	left int    // bytes of the current packet not yet handed out
	big  []byte // the rest of the current packet when it did not fit in br
}

func newFramer(r io.Reader, bufSize, maxPacket int) *framer {
	return &framer{br: bufio.NewReaderSize(r, bufSize), max: maxPacket}
}

// read hands out the next bytes of the current packet, framing (and
// checking) the next packet when the current one is used up.
func (f *framer) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if f.left == 0 {
		if err := f.next(); err != nil {
			return 0, err
		}
	}
	var n int
	if f.big != nil {
		n = copy(p, f.big)
		f.big = f.big[n:]
		if len(f.big) == 0 {
			f.big = nil // a large packet's buffer is not kept per connection
		}
	} else {
		b, _ := f.br.Peek(min(len(p), f.left)) // already buffered: no I/O, no error
		n = copy(p, b)
		_, _ = f.br.Discard(n)
	}
	f.left -= n
	return n, nil
}

// next reads the next whole packet, checks it, and makes it current. A packet
// that fits the read buffer stays there (no copy, no allocation); a larger
// one is read into a slice that grows only as its bytes actually arrive, so
// announcing a large packet costs nothing until it is sent.
func (f *framer) next() error {
	hb, err := f.br.Peek(1)
	if err != nil {
		return err // io.EOF here is a clean end between packets
	}
	typ, flags := hb[0]>>4, hb[0]&0x0f
	if err := f.checkHeader(typ, flags); err != nil {
		return err
	}
	rem, hlen, err := f.remainingLength(typ)
	if err != nil {
		return err
	}
	total := hlen + rem
	if total > f.max {
		return malformed(typ, "packet of %d bytes exceeds the maximum of %d", total, f.max)
	}

	var pkt []byte
	if total <= f.br.Size() {
		pkt, err = f.br.Peek(total)
		if err != nil {
			return unexpectedEOF(err)
		}
	} else {
		pkt, err = f.readBig(total)
		if err != nil {
			return err
		}
	}
	version, err := checkBody(typ, flags, pkt[hlen:], f.version)
	if err != nil {
		return err
	}
	if typ == typeConnect {
		f.version, f.connected = version, true
	}
	if total > f.br.Size() {
		f.big = pkt
	}
	f.left = total
	return nil
}

// remainingLength decodes the variable byte integer after the first byte,
// at most four bytes long (MQTT 1.5.5), returning it and the header's length.
func (f *framer) remainingLength(typ byte) (rem, hlen int, err error) {
	mult := 1
	for i := 1; i <= 4; i++ {
		b, err := f.br.Peek(i + 1)
		if err != nil {
			return 0, 0, unexpectedEOF(err)
		}
		d := b[i]
		rem += int(d&0x7f) * mult
		if d&0x80 == 0 {
			return rem, i + 1, nil
		}
		mult *= 128
	}
	return 0, 0, malformed(typ, "remaining length longer than four bytes")
}

// readBig reads a packet larger than the read buffer.
func (f *framer) readBig(total int) ([]byte, error) {
	buf := make([]byte, 0, min(total, 4*f.br.Size()))
	for len(buf) < total {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf), total))
			copy(grown, buf)
			buf = grown
		}
		n, err := f.br.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil && len(buf) < total {
			return nil, unexpectedEOF(err)
		}
	}
	return buf, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF // the peer stopped in the middle of a packet
	}
	return err
}

// checkHeader checks the first byte: a type a client may send at this point
// and the flags MQTT fixes for it (2.1.3).
func (f *framer) checkHeader(typ, flags byte) error {
	switch {
	case typ == 0:
		return malformed(typ, "reserved packet type 0")
	case !f.connected && typ != typeConnect:
		return malformed(typ, "first packet is not CONNECT")
	case f.connected && typ == typeConnect:
		return malformed(typ, "second CONNECT on a connection")
	case typ == typeConnack || typ == typeSuback || typ == typeUnsuback || typ == typePingresp:
		return malformed(typ, "server-to-client packet sent by a client")
	case typ == typeAuth && f.version != 5:
		return malformed(typ, "AUTH before MQTT 5")
	}
	switch typ {
	case typePublish:
		qos := flags >> 1 & 3
		if qos == 3 {
			return malformed(typ, "QoS 3")
		}
		if qos == 0 && flags&0x08 != 0 {
			return malformed(typ, "DUP set on QoS 0")
		}
	case typePubrel, typeSubscribe, typeUnsubscribe:
		if flags != 0x02 {
			return malformed(typ, "fixed header flags %#x, want 0x2", flags)
		}
	default:
		if flags != 0 {
			return malformed(typ, "fixed header flags %#x, want 0", flags)
		}
	}
	return nil
}
