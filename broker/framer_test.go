package broker

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// frameAll frames every packet of stream, as the guard does for one
// connection, and returns the first error other than the stream's end.
func frameAll(stream []byte, bufSize, max int) error {
	f := newFramer(bytes.NewReader(stream), bufSize, max)
	p := make([]byte, 100)
	for {
		if _, err := f.read(p); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestFramer(t *testing.T) {
	v4 := encode(t, 4, connectPacket(4, "c", 30))
	v5 := encode(t, 5, connectPacket(5, "c", 30))
	v5full := connectPacket(5, "c", 30)
	v5full.Properties = packets.Properties{SessionExpiryInterval: 60, SessionExpiryIntervalFlag: true,
		ReceiveMaximum: 10, User: []packets.UserProperty{{Key: "k", Val: "v"}}}
	v5full.Connect.WillFlag = true
	v5full.Connect.WillTopic = "home/c/availability"
	v5full.Connect.WillPayload = []byte("offline")
	v5full.Connect.WillProperties = packets.Properties{WillDelayInterval: 5, ContentType: "text/plain"}
	v5full.Connect.UsernameFlag, v5full.Connect.Username = true, []byte("user")
	v5full.Connect.PasswordFlag, v5full.Connect.Password = true, []byte("secret")

	pub5 := publishPacket("home/x", 1, 9, `{"on":true}`)
	pub5.Properties = packets.Properties{ContentType: "application/json", MessageExpiryInterval: 30,
		User: []packets.UserProperty{{Key: "a", Val: "b"}}}
	sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "home/#", Qos: 1}, {Filter: "a/+", Qos: 0}}}
	unsub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe}, PacketID: 2,
		Filters: packets.Subscriptions{{Filter: "home/#"}}}
	unsubV4, unsubV5 := encodeUnsubscribe(t, 4, unsub), encodeUnsubscribe(t, 5, unsub)

	for _, tc := range []struct {
		name   string
		stream []byte
		reason string // "" when accepted
	}{
		{"an MQTT 3.1.1 session of every client packet is accepted", cat(v4,
			encode(t, 4, publishPacket("home/x", 0, 0, "on")),
			encode(t, 4, publishPacket("home/x", 2, 3, "on")),
			encode(t, 4, sub), unsubV4,
			[]byte{0x40, 2, 0, 1}, []byte{0x50, 2, 0, 1}, []byte{0x62, 2, 0, 1}, []byte{0x70, 2, 0, 1},
			[]byte{0xc0, 0}, []byte{0xe0, 0}), ""},
		{"an MQTT 5 session with properties everywhere is accepted", cat(encode(t, 5, v5full),
			encode(t, 5, pub5), encode(t, 5, sub), unsubV5,
			[]byte{0x40, 2, 0, 1}, []byte{0x40, 3, 0, 1, 0x10}, []byte{0x40, 4, 0, 1, 0x80, 0},
			[]byte{0x40, 8, 0, 1, 0x80, 4, 31, 0, 1, 'x'},
			[]byte{0xc0, 0}, []byte{0xe0, 1, 0x04}, []byte{0xf0, 0}, []byte{0xe0, 7, 0, 5, 17, 0, 0, 0, 9}), ""},
		{"a packet larger than the read buffer is accepted",
			cat(v4, encode(t, 4, publishPacket("t", 0, 0, strings.Repeat("x", 3000)))), ""},

		{"a v5 SUBSCRIBE filter without its options byte (mochi issue #501) is refused",
			cat(v5, issue501), "subscription options: truncated"},
		{"a SUBSCRIBE without filters is refused", cat(v4, []byte{0x82, 2, 0, 1}), "no topic filter"},
		{"an UNSUBSCRIBE without filters is refused", cat(v5, []byte{0xa2, 3, 0, 1, 0}), "no topic filter"},
		{"a v3.1.1 subscription with reserved bits is refused",
			cat(v4, []byte{0x82, 6, 0, 1, 0, 1, 'a', 0x04}), "reserved bits"},
		{"a v5 subscription with retain handling 3 is refused",
			cat(v5, []byte{0x82, 7, 0, 1, 0, 0, 1, 'a', 0x30}), "retain handling"},
		{"a property list longer than the packet is refused",
			cat(v5, []byte{0x30, 6, 0, 1, 't', 9, 1, 1}), "properties: truncated"},
		{"a property running past its declared length is refused",
			cat(v5, []byte{0x30, 9, 0, 1, 't', 2, 2, 0, 0, 0, 1}), "message expiry interval: truncated"},
		{"an unknown property is refused", cat(v5, []byte{0x30, 6, 0, 1, 't', 2, 0x7f, 0}), "unknown property"},
		{"a property of another packet type is refused",
			cat(v5, []byte{0x30, 7, 0, 1, 't', 3, 19, 0, 1}), `"server keep alive" not allowed`},
		{"a topic longer than the packet is refused", cat(v4, []byte{0x30, 3, 0, 9, 't'}), "topic: truncated"},
		{"a remaining length of five bytes is refused",
			cat(v4, []byte{0x30, 0x80, 0x80, 0x80, 0x80, 0x01}), "longer than four bytes"},
		{"a packet over the maximum size is refused",
			cat(v4, []byte{0x30, 0xff, 0xff, 0xff, 0x7f}), "exceeds the maximum"},
		{"PUBLISH at QoS 3 is refused", cat(v4, []byte{0x36, 3, 0, 1, 't'}), "QoS 3"},
		{"DUP on QoS 0 is refused", cat(v4, []byte{0x38, 3, 0, 1, 't'}), "DUP set on QoS 0"},
		{"SUBSCRIBE with the wrong flags is refused", cat(v4, []byte{0x80, 6, 0, 1, 0, 1, 'a', 0}), "flags"},
		{"a v3.1.1 PUBACK with a reason code is refused", cat(v4, []byte{0x40, 3, 0, 1, 0}), "trailing"},
		{"a v3.1.1 DISCONNECT with a body is refused", cat(v4, []byte{0xe0, 1, 0}), "trailing"},
		{"a CONNECT with trailing bytes is refused",
			func() []byte { b := bytes.Clone(v4); b[1]++; return append(b, 0) }(), "trailing"},
		{"a CONNECT whose username flag has no username is refused",
			[]byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x82, 0, 30, 0, 1, 'c'}, "username: truncated"},
		{"a first packet other than CONNECT is refused", []byte{0xc0, 0}, "first packet is not CONNECT"},
		{"a second CONNECT is refused", cat(v4, v4), "second CONNECT"},
		{"AUTH before MQTT 5 is refused", cat(v4, []byte{0xf0, 0}), "AUTH before MQTT 5"},
		{"a CONNACK from a client is refused", cat(v4, []byte{0x20, 2, 0, 0}), "server-to-client"},
		{"packet type 0 is refused", cat(v4, []byte{0x00, 0}), "reserved packet type"},
		{"a stream cut inside a packet is an unexpected end", cat(v4, []byte{0x30, 9, 0, 1}), "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, bufSize := range []int{16, readBufferSize} { // large-packet path and buffered path
				err := frameAll(tc.stream, bufSize, 1<<16)
				switch {
				case tc.reason == "" && err != nil:
					t.Fatalf("buffer %d: refused: %v", bufSize, err)
				case tc.reason != "" && (err == nil || !strings.Contains(err.Error(), tc.reason)):
					t.Fatalf("buffer %d: got %v, want an error with %q", bufSize, err, tc.reason)
				}
			}
		})
	}
}

