package broker

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// readBufferSize is the guard's read buffer per connection: packets that fit
// are checked and handed to mochi without a copy of their own; larger ones
// get a buffer of their own while they are read. Device messages are a few
// hundred bytes; every connection holds its buffer for as long as it lives.
const readBufferSize = 2 << 10

// mochiReadBufferSize is mochi's own read buffer per client. mochi reads
// from the guard, which already holds the packet in memory, so a large
// buffer would only copy it once more: a small one keeps mochi's reads of
// the fixed header cheap, and mochi reads the body past it.
const mochiReadBufferSize = 256

// conn is a client socket as mochi sees it. Reads go through the guard's
// framer; deadlines follow the broker's policy rather than mochi's:
//
//   - Until a complete CONNECT has arrived the read deadline is the connect
//     deadline, and mochi's SetDeadline calls cannot extend it.
//   - mochi sets one deadline for both directions (keepalive × 1.5); here
//     it applies to reads only. Writes go to the socket's send queue
//     (sendqueue.go), which never makes mochi wait and has its own deadline;
//     any write error closes the socket, which makes mochi drop the client.
//   - Nothing but AUTH goes out before the CONNACK (see holdBack).
type conn struct {
	net.Conn
	out     *sendQueue // the socket's, under TLS when there is TLS
	fr      *framer
	log     *slog.Logger
	onClose func(*conn)

	connected atomic.Bool // a complete CONNECT was read: mochi's read deadlines apply
	closed    atomic.Bool
	done      chan struct{} // closed by Close: ends a publish waiting for its rate
	closeOnce sync.Once
	readErr   error // sticky; read goroutine only

	acked  atomic.Bool // the CONNACK was written: writes go straight through
	heldMu sync.Mutex
	held   []byte // packets written before the CONNACK, sent right after it
}

// newConn guards nc, whose socket's send queue is out.
func newConn(nc net.Conn, out *sendQueue, cfg *Config, log *slog.Logger, onClose func(*conn)) *conn {
	c := &conn{
		Conn:    nc,
		out:     out,
		fr:      newFramer(nc, readBufferSize, cfg.MaxPacketSize),
		log:     log.With("remote", nc.RemoteAddr().String()),
		onClose: onClose,
		done:    make(chan struct{}),
	}
	_ = nc.SetReadDeadline(time.Now().Add(cfg.ConnectTimeout))
	return c
}

// Read hands mochi the bytes of checked packets. A malformed packet, a
// CONNECT that does not arrive in time, or any read error closes the socket.
func (c *conn) Read(p []byte) (int, error) {
	if c.readErr != nil {
		return 0, c.readErr
	}
	n, err := c.fr.read(p)
	if err != nil {
		c.readErr = err
		c.readFailed(err)
		return n, err
	}
	if c.fr.connected && !c.connected.Load() {
		c.connected.Store(true)
	}
	return n, nil
}

// readFailed logs why reading stopped, once, when it is worth a line, and
// closes the socket.
func (c *conn) readFailed(err error) {
	var bad *malformedError
	switch {
	case c.closed.Load():
		// closed by us (a failed write, shutdown): nothing to add
	case errors.As(err, &bad):
		c.log.Warn("closing connection: refused packet", "reason", bad.Error())
	case errors.Is(err, os.ErrDeadlineExceeded) && !c.connected.Load():
		c.log.Warn("closing connection: no complete CONNECT in time")
	case errors.Is(err, io.EOF), errors.Is(err, os.ErrDeadlineExceeded):
		// a client leaving, or mochi's keepalive expiring: mochi logs these
	case tlsFailure(err):
		c.log.Info("closing connection: TLS handshake failed", "error", err)
	default:
		c.log.Debug("closing connection: read failed", "error", err)
	}
	_ = c.Close()
}

// Write hands p to the socket's send queue, which does not wait for the
// client. A write that fails (the client was cut off as a slow consumer,
// which the queue logs, or the socket failed) closes the connection so that
// mochi drops the client.
func (c *conn) Write(p []byte) (int, error) {
	if !c.acked.Load() {
		return c.holdBack(p)
	}
	return c.write(p)
}

// holdBack writes the packets in p that may go before the CONNACK (the
// CONNACK, AUTH) and holds the others back until the CONNACK is written,
// then sends them right after it, in order.
//
// MQTT forbids the server to send anything but AUTH before the CONNACK
// [MQTT-3.2.0-1], but mochi files a resumed session's client under its id,
// where publishes find it, a moment before it writes the CONNACK: a message
// published in that moment is written first, and a strict client drops the
// connection. (takeover.go keeps a new clean session from inheriting the
// subscriptions that would do the same.) mochi writes whole packets, one or
// several per call, under the client's lock; heldMu keeps this correct
// without relying on that.
func (c *conn) holdBack(p []byte) (int, error) {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	if c.acked.Load() {
		return c.write(p)
	}
	var now []byte // what may go now, in order
	acked := false
	for rest := p; len(rest) > 0; {
		n, typ := packetLen(rest)
		if n == 0 { // not a whole packet: mochi does not write those, but keep the bytes in order
			c.held = append(c.held, rest...)
			break
		}
		switch typ {
		case typeConnack:
			now = append(now, rest[:n]...)
			now = append(now, c.held...)
			now = append(now, rest[n:]...)
			c.held = nil
			acked = true
			rest = nil
			continue
		case typeAuth:
			now = append(now, rest[:n]...)
		default:
			c.held = append(c.held, rest[:n]...)
		}
		rest = rest[n:]
	}
	if c.out != nil && len(c.held) > c.out.bound {
		// Only what is published in the moment before the CONNACK is
		// held; this much means the CONNACK is not coming.
		c.log.Warn("closing connection: too much to send before its CONNACK", "bytes", len(c.held))
		c.held = nil
		_ = c.Close()
		return 0, errSlowConsumer
	}
	if len(now) > 0 {
		if _, err := c.write(now); err != nil {
			return 0, err
		}
	}
	// Only once the CONNACK is written: a write that came meanwhile waits
	// on heldMu and goes after it, rather than straight to the socket.
	if acked {
		c.acked.Store(true)
	}
	return len(p), nil
}

// packetLen returns the length and type of the whole MQTT packet that b
// starts with; 0 when b does not hold a whole packet.
func packetLen(b []byte) (n int, typ byte) {
	rem, mult := 0, 1
	for i := 1; i <= 4 && i < len(b); i++ {
		rem += int(b[i]&0x7f) * mult
		if b[i]&0x80 == 0 {
			if n = i + 1 + rem; n > len(b) {
				return 0, 0
			}
			return n, b[0] >> 4
		}
		mult *= 128
	}
	return 0, 0
}

// write hands p to the send queue, closing the connection if it fails.
func (c *conn) write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		if !c.closed.Load() && !errors.Is(err, errSlowConsumer) {
			c.log.Debug("closing connection: write failed", "error", err)
		}
		_ = c.Close()
	}
	return n, err
}

// SetDeadline applies mochi's keepalive deadline to reads only.
func (c *conn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// SetReadDeadline applies mochi's read deadline once CONNECT has arrived;
// before that the connect deadline stands.
func (c *conn) SetReadDeadline(t time.Time) error {
	if !c.connected.Load() {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline is ignored: the send queue has its own deadline.
func (c *conn) SetWriteDeadline(time.Time) error { return nil }

// Close closes the socket once and gives its slot back to the listener.
func (c *conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		close(c.done)
		err = c.Conn.Close()
		c.onClose(c)
	})
	return err
}
