package broker

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// pacer keeps a subscriber's retained messages from overflowing its queues.
//
// mochi queues what it sends a client in a channel of
// MaximumClientWritesPending packets, allocated whole when the client
// connects (8 bytes a slot), and drops what does not fit. When a client
// subscribes, mochi queues every retained message the filter matches at
// once: a "#" subscriber in a house of 3,000 retained messages loses most of
// them unless every client's queue is that long, which costs 32 KB per
// client at 4,096 slots. So the queue is short (DefaultMaximumClientWritesPending),
// and the pacer holds the burst back instead: after each retained message
// mochi queues, it waits while more than half a queue of that client's
// retained messages has not been written yet, and lets go once the client
// has taken half of them. Live messages have the other half of the queue.
//
// mochi's writes land in the client's send queue (sendqueue.go), which
// never waits for the client, so the pacer also holds the burst while the
// client has not taken half its send buffer (what waits in the send queue,
// plus what mochi has queued for it and not yet written): a client on a
// slow link then gets the burst as fast as it reads, rather than being cut
// off as a slow consumer.
//
// The wait is on the subscriber's own goroutine (mochi sends retained
// messages from the one that read the SUBSCRIBE), which has nothing else to
// do meanwhile; no other client waits. A burst starts when a SUBSCRIBE has
// been accepted, before mochi queues the first retained message, and ends
// once mochi has processed the SUBSCRIBE and written the burst, so that
// every retained message written is counted against the burst.
//
// The pacer is also where each send queue learns its client's id, for the
// line that cuts the client off.
type pacer struct {
	mqtt.HookBase
	limit int           // backlog of retained messages that makes a burst wait
	stall time.Duration // give up waiting when nothing is written for this long

	active atomic.Int32 // bursts in progress: OnPacketSent does nothing while 0
	mu     sync.Mutex
	bursts map[*mqtt.Client]*burst
}

// burst is one client's retained messages: queued by mochi, and written.
type burst struct {
	queued, sent           int
	queuedBytes, sentBytes int           // see packetBytes
	biggest                int           // the largest message queued, in bytes
	queuing                bool          // mochi may queue more: the SUBSCRIBE is being processed
	wake                   chan struct{} // signalled when a message of the burst is written
}

// packetBytes weighs a retained PUBLISH, the same before mochi encodes it
// and after it wrote it (the topic may be replaced by an alias by then):
// its payload and a little more than the rest takes for a short topic.
func packetBytes(pk packets.Packet) int { return len(pk.Payload) + 64 }

func newPacer(pending int, stall time.Duration) *pacer {
	return &pacer{limit: max(1, pending/2), stall: stall, bursts: make(map[*mqtt.Client]*burst)}
}

var pacerProvides = []byte{mqtt.OnSessionEstablish, mqtt.OnSubscribed, mqtt.OnRetainPublished,
	mqtt.OnPacketSent, mqtt.OnPacketProcessed, mqtt.OnDisconnect}

// ID names the hook in mochi's logs.
func (p *pacer) ID() string { return "hearth-retained-pacer" }

// Provides lists the hook methods mochi should call.
func (p *pacer) Provides(b byte) bool { return bytes.IndexByte(pacerProvides, b) >= 0 }

// OnSessionEstablish tells the client's send queue whose it is.
func (p *pacer) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	if q := sendQueueOf(cl.Net.Conn); q != nil {
		q.name(cl.ID)
	}
}

