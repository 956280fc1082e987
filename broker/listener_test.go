package broker

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

// flakyListener fails a few accepts the way a process out of file
// descriptors does, then hands out one connection, then waits for Close.
type flakyListener struct {
	mu     sync.Mutex
	errs   int
	conn   net.Conn
	closed chan struct{}
	once   sync.Once
}

func (f *flakyListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	if f.errs > 0 {
		f.errs--
		f.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	c := f.conn
	f.conn = nil
	f.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-f.closed
	return nil, net.ErrClosed
}

func (f *flakyListener) Close() error   { f.once.Do(func() { close(f.closed) }); return nil }
func (f *flakyListener) Addr() net.Addr { return &net.TCPAddr{} }

func TestListener(t *testing.T) {
	cfg := Config{}.withDefaults()
	server, client := net.Pipe()
	t.Cleanup(func() { _ = server.Close(); _ = client.Close() })
	fl := &flakyListener{errs: 3, conn: server, closed: make(chan struct{})}
	log := slog.New(slog.DiscardHandler)
	g := newGate(&cfg, time.Now, netip.Addr.IsLoopback, log, newNotes(time.Now))
	l := newListener(fl, &cfg, log, g)

	t.Run("accepting goes on through transient errors", func(t *testing.T) {
		c, err := l.Accept()
		if err != nil {
			t.Fatalf("Accept: %v; mochi's accept loop would stop for good", err)
		}
		if _, ok := c.(*conn); !ok || l.open() != 1 {
			t.Fatalf("Accept returned %T with %d open, want a guarded conn", c, l.open())
		}
	})

	t.Run("closing ends Accept and closes what it handed out", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			_, err := l.Accept()
			done <- err
		}()
		_ = l.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v", err)
		}
		l.wait()
		if l.open() != 0 {
			t.Fatalf("%d sockets still open after Close", l.open())
		}
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v", err)
		}
	})
}
