package broker

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/packets"
)

// wsNetConn is the client side of MQTT over WebSocket as a net.Conn, for a
// raw client: what paho will not send.
type wsNetConn struct {
	*websocket.Conn
	r io.Reader
}

// Read reads the stream, message after message; the broker closing the
// socket reads as io.EOF.
func (w *wsNetConn) Read(p []byte) (int, error) {
	for {
		if w.r == nil {
			_, r, err := w.NextReader()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return 0, io.EOF
			}
			if err != nil {
				return 0, err
			}
			w.r = r
		}
		n, err := w.r.Read(p)
		if errors.Is(err, io.EOF) {
			w.r, err = nil, nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

func (w *wsNetConn) Write(p []byte) (int, error) {
	return len(p), w.WriteMessage(websocket.BinaryMessage, p)
}

func (w *wsNetConn) SetDeadline(t time.Time) error { return w.NetConn().SetDeadline(t) }

func dialWS(t *testing.T, addr string) *raw {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: wait}
	ws, resp, err := d.Dial("ws://"+addr+"/mqtt", nil)
	if err != nil {
		t.Fatalf("dial ws://%s: %v", addr, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	c := &wsNetConn{Conn: ws}
	t.Cleanup(func() { _ = c.Close() })
	return &raw{t: t, conn: c, br: bufio.NewReader(c), version: 4}
}

func TestWebSocket(t *testing.T) {
	file := writeUsers(t, UsersFile{Users: []User{testUser(t, "browser", "readwrite:home/#")}})
	h := startHub(t, Config{UsersFile: file, WebSocket: WebSocketConfig{Addr: "127.0.0.1:0"}}, true)
	url := "ws://" + h.WebSocketAddr().String() + "/mqtt"

	t.Run("a paho client connects over WebSocket and publishes", func(t *testing.T) {
		r := newReader(t, h.bus)
		c := mustDial(t, url, "browser", as("browser"))
		got := collect(t, c, "home/#")
		publish(t, c, "home/lamp/set", 1, []byte(`{"state":"ON"}`))
		checkMessage(t, r.next(), "home/lamp/set", `{"state":"ON"}`, 1, "browser")
		if m := nextMessage(t, got); m.Topic() != "home/lamp/set" {
			t.Fatalf("the browser got %s back", m.Topic())
		}
	})

	t.Run("a WebSocket client without a user is refused, even from this machine", func(t *testing.T) {
		if _, err := dialPaho(t, url, "anon"); err == nil {
			t.Fatal("an anonymous WebSocket client got in")
		}
		if !strings.Contains(h.logs.String(), "no user name: this broker has users") {
			t.Fatalf("no line says why:\n%s", h.logs.String())
		}
	})

	t.Run("with no users, WebSocket clients are refused unless anonymous clients are allowed", func(t *testing.T) {
		h := startHub(t, Config{WebSocket: WebSocketConfig{Addr: "127.0.0.1:0"}}, true)
		if _, err := dialPaho(t, "ws://"+h.WebSocketAddr().String(), "anon"); err == nil {
			t.Fatal("an anonymous WebSocket client got in")
		}
		open := startHub(t, Config{AllowAnonymous: true, WebSocket: WebSocketConfig{Addr: "127.0.0.1:0"}}, true)
		mustDial(t, "ws://"+open.WebSocketAddr().String(), "anon")
	})

	t.Run("a WebSocket subscriber that stops reading is cut off and does not hold up publishers", func(t *testing.T) {
		file := writeUsers(t, UsersFile{Users: []User{testUser(t, "browser", "readwrite:#")}})
		h := startHub(t, Config{UsersFile: file, WriteTimeout: 300 * time.Millisecond,
			WebSocket: WebSocketConfig{Addr: "127.0.0.1:0"}}, true)
		stalled := dialWS(t, h.WebSocketAddr().String())
		stalled.connectAs(4, "stalled", "browser", pw("browser"))
		stalled.send(packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Subscribe},
			PacketID:    1,
			Filters:     packets.Subscriptions{{Filter: "stall/topic", Qos: 1}},
		})
		if ack, err := stalled.read(); err != nil || ack.FixedHeader.Type != packets.Suback {
			t.Fatalf("subscribe: %+v, %v", ack.FixedHeader, err)
		}
		// 16 MiB to a browser that never reads again: gorilla would reset
		// a deadline set on the socket; the one on the WebSocket holds.
		pub := mustDial(t, "tcp://"+h.addr, "pub", as("browser"))
		payload := bytes.Repeat([]byte("x"), 64<<10)
		for i := range 256 {
			tok := pub.Publish("stall/topic", 1, false, payload)
			if !tok.WaitTimeout(wait) || tok.Error() != nil {
				t.Fatalf("publish %d: no PUBACK within %v (%v): the stalled subscriber holds the publisher", i, wait, tok.Error())
			}
		}
		eventually(t, "the stalled subscriber is cut off", func() bool {
			cl, ok := h.server.Clients.Get("stalled")
			return !ok || cl.Closed()
		})
	})

	t.Run("the guard checks packets inside WebSocket messages", func(t *testing.T) {
		pub := mustDial(t, url, "pub", as("browser"))
		c := dialWS(t, h.WebSocketAddr().String())
		if ack := c.connectAs(5, "attacker", "browser", pw("browser")); ack.ReasonCode != 0 {
			t.Fatalf("CONNACK %#x", ack.ReasonCode)
		}
		c.write(issue501)
		if got := c.expectClosed(); len(got) > 0 {
			t.Fatalf("broker answered the malformed SUBSCRIBE with %v", got)
		}
		publish(t, pub, "home/after", 1, []byte("alive"))
	})
}
