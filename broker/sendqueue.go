package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// errSlowConsumer is why writes to a client fail once the broker has cut it
// off for not taking what it is sent.
var errSlowConsumer = errors.New("slow consumer: the client does not take what it is sent")

// sendQueue is a client's socket with a bounded queue in front of its
// writes, so that a client that stops reading costs only itself.
//
// mochi writes to a client while holding that client's lock, and every
// publisher whose QoS 1 message the client matches takes the same lock
// (for a packet id) on its own goroutine. A write that waits for a client
// that does not read would therefore hold up every matching publisher, and
// the hub's commands with them. Here a write never waits: it goes straight
// to the socket while the socket takes it (a healthy client: no queue, no
// goroutine, no copy), and what the socket cannot take at once is copied
// into a queue that a goroutine of the connection's own writes out, in
// order, while later writes join the queue behind it. The queue is
// allocated when it is first needed and released once it is written out,
// so an idle or healthy client costs nothing more.
//
// A client is cut off (its socket closed, which makes mochi drop it; a
// persistent session keeps its unacknowledged QoS 1/2 messages and gets
// them again when it returns) when:
//   - its queue would grow beyond bound bytes (a slow consumer), or
//   - it takes nothing at all for timeout (the write deadline).
//
// The queue lies under TLS and WebSocket framing: it queues the bytes as
// they go on the wire.
type sendQueue struct {
	net.Conn
	raw     syscall.RawConn // nil when the socket offers none: then every write goes through the queue
	nowFn   func(fd uintptr) bool
	bound   int // the most bytes queued: past it the client is cut off
	timeout time.Duration
	log     *slog.Logger
	client  atomic.Pointer[string] // the client's id, for the log, once known

	mu       sync.Mutex
	queue    []byte // accepted, not yet handed to the writer
	spare    []byte // the writer's last chunk, written out: the next queue
	writing  int    // bytes of the chunk the writer holds, not yet written
	written  uint64 // bytes the writer has written, ever
	err      error  // sticky: why writes fail
	running  bool   // a writer goroutine is running
	progress chan struct{}
	wg       sync.WaitGroup // the writer goroutine

	now  []byte // for nowFn: the bytes to write, and what came of it
	nowN int
	nowE error
}

// newSendQueue puts a queue of at most bound bytes in front of the writes to
// nc; a client that takes nothing for timeout is cut off.
func newSendQueue(nc net.Conn, bound int, timeout time.Duration, log *slog.Logger) *sendQueue {
	q := &sendQueue{Conn: nc, bound: bound, timeout: timeout, log: log}
	if raw := rawConnOf(nc); raw != nil {
		q.raw = raw
		q.nowFn = q.writeFD
	}
	return q
}

// rawConnOf returns the socket's system handle, for writes that must not
// wait; nil if it has none.
func rawConnOf(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok || !canWriteNow {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// name tells the queue whose it is, for the line that cuts the client off.
func (q *sendQueue) name(client string) { q.client.Store(&client) }

// Write writes p, or queues what the socket does not take at once. It
// never waits for the client. It fails once the client has been cut off,
// and cuts it off when the queue would grow beyond its bound: a write into
// an empty queue is always taken, so a packet larger than the bound still
// reaches a client that reads.
func (q *sendQueue) Write(p []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return 0, q.err
	}
	rest := p
	if !q.running && q.raw != nil {
		n, err := q.writeNow(p)
		if err != nil {
			q.failLocked(err)
			return n, err
		}
		rest = p[n:]
		if len(rest) == 0 {
			return n, nil
		}
	}
	if held := len(q.queue) + q.writing; held > 0 && held+len(rest) > q.bound {
		q.cutOffLocked("cutting off client: slow consumer, it fell further behind than the send buffer",
			"queued_bytes", held, "send_buffer", q.bound)
		return 0, q.err
	}
	if q.queue == nil {
		q.queue, q.spare = q.spare, nil
	}
	q.queue = append(q.queue, rest...)
	if !q.running {
		q.running = true
		q.wg.Add(1)
		go q.writeOut()
	}
	return len(p), nil
}

// writeNow writes what the socket takes without waiting; the caller holds
// q.mu and no writer is running. A socket that would block is not an error.
func (q *sendQueue) writeNow(p []byte) (int, error) {
	q.now = p
	err := q.raw.Write(q.nowFn)
	n, werr := q.nowN, q.nowE
	q.now, q.nowE = nil, nil
	if err != nil {
		return 0, err
	}
	if werr != nil && !wouldBlock(werr) {
		return n, werr
	}
	return n, nil
}

// writeOut is the connection's writer while it has a queue: it writes the
// queue out chunk by chunk, swapping buffers so that writes can join the
// queue meanwhile, and stops when the queue is empty, releasing it.
func (q *sendQueue) writeOut() {
	defer q.wg.Done()
	q.mu.Lock()
	for q.err == nil && len(q.queue) > 0 {
		chunk := q.queue
		q.queue, q.writing = nil, len(chunk)
		q.mu.Unlock()

		err := q.writeChunk(chunk)

		q.mu.Lock()
		left := q.writing
		q.written += uint64(len(chunk) - left)
		q.writing = 0
		q.spare = chunk[:0] // the next queue, once the one filling now is taken
		if err != nil && q.err == nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				q.cutOffLocked("cutting off client: it took nothing it was sent for the write timeout",
					"timeout", q.timeout, "queued_bytes", left+len(q.queue))
			} else {
				q.failLocked(err)
			}
		}
		q.signalLocked()
	}
	q.queue, q.spare = nil, nil // an idle client holds no buffer
	if q.err == nil {
		_ = q.Conn.SetWriteDeadline(time.Time{}) // writes without waiting check the deadline first
	}
	q.running = false
	q.signalLocked()
	q.mu.Unlock()
}

