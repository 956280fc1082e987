package broker

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// issue501 is a v5 SUBSCRIBE whose filter "a/b" lacks its options byte: it
// panics mochi v2.7.9's SubscribeDecode (upstream issue #501).
var issue501 = []byte{0x82, 0x08, 0x00, 0x01, 0x00, 0x00, 0x03, 0x61, 0x2f, 0x62}

func TestGuard(t *testing.T) {
	t.Run("a truncated MQTT 5 SUBSCRIBE closes its connection and the hub keeps serving", func(t *testing.T) {
		h := startHub(t, Config{}, true)
		pub := pahoClient(t, h.addr, "pub", nil)
		publish(t, pub, "home/before", 1, []byte("1"))

		c := dialRaw(t, h.addr)
		c.connect(5, "attacker", 30)
		c.write(issue501)
		if got := c.expectClosed(); len(got) > 0 {
			t.Fatalf("broker answered the malformed SUBSCRIBE with %v", got)
		}
		publish(t, pub, "home/after", 1, []byte("2")) // the process is alive and serving

		// One line says who and why; mochi's own notes are debug lines.
		var refused []string
		for _, line := range strings.Split(h.logs.String(), "\n") {
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
				refused = append(refused, line)
			}
		}
		remote := c.conn.LocalAddr().String()
		if len(refused) != 1 || !strings.Contains(refused[0], "remote="+remote) ||
			!strings.Contains(refused[0], "subscription options: truncated") {
			t.Fatalf("want one warning naming %s and the missing options byte, got:\n%s",
				remote, strings.Join(refused, "\n"))
		}
	})

	t.Run("an oversized CONNECT is refused without allocating it", func(t *testing.T) {
		h := startHub(t, Config{ConnectTimeout: time.Hour}, true)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)

		// Four sockets each announce a CONNECT of 256 MiB - 1 byte (the
		// largest MQTT can express) and send the start of it.
		conns := make([]*raw, 4)
		for i := range conns {
			conns[i] = dialRaw(t, h.addr)
			conns[i].write(append([]byte{0x10, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x04}, "MQTT"...))
		}
		for _, c := range conns {
			c.expectClosed() // long before the hour-long connect timeout
		}
		runtime.ReadMemStats(&after)
		if grew := int64(after.HeapSys) - int64(before.HeapSys); grew > 64<<20 {
			t.Fatalf("heap grew by %d MiB for four refused CONNECTs", grew>>20)
		}
		if !strings.Contains(h.logs.String(), "exceeds the maximum") {
			t.Fatalf("log does not say why:\n%s", h.logs)
		}
	})

	t.Run("a packet of the maximum size is accepted and one byte more is refused", func(t *testing.T) {
		const max = 1024
		h := startHub(t, Config{MaxPacketSize: max}, true)
		r := newReader(t, h.bus)
		for _, tc := range []struct {
			size   int
			closed bool
		}{{max, false}, {max + 1, true}} {
			c := dialRaw(t, h.addr)
			c.connect(4, fmt.Sprintf("big%d", tc.size), 30)
			// PUBLISH QoS 0: 3 header bytes (remaining 128 to 16383), topic "t" in 3.
			pk := publishPacket("t", 0, 0, strings.Repeat("x", tc.size-3-3))
			b := encode(t, 4, pk)
			if len(b) != tc.size {
				t.Fatalf("test packet is %d bytes, want %d", len(b), tc.size)
			}
			c.write(b)
			if tc.closed {
				c.expectClosed()
				continue
			}
			if ev := r.next(); len(ev.Payload) != tc.size-6 {
				t.Fatalf("payload of %d bytes logged, want %d", len(ev.Payload), tc.size-6)
			}
		}
	})

	t.Run("a socket that never completes its CONNECT is closed after the connect timeout", func(t *testing.T) {
		h := startHub(t, Config{ConnectTimeout: 200 * time.Millisecond}, true)
		silent := dialRaw(t, h.addr)
		partial := dialRaw(t, h.addr)
		b := encode(t, 4, connectPacket(4, "slow", 30))
		partial.write(b[:len(b)-1])

		silent.expectClosed()
		partial.expectClosed()
		if n := strings.Count(h.logs.String(), "no complete CONNECT in time"); n != 2 {
			t.Fatalf("want two connect timeouts logged, got %d:\n%s", n, h.logs)
		}
	})

	t.Run("a subscriber that stops reading is cut off and does not hold up publishers", func(t *testing.T) {
		h := startHub(t, Config{WriteTimeout: 300 * time.Millisecond}, true)

		// The stalled client has a tiny receive buffer, keepalive 0 (so
		// mochi's own deadline never ends the stall) and never reads again.
		stalled := dialSmallBuffer(t, h.addr)
		stalled.connect(4, "stalled", 0)
		stalled.send(packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Subscribe},
			PacketID:    1,
			Filters:     packets.Subscriptions{{Filter: "stall/topic", Qos: 1}},
		})
		if ack, err := stalled.read(); err != nil || ack.FixedHeader.Type != packets.Suback {
			t.Fatalf("subscribe: %+v, %v", ack.FixedHeader, err)
		}

		// 16 MiB through a socket nobody reads: far beyond what the
		// kernel buffers. Each publish must still be acknowledged.
		pub := pahoClient(t, h.addr, "pub", nil)
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
		if !strings.Contains(h.logs.String(), "cutting off client") {
			t.Fatalf("the cut-off was not logged:\n%s", h.logs)
		}
	})

	for name, cfg := range map[string]Config{
		"sockets over the limit are closed at accept":          {Limits: Limits{Clients: 2}, ConnectTimeout: time.Hour},
		"the config file's limits.clients sets the same limit": {Limits: Limits{Clients: 2}, ConnectTimeout: time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			h := startHub(t, cfg, true)
			first := dialRaw(t, h.addr)
			dialRaw(t, h.addr)
			third := dialRaw(t, h.addr)
			third.expectClosed()
			if n := strings.Count(h.logs.String(), "refusing new ones"); n != 1 {
				t.Fatalf("want the refusal logged once, got %d", n)
			}

			_ = first.conn.Close()
			eventually(t, "a slot is free again", func() bool { return tryConnect(h.addr, "fourth") })
		})
	}
}

// dialSmallBuffer dials with a receive buffer set before the connection is
// made, so the window the broker sees is small from the start.
func dialSmallBuffer(t *testing.T, addr string) *raw {
	t.Helper()
	d := net.Dialer{Timeout: wait, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &raw{t: t, conn: c, br: bufio.NewReaderSize(c, 16), version: 4}
}

// tryConnect reports whether a client can connect and be acknowledged.
func tryConnect(addr, id string) bool {
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return false
	}
	defer c.Close()
	pk := connectPacket(4, id, 30)
	pk.ProtocolVersion = 4
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		return false
	}
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write(buf.Bytes()); err != nil {
		return false
	}
	ack := make([]byte, 4)
	_, err = io.ReadFull(c, ack)
	return err == nil && bytes.Equal(ack, []byte{0x20, 0x02, 0x00, 0x00}) // CONNACK, accepted
}
