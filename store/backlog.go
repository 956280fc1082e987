package store

import (
	"hearth"
)

// eventOverhead is roughly what one held event costs beyond its payloads and
// names: the Event value itself and the slice slot it sits in.
const eventOverhead = 200

// backlog holds, in log order, the events Run took off the bus but could not
// commit because the disk refused them. It is bounded: past its limits it
// lets the oldest events go that nobody waits for (see shed), and counts them
// so that the log can say so once it is written again.
type backlog struct {
	maxEvents int
	maxBytes  int64

	events  []hearth.Event
	bytes   int64
	lastSeq uint64 // of the newest event ever added

	// What was let go since the log last took everything.
	dropped                   uint64
	firstDropped, lastDropped uint64
}

func newBacklog(maxEvents int, maxBytes int64) *backlog {
	return &backlog{maxEvents: maxEvents, maxBytes: maxBytes}
}

// len is how many events are held.
func (b *backlog) len() int { return len(b.events) }

// add appends events (copies of them: the caller's slice is reused) and
// sheds the oldest when the backlog is over its limits.
func (b *backlog) add(evs []hearth.Event) {
	for i := range evs {
		b.events = append(b.events, evs[i])
		b.bytes += eventBytes(&evs[i])
		b.lastSeq = max(b.lastSeq, evs[i].Seq)
	}
	if len(b.events) > b.maxEvents || b.bytes > b.maxBytes {
		b.shed()
	}
}

// front returns up to n of the oldest events, still held.
func (b *backlog) front(n int) []hearth.Event {
	return b.events[:min(n, len(b.events))]
}

// pop forgets the n oldest events, once the log has them.
func (b *backlog) pop(n int) {
	for i := range b.events[:n] {
		b.bytes -= eventBytes(&b.events[i])
		b.events[i] = hearth.Event{} // let their payloads go
	}
	b.events = b.events[n:]
	if len(b.events) == 0 {
		// A long outage grew the array; do not keep it for the next one.
		b.events, b.bytes = nil, 0
	}
}

// shed lets events go until the backlog is down to three quarters of its
// limits, so that it sheds in large steps rather than at every event. It
// goes oldest first and keeps:
//   - every message somebody waits for (QoS 1 and 2): its publisher, or the
//     remote broker that sent it, is told "logged" only once the log has it;
//   - each device's newest state and newest availability event, so that the
//     device read model the log folds into ends where the devices are,
//     whatever was let go before.
//
// Only if that is not enough does it let the older of those device events go
// too. A message somebody waits for is never let go: the broker refuses new
// ones while the log fails, so there are few.
func (b *backlog) shed() {
	wantEvents, wantBytes := b.maxEvents*3/4, b.maxBytes*3/4
	newest := make(map[foldKey]uint64)
	for i := len(b.events) - 1; i >= 0; i-- {
		if k, ok := foldKeyOf(&b.events[i]); ok {
			if _, seen := newest[k]; !seen {
				newest[k] = b.events[i].Seq
			}
		}
	}
	n, bytes := len(b.events), b.bytes
	over := func() bool { return n > wantEvents || bytes > wantBytes }
	for _, keepNewest := range []bool{true, false} {
		if !over() {
			break
		}
		kept := b.events[:0]
		for i := range b.events {
			e := &b.events[i]
			if over() && !waitedFor(b.events[i:i+1]) && !(keepNewest && isNewest(e, newest)) {
				n--
				bytes -= eventBytes(e)
				b.noteDropped(e.Seq)
				continue
			}
			kept = append(kept, *e)
		}
		clear(b.events[len(kept):])
		b.events = kept
	}
	b.bytes = bytes
}

func (b *backlog) noteDropped(seq uint64) {
	if b.dropped == 0 || seq < b.firstDropped {
		b.firstDropped = seq
	}
	b.lastDropped = max(b.lastDropped, seq)
	b.dropped++
}

// foldKey names what an event sets in the device read model: one device's
// state, or its availability.
type foldKey struct {
	device string
	kind   hearth.Kind
}

func foldKeyOf(e *hearth.Event) (foldKey, bool) {
	if _, _, ok := deviceChange(*e); !ok {
		return foldKey{}, false
	}
	return foldKey{e.Device, e.Kind}, true
}

func isNewest(e *hearth.Event, newest map[foldKey]uint64) bool {
	k, ok := foldKeyOf(e)
	return ok && newest[k] == e.Seq
}

// eventBytes is roughly the memory an event holds.
func eventBytes(e *hearth.Event) int64 {
	return int64(eventOverhead + len(e.Payload) + len(e.Prev) + len(e.Topic) + len(e.Device) +
		len(e.Client) + len(e.Cause.Run) + len(e.Cause.Source))
}
