package broker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestReconnectSameID connects one client id again and again, hundreds of
// times, while another client keeps publishing to a topic it subscribes to,
// the way a device on a flaky link (or one that restarts) comes back. Every
// connection must get its CONNACK before anything else, and every one must
// then be sent a message published after it subscribed: a connection the
// broker has lost track of (its predecessor's clean-up removed it) would
// stay connected and never get a message.
func TestReconnectSameID(t *testing.T) {
	const rounds = 300
	tests := []struct {
		name  string
		clean bool // clean session: each connection subscribes anew
		live  bool // the next connection comes while this one is still open
	}{
		{name: "a clean session dropped without DISCONNECT is replaced at once", clean: true},
		{name: "a resumed session dropped without DISCONNECT is taken up at once", clean: false},
		{name: "a clean session still open is taken over", clean: true, live: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startLoadHub(t, Config{})
			var started atomic.Int64 // messages the publisher has begun to send
			stopPublisher := publishLoop(t, h.addr, "home/flaky/set", &started)

			connect := connectPacket(4, "flaky", 60)
			connect.Connect.Clean = tt.clean
			sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe}, PacketID: 1,
				Filters: packets.Subscriptions{{Filter: "home/flaky/#"}}}
			var open *raw // the connection still open, when tt.live
			for i := range rounds {
				r := dialRaw(t, h.addr)
				r.send(connect)
				first, err := r.read()
				if err != nil {
					t.Fatalf("connection %d: read CONNACK: %v", i, err)
				}
				if first.FixedHeader.Type != packets.Connack || first.ReasonCode != 0 {
					t.Fatalf("connection %d: the broker's first packet is %s (reason %#x), want an accepted CONNACK",
						i, typeNames[first.FixedHeader.Type&0x0f], first.ReasonCode)
				}
				if open != nil {
					_ = open.conn.Close()
				}
				if tt.clean || i == 0 {
					r.send(sub)
					readUntil(t, r, i, "SUBACK", func(pk packets.Packet) bool { return pk.FixedHeader.Type == packets.Suback })
				}
				mark := started.Load()
				readUntil(t, r, i, fmt.Sprintf("a message published after message %d", mark), func(pk packets.Packet) bool {
					n, _ := strconv.ParseInt(string(pk.Payload), 10, 64)
					return pk.FixedHeader.Type == packets.Publish && n > mark
				})
				if tt.live {
					open = r
				} else {
					_ = r.conn.Close() // no DISCONNECT: the socket just drops
				}
			}
			if err := stopPublisher(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// readUntil reads packets from r until one satisfies want.
func readUntil(t *testing.T, r *raw, conn int, what string, want func(packets.Packet) bool) {
	t.Helper()
	for {
		pk, err := r.read()
		if err != nil {
			t.Fatalf("connection %d: waiting for %s: %v", conn, what, err)
		}
		if want(pk) {
			return
		}
	}
}

// publishLoop publishes QoS 1 messages to topic, one after the other, each
// with its number as payload, counting in started each one before it is
// sent. The returned function stops it and says why it stopped early, if
// it did.
func publishLoop(t *testing.T, addr, topic string, started *atomic.Int64) (stop func() error) {
	t.Helper()
	var connect bytes.Buffer
	pk := connectPacket(4, "flaky_publisher", 60)
	if err := pk.ConnectEncode(&connect); err != nil {
		t.Fatalf("encode CONNECT: %v", err)
	}
	c, err := dialConnect(addr, connect.Bytes())
	if err != nil {
		t.Fatalf("publisher: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	unblock := context.AfterFunc(ctx, func() { _ = c.Close() })
	var wg sync.WaitGroup
	var loopErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		loopErr = publishEach(c, topic, started)
		if ctx.Err() != nil {
			loopErr = nil // stopped
		}
	}()
	var once sync.Once
	stop = func() error {
		once.Do(func() {
			cancel()
			wg.Wait()
			unblock()
			_ = c.Close()
		})
		return loopErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// publishEach publishes on c until c fails, waiting for each PUBACK.
func publishEach(c net.Conn, topic string, started *atomic.Int64) error {
	r := &raw{conn: c, br: bufio.NewReader(c), version: 4}
	var buf bytes.Buffer
	for {
		n := started.Add(1)
		pk := packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 4,
			TopicName: topic, PacketID: uint16(n%65535 + 1), Payload: []byte(strconv.FormatInt(n, 10)),
		}
		buf.Reset()
		if err := pk.PublishEncode(&buf); err != nil {
			return fmt.Errorf("publisher: encode: %w", err)
		}
		_ = c.SetDeadline(time.Now().Add(wait))
		if _, err := c.Write(buf.Bytes()); err != nil {
			return fmt.Errorf("publisher: message %d: %w", n, err)
		}
		for {
			ack, err := r.read()
			if err != nil {
				return fmt.Errorf("publisher: PUBACK of message %d: %w", n, err)
			}
			if ack.FixedHeader.Type == packets.Puback {
				break
			}
			if ack.FixedHeader.Type != packets.Publish {
				return errors.New("publisher: unexpected packet " + typeNames[ack.FixedHeader.Type&0x0f])
			}
		}
	}
}
