package hearth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrClosed is returned by the bus once it has been closed.
var ErrClosed = errors.New("bus closed")

// ErrGap is returned to a subscriber that may lag when events it had not read
// were overwritten. The subscriber continues from the oldest event still held;
// it should re-read whatever it shows from the source of truth.
var ErrGap = errors.New("subscriber fell behind: events were skipped")

// Stage folds an event into a read model inside the bus's ordering: it runs
// under the bus lock once the event has its sequence number, may fill in the
// event's Device, and the events it emits (a device's state change) get the
// numbers right after it. A stage must be quick and must not publish on the
// bus itself.
type Stage interface {
	Apply(e *Event, emit func(Event))
}

// Delivery says what a subscriber is promised.
type Delivery int

const (
	// MustNotMiss subscribers (the log, the read model, automations) get every
	// event: publishers wait when such a subscriber is a full ring behind.
	MustNotMiss Delivery = iota
	// MayLag subscribers (open pages) never hold a publisher up; when they fall
	// a ring behind they get ErrGap and skip ahead.
	MayLag
)

// BusOptions configure a Bus.
type BusOptions struct {
	// NextSeq is the sequence number of the first event (the log's last + 1).
	NextSeq uint64
	// Size is how many events the ring holds, rounded up to a power of two;
	// 8,192 when zero.
	Size int
	// Durable makes WaitDurable wait for MarkDurable; without it nothing
	// records the log and WaitDurable returns at once.
	Durable bool
	// Now stamps events; time.Now when nil.
	Now func() time.Time
}

// reserve is the room kept free in the ring for events a stage emits, so
// that a publisher admitted on space for its own event never overruns a
// subscriber that must not miss anything.
const reserve = 16

// MaxGroup is the most events one Publish appends: the event and what the
// stages emit for it. A Read into a buf at least this long never ends
// between an event and what was derived from it.
const MaxGroup = 1 + reserve

// Bus is the one ordered stream of events. Publish gives each event its
// sequence number and hands it to every subscriber in log order; the log
// (store) commits behind it and reports back with MarkDurable.
type Bus struct {
	now     func() time.Time
	durable bool

	mu        sync.Mutex
	ring      []Event
	derived   []bool // derived[i]: ring[i] was emitted by a stage for the event before it
	mask      uint64
	next      uint64 // sequence number the next event gets
	first     uint64 // sequence number of the first event ever published here
	stages    []Stage
	subs      []*Subscription
	closed    bool
	spaceCh   chan struct{} // closed when a must-not-miss subscriber advances
	dataWait  int           // subscribers waiting for events (see wakeLocked)
	spaceWait int           // publishers waiting on spaceCh
	// Publish's scratch, reused under mu so that a publish allocates
	// nothing: the event the stages fold (it would escape to the heap as
	// an argument of theirs), what they emit, and emit itself.
	cur       Event
	emitted   []Event
	emitFn    func(Event)
	durMu     sync.Mutex
	durSeq    uint64
	durCh     chan struct{} // closed at every change below, then replaced (not after Close)
	durErr    error         // why the log cannot be written now; nil while it can
	durClosed bool
	stageErr  func(Event)
}

// NewBus makes a bus whose first event will have sequence number o.NextSeq.
func NewBus(o BusOptions) *Bus {
	size := 1 << 13
	if o.Size > 0 {
		size = 1
		for size < o.Size || size < 4*reserve {
			size <<= 1
		}
	}
	if o.NextSeq == 0 {
		o.NextSeq = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	b := &Bus{
		now:     o.Now,
		durable: o.Durable,
		ring:    make([]Event, size),
		derived: make([]bool, size),
		mask:    uint64(size - 1),
		next:    o.NextSeq,
		first:   o.NextSeq,
		spaceCh: make(chan struct{}),
		durSeq:  o.NextSeq - 1,
		durCh:   make(chan struct{}),
	}
	b.emitFn = b.emit
	return b
}

// AddStage adds a read model folded in log order. Call before publishing.
func (b *Bus) AddStage(s Stage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stages = append(b.stages, s)
}

// Subscribe starts a subscriber at the next event to be published.
func (b *Bus) Subscribe(name string, d Delivery) *Subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &Subscription{bus: b, name: name, delivery: d, pos: b.next, wake: make(chan struct{}, 1)}
	b.subs = append(b.subs, s)
	return s
}

// NextSeq returns the sequence number the next event will get.
func (b *Bus) NextSeq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.next
}

