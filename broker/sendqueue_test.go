package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"hearth"
)

// fillQueue writes numbered 1 KB records to q until some of them wait in
// its queue (the socket's buffers are full), and returns how many it wrote.
func fillQueue(t *testing.T, q *sendQueue, from uint32) uint32 {
	t.Helper()
	rec := make([]byte, 1024)
	for n := from; ; n++ {
		if n-from > 1<<16 { // 64 MB: far beyond any socket buffer
			t.Fatal("the socket took everything: nothing was ever queued")
		}
		binary.BigEndian.PutUint32(rec, n)
		if _, err := q.Write(rec); err != nil {
			t.Fatalf("write record %d: %v", n, err)
		}
		if queued, _, _ := q.state(); queued > 0 {
			return n + 1 - from
		}
	}
}

// readRecords reads n numbered records from c and checks that they come in
// order, starting at from.
func readRecords(c net.Conn, from, n uint32) error {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	rec := make([]byte, 1024)
	for i := from; i < from+n; i++ {
		if _, err := io.ReadFull(c, rec); err != nil {
			return fmt.Errorf("read record %d: %w", i, err)
		}
		if got := binary.BigEndian.Uint32(rec); got != i {
			return fmt.Errorf("record %d arrived where %d was due", got, i)
		}
	}
	return nil
}

func TestSendQueue(t *testing.T) {
	log := slog.New(slog.DiscardHandler)

	t.Run("bytes go out in the order they were written, queued or not", func(t *testing.T) {
		server, client := tcpPair(t)
		q := newSendQueue(server, 8<<20, wait, log)
		t.Cleanup(func() { _ = q.Close() })
		n := fillQueue(t, q, 0)
		// The client reads from here on, while more is written: the queue
		// empties and fills again, and writes go to the socket directly
		// whenever it is empty.
		const total = 20000
		read := make(chan error, 1)
		go func() { read <- readRecords(client, 0, total) }()
		rec := make([]byte, 1024)
		for i := n; i < total; i++ {
			binary.BigEndian.PutUint32(rec, i)
			if _, err := q.Write(rec); err != nil {
				t.Fatalf("write record %d: %v", i, err)
			}
		}
		if err := <-read; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a healthy client's writes go straight to the socket", func(t *testing.T) {
		server, client := tcpPair(t)
		q := newSendQueue(server, DefaultSendBuffer, wait, log)
		t.Cleanup(func() { _ = q.Close() })
		rec := []byte("0123456789")
		for range 100 {
			if _, err := q.Write(rec); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(client, make([]byte, len(rec))); err != nil {
				t.Fatal(err)
			}
		}
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.running || q.queue != nil || q.spare != nil {
			t.Fatalf("writer running %v, queue %d bytes, spare %d: want neither", q.running, cap(q.queue), cap(q.spare))
		}
	})

	t.Run("a queue written out is released and its writer stops", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		server, client := tcpPair(t)
		q := newSendQueue(server, 8<<20, wait, log)
		t.Cleanup(func() { _ = q.Close() })
		moved := q.moved()
		n := fillQueue(t, q, 0)
		if err := readRecords(client, 0, n); err != nil {
			t.Fatal(err)
		}
		for {
			q.mu.Lock()
			idle := !q.running
			q.mu.Unlock()
			if idle {
				break
			}
			<-moved // the writer signals when it stops
		}
		q.mu.Lock()
		queue, spare := cap(q.queue), cap(q.spare)
		q.mu.Unlock()
		if queue != 0 || spare != 0 {
			t.Fatalf("an idle queue holds %d + %d bytes", queue, spare)
		}
		// The socket is used without waiting again.
		if _, err := q.Write([]byte("again")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(client, make([]byte, 5)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a client further behind than the bound is cut off as a slow consumer", func(t *testing.T) {
		logs, log := newTestLog(t)
		server, client := tcpPair(t)
		q := newSendQueue(server, 64<<10, wait, log)
		q.name("stalled")
		t.Cleanup(func() { _ = q.Close() })
		fillQueue(t, q, 0)
		var err error
		for i := 0; i < 1024 && err == nil; i++ {
			_, err = q.Write(make([]byte, 1024))
		}
		if !errors.Is(err, errSlowConsumer) {
			t.Fatalf("write past the bound: %v, want errSlowConsumer", err)
		}
		if queued, _, _ := q.state(); queued > 64<<10 {
			t.Fatalf("%d bytes queued, bound 64 KB", queued)
		}
		if _, err := q.Write([]byte("x")); !errors.Is(err, errSlowConsumer) {
			t.Fatalf("write after the cut-off: %v", err)
		}
		// The socket is closed: the client reads what had reached it, then
		// the end.
		_ = client.SetReadDeadline(time.Now().Add(wait))
		if _, err := io.Copy(io.Discard, client); err != nil && !isReset(err) {
			t.Fatalf("client read: %v, want the end of the stream", err)
		}
		if !strings.Contains(logs.String(), "slow consumer") || !strings.Contains(logs.String(), "client=stalled") {
			t.Fatalf("the cut-off was not logged with the client's id:\n%s", logs)
		}
	})

	t.Run("a write into an empty queue is taken whole, even past the bound", func(t *testing.T) {
		server, client := tcpPair(t)
		q := newSendQueue(server, minSendBuffer, wait, log)
		t.Cleanup(func() { _ = q.Close() })
		big := bytes.Repeat([]byte("p"), 16<<20)
		if _, err := q.Write(big); err != nil {
			t.Fatalf("write: %v", err)
		}
		got := make([]byte, len(big))
		_ = client.SetReadDeadline(time.Now().Add(wait))
		if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, big) {
			t.Fatalf("read: %v", err)
		}
	})

	t.Run("Close drops what is queued and stops the writer", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		server, _ := tcpPair(t) // the client never reads
		q := newSendQueue(server, 8<<20, wait, log)
		fillQueue(t, q, 0)
		q.mu.Lock()
		running := q.running
		q.mu.Unlock()
		if !running {
			t.Fatal("no writer while bytes are queued")
		}
		if err := q.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		q.mu.Lock()
		running = q.running
		q.mu.Unlock()
		if running {
			t.Fatal("the writer still runs after Close")
		}
		if _, err := q.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write after Close: %v, want net.ErrClosed", err)
		}
	})
}

