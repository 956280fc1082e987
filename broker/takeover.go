package broker

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// The connections of one client id take turns.
//
// When a client connects with the id of a connection mochi is still
// serving, mochi takes that connection's session over: it stops the old
// connection, clears or inherits its subscriptions, files the new client
// under the id, and sends the CONNACK. Meanwhile the old connection's
// goroutine, whose read has just failed, cleans up after a clean session:
// unless it sees that it was taken over, it removes the subscriptions filed
// under the id and then the id from mochi's clients. It looks only once,
// before it starts, and mochi marks a client taken over only after the new
// connection found it, so the two run side by side:
//
//   - The old clean-up removes the id after the new client was filed under
//     it. The new connection stays open but is sent nothing (a light that
//     misses its commands), and the next takeover does not find it.
//   - The old subscriptions, still filed under the id, send the new client
//     messages before its CONNACK (which MQTT forbids), or for filters it
//     never subscribed to: an old clean-up that sees the takeover late
//     leaves them behind for good.
//
// A device whose socket drops just before it reconnects (a flaky link, a
// restart) hits this as surely as a takeover of a live connection, so both
// are handled alike: once a new connection has authenticated (OnConnect,
// which mochi calls before it looks for the old session), it stops the
// previous connection of its id if that one is still open, as mochi's
// takeover would (DISCONNECT "session taken over"), and waits until mochi
// has finished with it, its clean-up done. mochi then finds under the id
// either nothing (a clean session, cleared) or the closed client of a
// session to resume, with nothing running beside it.
//
// One consequence: an MQTT 5 session that ends with its connection
// (session expiry 0) is gone when the next connection asks to resume it, as
// with Mosquitto, where mochi alone resumed it when it won the race.
type takeovers struct {
	log  *slog.Logger
	wait time.Duration      // the longest a connection waits for its predecessor
	stop func(*mqtt.Client) // disconnects a client that is being taken over

	mu     sync.Mutex
	byConn map[net.Conn]*attachment // every connection mochi is serving
	byID   map[string]*attachment   // the latest authenticated connection of each id
}

// attachment is one connection as mochi serves it.
type attachment struct {
	cl   *mqtt.Client  // set once the client has authenticated; under takeovers.mu
	done chan struct{} // closed when mochi has finished with the connection
}

func newTakeovers(wait time.Duration, log *slog.Logger, stop func(*mqtt.Client)) *takeovers {
	return &takeovers{log: log, wait: wait, stop: stop,
		byConn: make(map[net.Conn]*attachment), byID: make(map[string]*attachment)}
}

// establish wraps mochi's EstablishConnection, which serves a connection
// from CONNECT to the end of its clean-up, to note when it returns.
func (ts *takeovers) establish(next listeners.EstablishFn) listeners.EstablishFn {
	return func(listener string, c net.Conn) error {
		a := &attachment{done: make(chan struct{})}
		ts.mu.Lock()
		ts.byConn[c] = a
		ts.mu.Unlock()
		defer func() {
			ts.mu.Lock()
			delete(ts.byConn, c)
			if a.cl != nil && ts.byID[a.cl.ID] == a {
				delete(ts.byID, a.cl.ID)
			}
			ts.mu.Unlock()
			close(a.done)
		}()
		return next(listener, c)
	}
}

// take makes cl, authenticated, the connection of its id, once the
// previous one (stopped here if still open) is finished with. A previous
// connection that takes longer than ts.wait is left to finish beside it.
// It fails when the broker closes, or when a newer connection of the id
// took cl over meanwhile. A connection waits for its predecessor even when
// it is taken over itself, so that once it is finished with, so are all
// the connections of its id before it.
func (ts *takeovers) take(ctx context.Context, cl *mqtt.Client) error {
	ts.mu.Lock()
	a := ts.byConn[cl.Net.Conn]
	if a == nil { // not served through establish: nothing to take turns with
		ts.mu.Unlock()
		return nil
	}
	a.cl = cl
	prev := ts.byID[cl.ID]
	ts.byID[cl.ID] = a
	ts.mu.Unlock()
	if prev == nil {
		return nil
	}
	if !prev.cl.Closed() {
		ts.stop(prev.cl)
	}
	t := time.NewTimer(ts.wait)
	defer t.Stop()
	select {
	case <-prev.done:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		ts.log.Warn("client reconnected while the broker was still closing its previous connection; going on without waiting longer",
			"client", cl.ID, "remote", cl.Net.Remote, "waited", ts.wait)
	}
	if cl.Closed() {
		return packets.ErrSessionTakenOver
	}
	return nil
}

// takingTurns is a mochi listener whose connections take turns by client
// id.
type takingTurns struct {
	listeners.Listener
	takeovers *takeovers
}

// Serve serves the listener's connections through the takeovers.
func (l takingTurns) Serve(establish listeners.EstablishFn) {
	l.Listener.Serve(l.takeovers.establish(establish))
}