// Publish stamps e with the next sequence number (and the time, if unset),
// runs the stages, and appends e and what they emitted to the stream. It
// waits while a must-not-miss subscriber is a full ring behind. It returns e
// as published.
func (b *Bus) Publish(e Event) (Event, error) {
	b.mu.Lock()
	for {
		if b.closed {
			b.mu.Unlock()
			return Event{}, ErrClosed
		}
		if b.hasSpaceLocked() {
			break
		}
		wait := b.spaceCh
		b.spaceWait++
		b.mu.Unlock()
		<-wait
		b.mu.Lock()
		b.spaceWait--
	}
	defer b.mu.Unlock()

	b.cur = e
	b.cur.Seq = b.next
	if b.cur.Time.IsZero() {
		b.cur.Time = b.now()
	}
	b.emitted = b.emitted[:0]
	for _, st := range b.stages {
		st.Apply(&b.cur, b.emitFn)
	}
	e = b.cur
	b.cur = Event{} // keeps no payload alive
	b.appendLocked(e, false)
	if len(b.emitted) > 0 {
		for i, d := range b.emitted {
			if i >= reserve {
				break // a stage that emits this much is broken; the ring would be overrun
			}
			d.Seq = b.next
			if d.Time.IsZero() {
				d.Time = e.Time
			}
			b.appendLocked(d, true)
		}
	}
	if b.dataWait > 0 {
		b.wakeLocked()
	}
	return e, nil
}

// wakeLocked wakes the subscribers waiting in Read. Each has a channel of
// its own with room for one wake-up, so waking allocates nothing (a
// broadcast channel would have to be made anew at every publish); a
// wake-up left over from a wait that ended otherwise costs that Read one
// more look at the ring.
func (b *Bus) wakeLocked() {
	for _, s := range b.subs {
		if s.waiting {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
}

func (b *Bus) emit(e Event) { b.emitted = append(b.emitted, e) }

func (b *Bus) appendLocked(e Event, derived bool) {
	b.ring[e.Seq&b.mask] = e
	b.derived[e.Seq&b.mask] = derived
	b.next = e.Seq + 1
}

// hasSpaceLocked reports whether one more event (plus what stages emit) fits
// without overwriting an event a must-not-miss subscriber has not read.
func (b *Bus) hasSpaceLocked() bool {
	limit := uint64(len(b.ring)) - reserve
	for _, s := range b.subs {
		if s.delivery == MustNotMiss && !s.closed && b.next-s.pos >= limit {
			return false
		}
	}
	return true
}

// Close ends the stream: publishers get ErrClosed, subscribers read what is
// left and then get ErrClosed, and waiters on durability are released.
func (b *Bus) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		b.wakeLocked()
		close(b.spaceCh)
	}
	b.mu.Unlock()
	b.durMu.Lock()
	if !b.durClosed {
		b.durClosed = true
		close(b.durCh)
	}
	b.durMu.Unlock()
}

// durChangedLocked wakes everyone waiting on durability.
func (b *Bus) durChangedLocked() {
	if b.durClosed {
		return // closed for good by Close
	}
	close(b.durCh)
	b.durCh = make(chan struct{})
}

// MarkDurable records that every event up to seq is safely in the log. While
// the log is failing it is ignored: the log clears the failure first
// (FailDurable(nil)) once it writes again.
func (b *Bus) MarkDurable(seq uint64) {
	b.durMu.Lock()
	defer b.durMu.Unlock()
	// After Close the log still commits what it drains: keep counting so
	// that Durable stays true (waiters were already released by Close).
	if seq <= b.durSeq || b.durErr != nil {
		return
	}
	b.durSeq = seq
	b.durChangedLocked()
}

// FailDurable records that the log cannot be written now (a full or
// read-only disk): waiters, and whoever asks from now on, get err at once
// for events not yet durable. FailDurable(nil) records that the log is
// written again. A failure after Close is not recorded.
func (b *Bus) FailDurable(err error) {
	b.durMu.Lock()
	defer b.durMu.Unlock()
	if b.durClosed {
		return
	}
	switch {
	case err != nil:
		b.durErr = fmt.Errorf("log: %w", err)
	case b.durErr == nil:
		return
	default:
		b.durErr = nil
	}
	b.durChangedLocked()
}

// DurableErr returns why the log cannot be written now, or nil while it can
// (and always nil on a bus without a log). The broker refuses a message
// somebody would wait for while it is not nil.
func (b *Bus) DurableErr() error {
	b.durMu.Lock()
	defer b.durMu.Unlock()
	return b.durErr
}

// Durable returns the sequence number up to which the log is durable.
func (b *Bus) Durable() uint64 {
	b.durMu.Lock()
	defer b.durMu.Unlock()
	return b.durSeq
}

// WaitDurable waits until the event with sequence number seq is in the log.
// While the log is failing it returns the failure at once. Without a log
// (BusOptions.Durable false) it returns at once.
func (b *Bus) WaitDurable(ctx context.Context, seq uint64) error {
	return b.waitDurable(ctx, seq, false)
}