// writeChunk writes b to the socket. The deadline is set again after every
// write that made progress: the timeout bounds how long the client takes
// nothing, not how long a large chunk takes to go out.
func (q *sendQueue) writeChunk(b []byte) error {
	for len(b) > 0 {
		_ = q.Conn.SetWriteDeadline(time.Now().Add(q.timeout))
		n, err := q.Conn.Write(b)
		b = b[n:]
		q.mu.Lock()
		q.writing = len(b)
		q.mu.Unlock()
		if err != nil && (n == 0 || !errors.Is(err, os.ErrDeadlineExceeded)) {
			return err
		}
	}
	return nil
}

// cutOffLocked closes the socket of a client that does not take what it is
// sent, and says so once.
func (q *sendQueue) cutOffLocked(msg string, args ...any) {
	q.err = errSlowConsumer
	_ = q.Conn.Close()
	q.signalLocked()
	client := ""
	if id := q.client.Load(); id != nil {
		client = *id
	}
	q.log.Warn(msg, append([]any{"client", client, "remote", q.RemoteAddr().String()}, args...)...)
}

// failLocked records a failed write and closes the socket.
func (q *sendQueue) failLocked(err error) {
	q.err = fmt.Errorf("write: %w", err)
	_ = q.Conn.Close()
	q.signalLocked()
}

// signalLocked tells a waiting pacer that the queue moved.
func (q *sendQueue) signalLocked() {
	if q.progress != nil {
		signal(q.progress)
	}
}

// state returns the bytes the client has not been able to take yet, how
// many the writer has written so far, and whether the client is cut off.
func (q *sendQueue) state() (queued int, written uint64, failed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queue) + q.writing, q.written, q.err != nil
}

// moved returns a channel signalled whenever the writer has written a chunk
// or stopped, and when the client is cut off or closed. It is made on first
// use: only a pacer waiting for this client asks for it.
func (q *sendQueue) moved() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.progress == nil {
		q.progress = make(chan struct{}, 1)
	}
	return q.progress
}

// Close closes the socket, dropping whatever is still queued (the client
// is leaving or being cut off), and waits for the writer to stop.
func (q *sendQueue) Close() error {
	q.mu.Lock()
	if q.err == nil {
		q.err = net.ErrClosed
	}
	q.signalLocked() // a pacer waiting for this client gives up
	q.mu.Unlock()
	err := q.Conn.Close() // a writer blocked on the socket returns at once
	q.wg.Wait()
	return err
}

// SetDeadline applies to reads only: writes have their own deadline.
func (q *sendQueue) SetDeadline(t time.Time) error { return q.Conn.SetReadDeadline(t) }

// SetWriteDeadline is ignored: writes never wait, and the writer sets its
// own deadline.
func (q *sendQueue) SetWriteDeadline(time.Time) error { return nil }

// sendQueueOf returns the send queue under a connection the broker handed
// to mochi or to the WebSocket server; nil if it has none.
func sendQueueOf(c net.Conn) *sendQueue {
	switch c := c.(type) {
	case *conn:
		return c.out
	case *slot:
		q, _ := c.Conn.(*sendQueue)
		return q
	case *sendQueue:
		return c
	}
	return nil
}
