package broker

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"hearth"
)

// BenchmarkDeliver measures the broker's write path to a healthy
// subscriber on a real socket: one message at a time from a publisher (or a
// hub command) to the subscriber and back to the sender (a round trip per
// op), and a stream of messages the subscriber reads as fast as it can.
func BenchmarkDeliver(b *testing.B) {
	const payload = `{"state":"ON","brightness":200}`
	b.Run("round trip QoS 0", func(b *testing.B) {
		_, addr := startBenchBroker(b)
		sub := benchSubscriber(b, addr, "bench/#", 0)
		pub := benchClient(b, addr, "bench-pub")
		one := encode(b, 4, publishPacket("bench/light/set", 0, 0, payload))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := pub.conn.Write(one); err != nil {
				b.Fatal(err)
			}
			if _, err := sub.read(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("round trip QoS 1 command", func(b *testing.B) {
		br, addr := startBenchBroker(b)
		sub := benchSubscriber(b, addr, "bench/#", 1)
		cmd := hearth.Command{Topic: "bench/light/set", Payload: []byte(payload), QoS: 1}
		ctx := context.Background()
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := br.Command(ctx, cmd); err != nil {
				b.Fatal(err)
			}
			pk, err := sub.read()
			if err != nil {
				b.Fatal(err)
			}
			ack.PacketID = pk.PacketID
			if _, err := sub.conn.Write(encode(b, 4, ack)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("batches of 64 QoS 0", func(b *testing.B) {
		// The publisher sends 64 messages at once and waits for the
		// subscriber to have them all: a stream that stays below the
		// subscriber's queue, where mochi would drop messages.
		_, addr := startBenchBroker(b)
		sub := benchSubscriber(b, addr, "bench/#", 0)
		pub := benchClient(b, addr, "bench-pub")
		one := encode(b, 4, publishPacket("bench/light/set", 0, 0, payload))
		const batch = 64
		var burst []byte
		for range batch {
			burst = append(burst, one...)
		}
		buf := make([]byte, len(burst))
		b.SetBytes(int64(len(one)))
		b.ResetTimer()
		for sent := 0; sent < b.N; sent += batch {
			p := burst
			if left := b.N - sent; left < batch {
				p = burst[:left*len(one)]
			}
			if _, err := pub.conn.Write(p); err != nil {
				b.Fatal(err)
			}
			// The subscriber's packets are the publisher's (QoS 0, v3.1.1).
			if _, err := io.ReadFull(sub.br, buf[:len(p)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// startBenchBroker starts a broker on a loopback port for a benchmark.
func startBenchBroker(b *testing.B) (*Broker, string) {
	b.Helper()
	bus := hearth.NewBus(hearth.BusOptions{Size: 1 << 14})
	b.Cleanup(bus.Close)
	br, err := New(Config{Addr: "127.0.0.1:0"}, bus)
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = br.Close() })
	return br, br.Addr().String()
}

// benchClient connects a bare MQTT 3.1.1 client.
func benchClient(b *testing.B, addr, id string) *raw {
	b.Helper()
	c, err := dialConnect(addr, encode(b, 4, connectPacket(4, id, 60)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return &raw{conn: c, br: bufio.NewReaderSize(c, 64<<10), version: 4}
}

// benchSubscriber connects a client subscribed to filter at qos and waits
// for its SUBACK.
func benchSubscriber(b *testing.B, addr, filter string, qos byte) *raw {
	b.Helper()
	r := benchClient(b, addr, fmt.Sprintf("bench-sub-%d", qos))
	sub := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: filter, Qos: qos}},
	}
	if _, err := r.conn.Write(encode(b, 4, sub)); err != nil {
		b.Fatal(err)
	}
	if pk, err := r.read(); err != nil || pk.FixedHeader.Type != packets.Suback {
		b.Fatalf("subscribe: %v (packet type %d)", err, pk.FixedHeader.Type)
	}
	_ = r.conn.SetReadDeadline(time.Time{}) // read set one
	return r
}