// AwaitDurable waits until the event with sequence number seq is in the
// log, like WaitDurable, but through failures of the log: for a caller that
// can hold on for as long as the disk takes to come back (an acknowledgement
// to a remote broker, which keeps the message meanwhile). It returns nil,
// ctx's error, or an error once the bus is closed.
func (b *Bus) AwaitDurable(ctx context.Context, seq uint64) error {
	return b.waitDurable(ctx, seq, true)
}

func (b *Bus) waitDurable(ctx context.Context, seq uint64, through bool) error {
	if !b.durable {
		return nil
	}
	for {
		b.durMu.Lock()
		done, err, closed, ch := b.durSeq >= seq, b.durErr, b.durClosed, b.durCh
		b.durMu.Unlock()
		switch {
		case done:
			return nil
		case err != nil && (!through || closed):
			return err
		case closed:
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Subscription reads the stream in order from where it subscribed.
type Subscription struct {
	bus      *Bus
	name     string
	delivery Delivery
	pos      uint64        // next sequence number to read; guarded by bus.mu
	closed   bool          // guarded by bus.mu
	waiting  bool          // Read waits on wake; guarded by bus.mu
	wake     chan struct{} // room for one wake-up (see wakeLocked)
}

// Name returns the name given at Subscribe.
func (s *Subscription) Name() string { return s.name }

// Read copies the next events into buf, waiting until there is at least one.
// It returns ErrGap (with no events) when a MayLag subscriber was overrun,
// and ErrClosed once the bus is closed and everything was read.
func (s *Subscription) Read(ctx context.Context, buf []Event) ([]Event, error) {
	b := s.bus
	for {
		b.mu.Lock()
		if s.closed {
			b.mu.Unlock()
			return nil, ErrClosed
		}
		if oldest := b.oldestLocked(); s.pos < oldest {
			s.pos = oldest
			b.mu.Unlock()
			return buf[:0], ErrGap
		}
		if s.pos < b.next {
			n := 0
			for s.pos < b.next && n < len(buf) {
				buf[n] = b.ring[s.pos&b.mask]
				s.pos++
				n++
			}
			// A full buf must not end between an event and what the stages
			// derived from it (a message and the state change it made): the
			// log commits a Read's batch at once, so a crash between two
			// commits would otherwise keep an acknowledged message and lose
			// its state. Leave the group for the next Read, unless it is all
			// the batch holds.
			if s.pos < b.next && b.derived[s.pos&b.mask] {
				for k := n - 1; k > 0; k-- { // buf[k] has seq s.pos-(n-k)
					if !b.derived[(s.pos-uint64(n-k))&b.mask] {
						s.pos -= uint64(n - k)
						n = k
						break
					}
				}
			}
			if s.delivery == MustNotMiss {
				b.signalSpaceLocked()
			}
			b.mu.Unlock()
			return buf[:n], nil
		}
		if b.closed {
			b.mu.Unlock()
			return nil, ErrClosed
		}
		s.waiting = true
		b.dataWait++
		b.mu.Unlock()
		var err error
		select {
		case <-s.wake:
		case <-ctx.Done():
			err = ctx.Err()
		}
		b.mu.Lock()
		s.waiting = false
		b.dataWait--
		b.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

// Close stops the subscription; a must-not-miss subscriber that closes no
// longer holds publishers up.
func (s *Subscription) Close() {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for i, x := range b.subs {
		if x == s {
			b.subs = append(b.subs[:i], b.subs[i+1:]...)
			break
		}
	}
	b.signalSpaceLocked()
	// Wake a Read of this subscription that waits for events, so that it
	// returns ErrClosed now rather than at the next publish.
	if s.waiting {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// signalSpaceLocked wakes publishers waiting for room in the ring.
func (b *Bus) signalSpaceLocked() {
	if b.closed || b.spaceWait == 0 {
		return
	}
	close(b.spaceCh)
	b.spaceCh = make(chan struct{})
}

// oldestLocked is the sequence number of the oldest event still in the ring.
func (b *Bus) oldestLocked() uint64 {
	size := uint64(len(b.ring))
	if b.next-b.first <= size {
		return b.first
	}
	return b.next - size
}

// SubscriberLag is how far one subscriber is behind the head of the stream.
type SubscriberLag struct {
	Name   string
	Events uint64
}

// Lags reports how many published events each subscriber has not read yet.
func (b *Bus) Lags() []SubscriberLag {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]SubscriberLag, 0, len(b.subs))
	for _, s := range b.subs {
		out = append(out, SubscriberLag{Name: s.name, Events: b.next - s.pos})
	}
	return out
}