func TestSendBufferSetting(t *testing.T) {
	bus := hearth.NewBus(hearth.BusOptions{})
	t.Cleanup(bus.Close)
	_, err := New(Config{Addr: "127.0.0.1:0", Limits: Limits{SendBuffer: 1024}}, bus)
	if err == nil || !strings.Contains(err.Error(), "Limits.SendBuffer 1024: want >= 4096 bytes") {
		t.Fatalf("New with a 1 KB send buffer: %v, want it refused saying why", err)
	}
}

// BenchmarkSocketWrite measures one small write to a healthy client's
// socket: through the send queue (tried at once, without waiting), and as
// the guard wrote before it (a write deadline set, then a write that may
// wait). The client reads everything on a goroutine of its own.
func BenchmarkSocketWrite(b *testing.B) {
	for _, tc := range []struct {
		name  string
		write func(b *testing.B, c net.Conn) func([]byte) error
	}{
		{"send queue", func(b *testing.B, c net.Conn) func([]byte) error {
			q := newSendQueue(c, DefaultSendBuffer, time.Second, slog.New(slog.DiscardHandler))
			b.Cleanup(func() { _ = q.Close() })
			return func(p []byte) error { _, err := q.Write(p); return err }
		}},
		{"deadline per write", func(_ *testing.B, c net.Conn) func([]byte) error {
			return func(p []byte) error {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				_, err := c.Write(p)
				return err
			}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer client.Close()
			server, err := ln.Accept()
			if err != nil {
				b.Fatal(err)
			}
			defer server.Close()
			drained := make(chan struct{})
			go func() {
				defer close(drained)
				_, _ = io.Copy(io.Discard, client)
			}()
			write := tc.write(b, server)
			p := make([]byte, 64) // a small PUBLISH
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := write(p); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			_ = server.Close()
			_ = client.Close()
			<-drained
		})
	}
}
