package store

import (
	"fmt"
	"slices"
	"testing"

	"hearth"
)

func TestBacklogShed(t *testing.T) {
	msg := func(seq uint64, qos byte) hearth.Event {
		return hearth.Event{Seq: seq, Kind: hearth.KindMessage, Topic: "home/x", QoS: qos}
	}
	state := func(seq uint64, device string) hearth.Event {
		return hearth.Event{Seq: seq, Kind: hearth.KindState, Device: device, Payload: fmt.Appendf(nil, `{"n":%d}`, seq)}
	}
	avail := func(seq uint64, device, a string) hearth.Event {
		return hearth.Event{Seq: seq, Kind: hearth.KindAvailability, Device: device, Payload: []byte(a)}
	}
	numbered := func(n int, f func(seq uint64) hearth.Event) []hearth.Event {
		out := make([]hearth.Event, n)
		for i := range out {
			out[i] = f(uint64(i + 1))
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		maxEvents int
		maxBytes  int64
		add       []hearth.Event
		wantKept  []uint64 // seqs still held, in order
		wantFirst uint64   // first and last seq let go
		wantLast  uint64
	}{
		{
			name:      "the oldest events go first, down to three quarters of the limit",
			maxEvents: 8,
			add:       numbered(9, func(s uint64) hearth.Event { return msg(s, 0) }),
			wantKept:  []uint64{4, 5, 6, 7, 8, 9},
			wantFirst: 1, wantLast: 3,
		},
		{
			name:      "a message somebody waits for is never let go",
			maxEvents: 4,
			add:       []hearth.Event{msg(1, 1), msg(2, 0), msg(3, 2), msg(4, 0), msg(5, 0)},
			wantKept:  []uint64{1, 3, 5},
			wantFirst: 2, wantLast: 4,
		},
		{
			name:      "each device's newest state and availability stay, older ones go",
			maxEvents: 6,
			add: []hearth.Event{
				state(1, "lamp"), avail(2, "lamp", "online"), state(3, "lamp"), msg(4, 0),
				state(5, "door"), avail(6, "lamp", "offline"), msg(7, 0),
			},
			wantKept:  []uint64{3, 5, 6, 7},
			wantFirst: 1, wantLast: 4,
		},
		{
			name:      "when devices alone are over the limit their older events go too",
			maxEvents: 4,
			add:       []hearth.Event{state(1, "a"), state(2, "b"), state(3, "c"), state(4, "d"), state(5, "e")},
			wantKept:  []uint64{3, 4, 5},
			wantFirst: 1, wantLast: 2,
		},
		{
			name:      "the byte limit counts payloads",
			maxEvents: 1000,
			maxBytes:  4 * (eventOverhead + 1000),
			add: numbered(5, func(s uint64) hearth.Event {
				e := msg(s, 0)
				e.Topic = ""
				e.Payload = make([]byte, 1000)
				return e
			}),
			wantKept:  []uint64{3, 4, 5},
			wantFirst: 1, wantLast: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			maxBytes := tc.maxBytes
			if maxBytes == 0 {
				maxBytes = 1 << 30
			}
			b := newBacklog(tc.maxEvents, maxBytes)
			for _, e := range tc.add {
				b.add([]hearth.Event{e})
			}
			var kept []uint64
			var bytes int64
			for _, e := range b.events {
				kept = append(kept, e.Seq)
				bytes += eventBytes(&e)
			}
			if !slices.Equal(kept, tc.wantKept) {
				t.Fatalf("kept %v, want %v", kept, tc.wantKept)
			}
			if want := uint64(len(tc.add) - len(tc.wantKept)); b.dropped != want {
				t.Fatalf("dropped %d, want %d", b.dropped, want)
			}
			if b.firstDropped != tc.wantFirst || b.lastDropped != tc.wantLast {
				t.Fatalf("dropped seqs %d..%d, want %d..%d", b.firstDropped, b.lastDropped, tc.wantFirst, tc.wantLast)
			}
			if b.bytes != bytes {
				t.Fatalf("bytes counted %d, held %d", b.bytes, bytes)
			}
			if b.lastSeq != tc.add[len(tc.add)-1].Seq {
				t.Fatalf("lastSeq %d, want the newest added", b.lastSeq)
			}
		})
	}

	t.Run("popping everything forgets the array and the bytes", func(t *testing.T) {
		b := newBacklog(100, 1<<20)
		b.add([]hearth.Event{msg(1, 0), msg(2, 0), msg(3, 0)})
		if got := b.front(2); len(got) != 2 || got[0].Seq != 1 {
			t.Fatalf("front(2) = %v", got)
		}
		b.pop(2)
		b.pop(1)
		if b.len() != 0 || b.bytes != 0 || b.events != nil {
			t.Fatalf("after popping all: %d events, %d bytes, array %v", b.len(), b.bytes, b.events)
		}
	})
}
