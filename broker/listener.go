package broker

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// listener is the net.Listener handed to mochi (through listeners.NewNet).
// It wraps every accepted socket in a guarded conn, caps the number of open
// sockets, closes every socket it handed out when it closes (including those
// that never sent CONNECT, which mochi does not know about), and keeps
// accepting through transient errors such as running out of file
// descriptors, where mochi's accept loop would stop for good.
type listener struct {
	net.Listener
	cfg *Config
	log *slog.Logger

	mu        sync.Mutex
	idle      *sync.Cond // signalled when a call of Accept returns
	conns     map[*conn]struct{}
	accepting int // calls of Accept in progress
	closed    bool
	full      bool          // refusing sockets; logged once per episode
	done      chan struct{} // closed by Close
}

func newListener(nl net.Listener, cfg *Config, log *slog.Logger) *listener {
	l := &listener{
		Listener: nl,
		cfg:      cfg,
		log:      log,
		conns:    make(map[*conn]struct{}),
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

// admit wraps nc if there is room for another socket.
func (l *listener) admit(nc net.Conn) *conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	if len(l.conns) >= l.cfg.MaxClients {
		if !l.full {
			l.full = true
			l.log.Warn("too many open connections; refusing new ones", "max_clients", l.cfg.MaxClients)
		}
		return nil
	}
	c := newConn(nc, l.cfg, l.log, l.release)
	l.conns[c] = struct{}{}
	return c
}

// release gives a closed socket's slot back.
func (l *listener) release(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
	if l.full && len(l.conns) < l.cfg.MaxClients {
		l.full = false
		l.log.Info("accepting connections again", "open", len(l.conns))
	}
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
	conns := make([]*conn, 0, len(l.conns))
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
