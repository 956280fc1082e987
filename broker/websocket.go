package broker

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// WebSocketConfig configures MQTT over WebSocket, for browser clients (such
// as MQTT.js at ws://hub:9001/mqtt; any path is accepted).
type WebSocketConfig struct {
	// Addr is the address to listen on, such as ":9001"; empty: no
	// WebSocket listener.
	Addr string `yaml:"addr,omitempty"`
}

func (c WebSocketConfig) validate() []error {
	if c.Addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return []error{fmt.Errorf("websocket.addr %q: want host:port or :port", c.Addr)}
	}
	return nil
}

// wsListener serves MQTT over WebSocket. It is the broker's own rather
// than mochi's listeners.Websocket, which cannot take the guards: mochi's
// serves on an address it binds itself (no gate on accept, no port to learn
// for ":0"), and its sockets would have no send queue, so a browser tab that
// stops reading would stall publishers again. Here the HTTP server accepts
// through the gate like the TCP listener, gorilla writes its frames into
// the socket's send queue (sendqueue.go), and the MQTT byte stream carried
// in the WebSocket messages goes through the same guarded conn (framing,
// packet checks, connect deadline).
type wsListener struct {
	id  string
	ln  *listener // admits sockets (gate), hands them out raw
	cfg *Config
	log *slog.Logger
	srv *http.Server
	up  websocket.Upgrader
	est listeners.EstablishFn

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // Serve and the handlers, counted while not closed
}

var _ listeners.Listener = (*wsListener)(nil)

func newWSListener(id string, ln *listener, cfg *Config, log *slog.Logger) *wsListener {
	l := &wsListener{id: id, ln: ln, cfg: cfg, log: log}
	l.up = websocket.Upgrader{
		HandshakeTimeout: cfg.ConnectTimeout,
		Subprotocols:     []string{"mqtt"},
		// Any origin: a client needs a user and password over WebSocket
		// (the loopback exemption does not apply), which a page from
		// elsewhere does not have.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	l.srv = &http.Server{
		Handler:           http.HandlerFunc(l.serveHTTP),
		ReadHeaderTimeout: cfg.ConnectTimeout,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return l
}

// ID names the listener in mochi's client records.
func (l *wsListener) ID() string { return l.id }

// Address is where the listener listens.
func (l *wsListener) Address() string { return l.ln.Addr().String() }

// Protocol is "ws".
func (l *wsListener) Protocol() string { return "ws" }

// Init does nothing: the socket is bound before the listener is added.
func (l *wsListener) Init(*slog.Logger) error { return nil }

// Serve accepts WebSocket connections until Close.
func (l *wsListener) Serve(establish listeners.EstablishFn) {
	l.est = establish
	if !l.enter() {
		return
	}
	defer l.wg.Done()
	if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !l.ln.isClosed() {
		l.log.Error("WebSocket listener stopped", "error", err)
	}
}

// serveHTTP upgrades a request and runs the MQTT client on it until it
// leaves.
func (l *wsListener) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !l.enter() {
		return
	}
	defer l.wg.Done()
	ws, err := l.up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered the request with the error
	}
	stream := &wsStream{Conn: ws.NetConn(), ws: ws}
	c := newConn(stream, sendQueueOf(ws.NetConn()), l.cfg, l.log, func(*conn) {})
	defer c.Close()
	if err := l.est(l.id, c); err != nil {
		l.log.Debug("connection ended", "error", err, "remote", c.RemoteAddr().String())
	}
}

// Close stops accepting, disconnects the listener's clients, closes every
// socket and waits for the handlers.
func (l *wsListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	was := l.closed
	l.closed = true
	l.mu.Unlock()
	if was {
		return
	}
	_ = l.srv.Close() // the listener and the requests not yet upgraded
	closeClients(l.id)
	_ = l.ln.Close() // the upgraded sockets, which the HTTP server no longer tracks
	l.wg.Wait()
}

// enter counts a goroutine in, unless the listener is closed.
func (l *wsListener) enter() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.wg.Add(1)
	return true
}

// wsStream is the MQTT byte stream carried in a WebSocket connection's
// binary messages (MQTT over WebSocket, MQTT 6): one message may hold several
// packets, or a packet may span messages. Deadlines go to the websocket.Conn,
// which applies them to every frame it reads or writes.
type wsStream struct {
	net.Conn // the socket under the WebSocket: addresses and Close
	ws       *websocket.Conn
	r        io.Reader // the message being read
}

// errTextMessage refuses a text message: MQTT travels in binary ones.
var errTextMessage = errors.New("WebSocket text message: MQTT travels in binary messages")

// Read reads the next bytes of the stream, message after message.
func (s *wsStream) Read(p []byte) (int, error) {
	for {
		if s.r == nil {
			typ, r, err := s.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, errTextMessage
			}
			s.r = r
		}
		n, err := s.r.Read(p)
		if errors.Is(err, io.EOF) {
			s.r = nil
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// Write sends p as one binary message.
func (s *wsStream) Write(p []byte) (int, error) {
	if err := s.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// SetDeadline sets both deadlines.
func (s *wsStream) SetDeadline(t time.Time) error {
	_ = s.ws.SetReadDeadline(t)
	return s.ws.SetWriteDeadline(t)
}

// SetReadDeadline bounds the reads of the WebSocket.
func (s *wsStream) SetReadDeadline(t time.Time) error { return s.ws.SetReadDeadline(t) }

// SetWriteDeadline bounds the writes of the WebSocket.
func (s *wsStream) SetWriteDeadline(t time.Time) error { return s.ws.SetWriteDeadline(t) }
