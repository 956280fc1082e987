package broker

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// listener is the net.Listener handed to mochi (through listeners.NewNet),
// or to the WebSocket listener's HTTP server. It admits each accepted socket
// through the gate (the cap on open sockets, the connection rate per
// address), wraps it (its send queue, TLS, then the guarded conn), closes
// every socket it handed out when it closes (including those that never
// sent CONNECT, which mochi does not know about), and keeps accepting
// through transient errors such as running out of file descriptors, where
// mochi's accept loop would stop for good.
type listener struct {
	net.Listener
	cfg  *Config
	log  *slog.Logger
	gate *gate
	tls  *tls.Config // TLS is spoken under the guard; nil for plain TCP
	raw  bool        // hand sockets out unguarded: the WebSocket listener guards the MQTT stream after the upgrade

	mu        sync.Mutex
	idle      *sync.Cond // signalled when a call of Accept returns
	conns     map[net.Conn]struct{}
	accepting int // calls of Accept in progress
	closed    bool
	done      chan struct{} // closed by Close
}

func newListener(nl net.Listener, cfg *Config, log *slog.Logger, g *gate) *listener {
	l := &listener{
		Listener: nl,
		cfg:      cfg,
		log:      log,
		gate:     g,
		conns:    make(map[net.Conn]struct{}),
		done:     make(chan struct{}),
	}
	l.idle = sync.NewCond(&l.mu)
	return l
}

// Accept returns the next socket, wrapped; sockets over the limit are closed
// at once and never reach mochi.
func (l *listener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, net.ErrClosed
	}
	l.accepting++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.accepting--
		l.idle.Broadcast()
		l.mu.Unlock()
	}()

	var delay time.Duration
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.isClosed() {
				return nil, err
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.log.Warn("accept failed; retrying", "error", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.done:
				t.Stop()
			}
			continue
		}
		delay = 0
		if c := l.admit(nc); c != nil {
			return c, nil
		}
		_ = nc.Close()
	}
}

// admit wraps nc if the gate lets it in.
func (l *listener) admit(nc net.Conn) net.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || !l.gate.admit(nc.RemoteAddr()) {
		return nil
	}
	q := newSendQueue(nc, l.cfg.Limits.SendBuffer, l.cfg.WriteTimeout, l.log)
	var c net.Conn
	switch {
	case l.raw:
		c = &slot{Conn: q, release: l.release}
	case l.tls != nil:
		c = newConn(tls.Server(q, l.tls), q, l.cfg, l.log, func(c *conn) { l.release(c) })
	default:
		c = newConn(q, q, l.cfg, l.log, func(c *conn) { l.release(c) })
	}
	l.conns[c] = struct{}{}
	return c
}

// release gives a closed socket's slot back.
func (l *listener) release(c net.Conn) {
	l.mu.Lock()
	_, ok := l.conns[c]
	delete(l.conns, c)
	l.mu.Unlock()
	if ok {
		l.gate.release()
	}
}

// slot is an admitted socket handed out unguarded; closing it gives its slot
// back.
type slot struct {
	net.Conn
	release func(net.Conn)
	once    sync.Once
}

// Close closes the socket once and gives its slot back.
func (s *slot) Close() error {
	err := net.ErrClosed
	s.once.Do(func() {
		err = s.Conn.Close()
		s.release(s)
	})
	return err
}

// open returns the number of open sockets.
func (l *listener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func (l *listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Close stops accepting and closes every socket handed out.
func (l *listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()

	err := l.Listener.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	return err
}

// wait blocks, after Close, until no call of Accept is in progress: mochi's
// accept loop has nothing left to do but return.
func (l *listener) wait() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.accepting > 0 {
		l.idle.Wait()
	}
}
