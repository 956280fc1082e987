package broker

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"hearth"
)

// drain reads bus events until n have been read or ctx ends; it returns the
// count on done.
func drain(ctx context.Context, bus *hearth.Bus, n int) (done <-chan int) {
	sub := bus.Subscribe("bench", hearth.MustNotMiss)
	out := make(chan int, 1)
	go func() {
		defer sub.Close()
		buf := make([]hearth.Event, 512)
		got := 0
		for got < n {
			evs, err := sub.Read(ctx, buf)
			if err != nil {
				break
			}
			got += len(evs)
		}
		out <- got
	}()
	return out
}

// BenchmarkPublishQoS0 measures one QoS 0 message from a client socket
// through the guard, mochi and the hook onto the bus and out to a consumer.
func BenchmarkPublishQoS0(b *testing.B) {
	bus := hearth.NewBus(hearth.BusOptions{Size: 1 << 14})
	defer bus.Close()
	br, err := New(Config{Addr: "127.0.0.1:0"}, bus)
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Start(); err != nil {
		b.Fatal(err)
	}
	defer br.Close()

	c, err := net.Dial("tcp", br.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(encode(b, 4, connectPacket(4, "bench", 30))); err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		b.Fatal(err)
	}
	one := encode(b, 4, publishPacket("home/hall_motion", 0, 0, `{"occupancy":true,"illuminance":12}`))
	const batch = 64
	burst := bytes.Repeat(one, batch)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := drain(ctx, bus, b.N)
	b.SetBytes(int64(len(one)))
	b.ResetTimer()
	for sent := 0; sent < b.N; sent += batch {
		p := burst
		if left := b.N - sent; left < batch {
			p = burst[:left*len(one)]
		}
		if _, err := c.Write(p); err != nil {
			b.Fatal(err)
		}
	}
	if got := <-done; got != b.N {
		b.Fatalf("consumer read %d events, want %d", got, b.N)
	}
}

// BenchmarkHookPublishQoS0 measures the hook alone: stamp a message and put
// it on the bus (a consumer drains it).
func BenchmarkHookPublishQoS0(b *testing.B) {
	bus := hearth.NewBus(hearth.BusOptions{Size: 1 << 14})
	defer bus.Close()
	server := mqtt.New(&mqtt.Options{Logger: slog.New(slog.DiscardHandler)})
	h := &hook{events: bus, server: server, log: slog.New(slog.DiscardHandler), ctx: context.Background(), unlogged: newUnlogged()}
	cl := server.NewClient(nil, "bench", "hall_motion", false)
	pk := publishPacket("home/hall_motion", 0, 0, `{"occupancy":true,"illuminance":12}`)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := drain(ctx, bus, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := h.OnPublish(cl, pk); err != nil {
			b.Fatal(err)
		}
	}
	if got := <-done; got != b.N {
		b.Fatalf("consumer read %d events, want %d", got, b.N)
	}
}

// BenchmarkPublishRateTake measures what the publish rate limit costs a
// message within it: a token from its client's bucket, on every publish.
func BenchmarkPublishRateTake(b *testing.B) {
	th := newThrottle(Limits{PublishRate: 1e12, PublishBurst: 1 << 30}, time.Now, slog.New(slog.DiscardHandler), newNotes(time.Now))
	b.ReportAllocs()
	for range b.N {
		if d, _ := th.take("hall_motion"); d > 0 {
			b.Fatalf("waited %v", d)
		}
	}
}

// loopReader returns the same bytes forever.
type loopReader struct {
	b   []byte
	off int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.off:])
		n += c
		r.off = (r.off + c) % len(r.b)
	}
	return n, nil
}

// BenchmarkGuardFraming measures the guard's cost per packet: frame, check
// and hand a small PUBLISH to a reader the size of mochi's.
func BenchmarkGuardFraming(b *testing.B) {
	for _, tc := range []struct {
		name    string
		version byte
		pk      packets.Packet
	}{
		{"v3.1.1 PUBLISH", 4, publishPacket("home/hall_motion", 1, 1, `{"occupancy":true,"illuminance":12}`)},
		{"v5 PUBLISH with properties", 5, func() packets.Packet {
			pk := publishPacket("home/hall_motion", 1, 1, `{"occupancy":true,"illuminance":12}`)
			pk.Properties = packets.Properties{ContentType: "application/json",
				User: []packets.UserProperty{{Key: "source", Val: "zigbee"}}}
			return pk
		}()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			one := encode(b, tc.version, tc.pk)
			f := newFramer(&loopReader{b: bytes.Repeat(one, 64)}, readBufferSize, DefaultMaxPacketSize)
			f.connected, f.version = true, tc.version
			p := make([]byte, 2048) // mochi's read buffer
			b.SetBytes(int64(len(one)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for n := 0; n < len(one); {
					m, err := f.read(p[:len(one)-n])
					if err != nil {
						b.Fatal(err)
					}
					n += m
				}
			}
		})
	}
}