func encodeUnsubscribe(t *testing.T, version byte, pk packets.Packet) []byte {
	t.Helper()
	pk.ProtocolVersion = version
	pk.FixedHeader.Qos = 1
	var buf bytes.Buffer
	if err := pk.UnsubscribeEncode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return server, client
}

func TestConnDeadlines(t *testing.T) {
	cfg := Config{ConnectTimeout: 100 * time.Millisecond}.withDefaults()
	log := slog.New(slog.DiscardHandler)
	readErr := func(c *conn) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, 64))
			done <- err
		}()
		return done
	}

	t.Run("mochi's deadlines cannot extend the wait for CONNECT", func(t *testing.T) {
		server, _ := tcpPair(t)
		c := newConn(server, nil, &cfg, log, func(*conn) {})
		_ = c.SetDeadline(time.Now().Add(time.Hour))
		_ = c.SetReadDeadline(time.Now().Add(time.Hour))
		select {
		case err := <-readErr(c):
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read: %v, want the connect deadline", err)
			}
		case <-time.After(wait):
			t.Fatal("the connect deadline was extended")
		}
	})

	t.Run("once CONNECT has arrived mochi's read deadline replaces it", func(t *testing.T) {
		server, client := tcpPair(t)
		c := newConn(server, nil, &cfg, log, func(*conn) {})
		connect := encode(t, 4, connectPacket(4, "c", 30))
		if _, err := client.Write(connect); err != nil {
			t.Fatal(err)
		}
		if n, err := io.ReadFull(c, make([]byte, len(connect))); err != nil {
			t.Fatalf("read CONNECT: %d, %v", n, err)
		}
		_ = c.SetDeadline(time.Now().Add(time.Hour))
		time.Sleep(3 * cfg.ConnectTimeout) // past the connect deadline
		if _, err := client.Write([]byte{0xc0, 0}); err != nil {
			t.Fatal(err)
		}
		if err := <-readErr(c); err != nil {
			t.Fatalf("read after CONNECT: %v", err)
		}
	})

	t.Run("a client that takes nothing for the write timeout is cut off", func(t *testing.T) {
		server, _ := tcpPair(t) // the client end never reads
		closed := make(chan struct{})
		wcfg := Config{WriteTimeout: 50 * time.Millisecond}.withDefaults()
		q := newSendQueue(server, wcfg.Limits.SendBuffer, wcfg.WriteTimeout, log)
		c := newConn(q, q, &wcfg, log, func(*conn) { close(closed) })
		_ = c.SetWriteDeadline(time.Now().Add(time.Hour)) // ignored
		// The CONNACK first: what comes before it is held back (conn.go).
		if _, err := c.Write([]byte{0x20, 0x02, 0x00, 0x00}); err != nil {
			t.Fatalf("write CONNACK: %v", err)
		}
		// More than the socket buffers: the rest waits in the queue, and
		// the write returns at once.
		if _, err := c.Write(make([]byte, 16<<20)); err != nil {
			t.Fatalf("write: %v", err)
		}
		// mochi learns of it from its read, which fails once the queue's
		// writer has given up and closed the socket.
		select {
		case err := <-readErr(c):
			if err == nil {
				t.Fatal("read succeeded on a connection that was cut off")
			}
		case <-time.After(wait):
			t.Fatal("the connection was not cut off")
		}
		<-closed
		if _, err := c.Write([]byte{0xd0, 0}); !errors.Is(err, errSlowConsumer) {
			t.Fatalf("write after the cut-off: %v, want errSlowConsumer", err)
		}
	})
}
