package broker

import (
	"bytes"
	"io"
	"log/slog"
	"testing"
	"time"
)

// TestConnHoldsBackUntilConnack writes packets to a guarded connection the
// way mochi does (whole packets, one or several per write) and checks what
// the client receives: nothing but AUTH before the CONNACK, and what was
// held back right after it, in order.
func TestConnHoldsBackUntilConnack(t *testing.T) {
	var (
		connack    = []byte{0x20, 0x02, 0x00, 0x00}
		auth       = []byte{0xf0, 0x00}
		publish1   = []byte{0x30, 0x05, 0x00, 0x01, 'a', 'o', 'n'}
		publish2   = []byte{0x30, 0x06, 0x00, 0x01, 'a', 'o', 'f', 'f'}
		disconnect = []byte{0xe0, 0x00}
	)
	tests := []struct {
		name   string
		writes [][]byte
		want   []byte
	}{
		{"a message written before the CONNACK follows it",
			[][]byte{publish1, connack}, cat(connack, publish1)},
		{"packets sharing a write with the CONNACK keep their order after it",
			[][]byte{cat(publish1, connack, publish2)}, cat(connack, publish1, publish2)},
		{"AUTH goes out before the CONNACK",
			[][]byte{auth, publish1, connack}, cat(auth, connack, publish1)},
		{"after the CONNACK writes go straight through",
			[][]byte{connack, publish1, publish2}, cat(connack, publish1, publish2)},
		{"a connection never acknowledged is sent nothing held",
			[][]byte{publish1, disconnect}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, client := tcpPair(t)
			cfg := Config{}.withDefaults()
			log := slog.New(slog.DiscardHandler)
			q := newSendQueue(server, cfg.Limits.SendBuffer, cfg.WriteTimeout, log)
			c := newConn(q, q, &cfg, log, func(*conn) {})
			for _, w := range tt.writes {
				if n, err := c.Write(bytes.Clone(w)); n != len(w) || err != nil {
					t.Fatalf("write % x: %d, %v", w, n, err)
				}
			}
			_ = c.Close()
			_ = client.SetReadDeadline(time.Now().Add(wait))
			got, err := io.ReadAll(client)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("the client received % x, want % x", got, tt.want)
			}
		})
	}
}

func TestPacketLen(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		n    int
		typ  byte
	}{
		{"a packet with no body", []byte{0xd0, 0x00}, 2, typePingresp},
		{"a packet followed by another", []byte{0x20, 0x02, 0x00, 0x00, 0xd0, 0x00}, 4, typeConnack},
		{"a two-byte remaining length", append([]byte{0x30, 0x80, 0x01}, make([]byte, 128)...), 131, typePublish},
		{"a packet cut short", []byte{0x30, 0x05, 0x00}, 0, 0},
		{"a remaining length cut short", []byte{0x30, 0x80}, 0, 0},
		{"a remaining length longer than four bytes", []byte{0x30, 0x80, 0x80, 0x80, 0x80, 0x01}, 0, 0},
		{"nothing", nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n, typ := packetLen(tt.b); n != tt.n || typ != tt.typ {
				t.Errorf("packetLen(% x) = %d, %d; want %d, %d", tt.b, n, typ, tt.n, tt.typ)
			}
		})
	}
}