// OnSubscribed starts a burst: mochi queues the retained messages the
// subscription matches next.
func (p *pacer) OnSubscribed(cl *mqtt.Client, _ packets.Packet, _ []byte) {
	if cl.Net.Inline {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.bursts[cl]
	if b == nil {
		b = &burst{wake: make(chan struct{}, 1)}
		p.bursts[cl] = b
		p.active.Add(1)
	}
	b.queuing = true
}

// OnPacketProcessed ends a burst once mochi has queued all of it (it has
// processed the SUBSCRIBE) and written all of it.
func (p *pacer) OnPacketProcessed(cl *mqtt.Client, pk packets.Packet, _ error) {
	if p.active.Load() == 0 || pk.FixedHeader.Type != packets.Subscribe {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.bursts[cl]; b != nil {
		b.queuing = false
		if b.sent >= b.queued {
			p.endLocked(cl, b)
		}
	}
}

// OnRetainPublished counts a retained message mochi queued for cl and waits
// while cl is too far behind.
func (p *pacer) OnRetainPublished(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline {
		return
	}
	if most := cl.Properties.Props.MaximumPacketSize; most > 0 && packetBytes(pk) > int(most) {
		return // too large for the client: mochi will not write it
	}
	q := sendQueueOf(cl.Net.Conn)
	p.mu.Lock()
	b := p.bursts[cl]
	if b == nil { // the client left: OnDisconnect ended the burst
		p.mu.Unlock()
		return
	}
	b.queued++
	b.queuedBytes += packetBytes(pk)
	b.biggest = max(b.biggest, packetBytes(pk))
	wait := p.behindLocked(b, q, p.limit-1, 2)
	p.mu.Unlock()
	if !wait {
		return
	}
	var moved <-chan struct{} // nil without a send queue: never ready
	if q != nil {
		moved = q.moved()
	}
	last := p.progress(b, q)
	t := time.NewTimer(p.stall)
	defer t.Stop()
	for {
		select {
		case <-b.wake:
		case <-moved:
		case <-t.C:
			// A client that stopped reading is cut off by its send
			// queue; one that reads too slowly to take anything in
			// stall gets mochi's drops, as without the pacer.
			now := p.progress(b, q)
			if now == last {
				return
			}
			last = now
			t.Reset(p.stall)
		}
		p.mu.Lock()
		wait = p.behindLocked(b, q, p.limit/2, 4)
		p.mu.Unlock()
		if !wait || cl.Closed() {
			return
		}
	}
}

// behindLocked reports whether b's client has more than msgs of the burst
// queued in mochi, or has not taken more than 1/part of its send buffer
// (in its send queue, or queued in mochi), or could not take one more
// message as large as the largest of the burst without going past the
// buffer's bound, which would cut it off.
func (p *pacer) behindLocked(b *burst, q *sendQueue, msgs, part int) bool {
	queued, failed := 0, false
	if q != nil {
		queued, _, failed = q.state()
	}
	pending := queued + b.queuedBytes - b.sentBytes
	switch {
	case failed:
		return false // cut off or closed: nothing to wait for
	case b.queued-b.sent > msgs:
		return true
	case q == nil:
		return false
	default:
		return pending > q.bound/part || pending > 0 && pending+b.biggest > q.bound
	}
}

// taken is what a client has taken of what it was sent: the retained
// messages mochi has written, and the bytes its send queue has written.
type taken struct {
	messages int
	bytes    uint64
}

// progress returns what b's client has taken so far.
func (p *pacer) progress(b *burst, q *sendQueue) taken {
	p.mu.Lock()
	t := taken{messages: b.sent}
	p.mu.Unlock()
	if q != nil {
		_, t.bytes, _ = q.state()
	}
	return t
}

// OnPacketSent counts a retained message written to a client in a burst.
func (p *pacer) OnPacketSent(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if p.active.Load() == 0 || pk.FixedHeader.Type != packets.Publish || !pk.FixedHeader.Retain {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.bursts[cl]
	if b == nil {
		return
	}
	// Counted even when it seems ahead of what was queued: mochi's writer
	// may write a message before the subscriber's goroutine has counted it
	// (OnRetainPublished comes after mochi queued it). A live retained
	// message (MQTT 5 "retain as published") counts too, letting the burst
	// go a little early.
	b.sent++
	b.sentBytes += packetBytes(pk)
	if !b.queuing && b.sent >= b.queued {
		p.endLocked(cl, b)
		return
	}
	signal(b.wake)
}

// OnDisconnect forgets a client's burst and releases its wait.
func (p *pacer) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	if p.active.Load() == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.bursts[cl]; b != nil {
		p.endLocked(cl, b)
	}
}

// endLocked forgets a burst whose messages were all written (or whose
// client left) and wakes its waiter.
func (p *pacer) endLocked(cl *mqtt.Client, b *burst) {
	delete(p.bursts, cl)
	p.active.Add(-1)
	signal(b.wake)
}

// signal wakes a waiter on ch (buffered 1) without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
