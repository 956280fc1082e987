package broker

import (
	"encoding/binary"
	"io"
	"net"
	"slices"
	"testing"
	"time"
)

// BenchmarkRemoteReadNagle measures how long a small message from a broker
// that runs Nagle's algorithm (Mosquitto's default) takes to reach the hub
// in remote mode, with the hub acknowledging at once (what it does) and
// with the kernel's delayed acknowledgement (what it did: 23 ms on average
// at QoS 0). The sender writes a message every millisecond, as a broker
// does that forwards 1,000 messages a second; latency-p50-µs is the figure.
func BenchmarkRemoteReadNagle(b *testing.B) {
	for _, tc := range []struct {
		name     string
		quickAck bool
	}{
		{"acked at once", true},
		{"kernel's delayed ack", false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					close(accepted)
					return
				}
				accepted <- c
			}()
			raw, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			hub := newTrackedConn(raw, raw)
			if !tc.quickAck {
				hub.ack = nil
			}
			defer hub.Close()
			broker, ok := (<-accepted).(*net.TCPConn)
			if !ok {
				b.Fatal("no connection")
			}
			defer broker.Close()
			if err := broker.SetNoDelay(false); err != nil {
				b.Fatal(err)
			}

			sent := make(chan error, 1)
			start := time.Now()
			b.ResetTimer()
			go func() {
				msg := make([]byte, 8)
				for i := 0; i < b.N; i++ {
					binary.BigEndian.PutUint64(msg, uint64(time.Since(start)))
					if _, err := broker.Write(msg); err != nil {
						sent <- err
						return
					}
					time.Sleep(time.Millisecond)
				}
				sent <- nil
			}()
			lat := make([]time.Duration, 0, b.N)
			msg := make([]byte, 8)
			for i := 0; i < b.N; i++ {
				if _, err := io.ReadFull(hub, msg); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start)-time.Duration(binary.BigEndian.Uint64(msg)))
				if i%50 == 0 {
					// The hub sends too (commands, pings), which puts the
					// kernel in its delayed-acknowledgement mode.
					if _, err := hub.Write(msg[:1]); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := <-sent; err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "latency-p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "latency-p99-µs")
		})
	}
}
