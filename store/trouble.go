package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"hearth"
)

// Defaults of DiskTrouble.
const (
	DefaultHoldEvents = 100_000
	DefaultHoldBytes  = 32 << 20
	DefaultRetryMin   = time.Second
	DefaultRetryMax   = 30 * time.Second
)

// troubleLogEvery is how often Run repeats, while the disk still refuses the
// log, that it does: often enough to be seen in a journal, not so often that
// it fills one.
const troubleLogEvery = time.Minute

// GapTopic is the topic of the log's note of events it did not write.
const GapTopic = "$hearth/log/gap"

// DiskTrouble says what Run does while the disk refuses the log (full,
// read-only, failing): it keeps taking events off the bus, holds them in
// memory up to these limits, and tries the disk again with a back-off.
type DiskTrouble struct {
	// HoldEvents and HoldBytes bound what is held in memory; past them the
	// oldest events nobody waits for are let go, and the log says so once it
	// is written again. DefaultHoldEvents and DefaultHoldBytes when 0.
	HoldEvents int
	HoldBytes  int64
	// RetryMin is the first wait before trying the disk again, doubling up to
	// RetryMax. DefaultRetryMin and DefaultRetryMax when 0.
	RetryMin, RetryMax time.Duration
}

func (t DiskTrouble) withDefaults() DiskTrouble {
	if t.HoldEvents <= 0 {
		t.HoldEvents = DefaultHoldEvents
	}
	if t.HoldBytes <= 0 {
		t.HoldBytes = DefaultHoldBytes
	}
	if t.RetryMin <= 0 {
		t.RetryMin = DefaultRetryMin
	}
	if t.RetryMax <= 0 {
		t.RetryMax = DefaultRetryMax
	}
	t.RetryMax = max(t.RetryMax, t.RetryMin)
	return t
}

// SetDiskTrouble changes what Run does while the disk refuses the log. Call
// it before Run.
func (s *Store) SetDiskTrouble(t DiskTrouble) { s.disk.cfg = t }

// LogTrouble is where the log stands with the disk, for /metrics.
type LogTrouble struct {
	// Failing is true while the disk refuses the log.
	Failing bool
	// Since is when it started refusing, and Cause what is wrong, in words.
	Since time.Time
	Cause string
	// Held is how many events wait in memory for the disk, HeldBytes about
	// how much memory they take.
	Held      int
	HeldBytes int64
	// NotLogged counts the events let go since the store opened.
	NotLogged uint64
}

// Trouble reports where the log stands with the disk.
func (s *Store) Trouble() LogTrouble {
	s.disk.mu.Lock()
	defer s.disk.mu.Unlock()
	return s.disk.now
}

// diskState is the store's part in disk trouble: its settings and what
// Trouble reports.
type diskState struct {
	cfg   DiskTrouble    // set before Run
	notes sync.WaitGroup // the gap notes being published; Run waits for them

	mu  sync.Mutex
	now LogTrouble
}

func (d *diskState) update(f func(*LogTrouble)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(&d.now)
}

// Gap is the payload of a hearth.KindGap event: the events the log did not
// write while the disk refused it.
type Gap struct {
	// NotLogged events were let go, the oldest with sequence number FirstSeq
	// and the newest with LastSeq; events between them that were kept (each
	// device's latest state, messages somebody waited for) are in the log.
	NotLogged uint64 `json:"not_logged"`
	FirstSeq  uint64 `json:"first_seq"`
	LastSeq   uint64 `json:"last_seq"`
	// From and Until are when the disk started refusing the log and when it
	// took it again.
	From  time.Time `json:"from"`
	Until time.Time `json:"until"`
	// Cause says what was wrong with the disk.
	Cause string `json:"cause"`
}

// diskTrouble reports whether err is the disk's doing (full, read-only,
// failing, locked by another program), which Run waits out, rather than a
// fault of the program, which must stop the hub. The text says which, in
// words a user can act on.
func diskTrouble(err error) (string, bool) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return "", false
	}
	switch se.Code() & 0xff { // the primary code; the rest says more of the same
	case sqlite3.SQLITE_FULL:
		return "the disk is full", true
	case sqlite3.SQLITE_READONLY:
		return "the database cannot be written (a read-only disk or file)", true
	case sqlite3.SQLITE_IOERR:
		return "the disk failed a write (read-only, full or failing)", true
	case sqlite3.SQLITE_CANTOPEN:
		return "a database file cannot be opened (the data folder is read-only or gone)", true
	case sqlite3.SQLITE_BUSY:
		return "another program holds the database locked", true
	}
	return "", false
}

// outage is one stretch of disk trouble, from the commit that failed to the
// one that took everything held.
type outage struct {
	s       *Store
	d       Durability
	cfg     DiskTrouble
	held    *backlog
	since   time.Time
	cause   string
	err     error
	delay   time.Duration
	logged  time.Time // when the trouble was last logged
	retries int

	reported uint64 // of held.dropped, what Store.Trouble counts already
}

// weather keeps Run going while the disk refuses the log. It starts from the
// batch whose commit failed with err (a disk error), holds it and whatever
// the bus delivers meanwhile in a bounded backlog, and tries the disk again
// with a back-off until it takes everything held. Then it tells d that the
// log is written again, marks the events durable, publishes the log's note of
// what was let go (if anything was), and returns to Run.
//
// It returns whether the bus closed, and an error that must end Run: a
// failure that is not the disk's, a gap in the subscription, or ctx's end.
// When the bus closes or ctx ends it tries the disk once more; what it still
// cannot write is lost, and it says how much.
func (s *Store) weather(ctx context.Context, sub *hearth.Subscription, d Durability, w *batchWriter,
	buf, batch []hearth.Event, closed bool, err error,
) (bool, error) {
	cfg := s.disk.cfg.withDefaults()
	o := &outage{s: s, d: d, cfg: cfg, held: newBacklog(cfg.HoldEvents, cfg.HoldBytes),
		since: time.Now(), delay: cfg.RetryMin}
	o.held.add(batch)
	o.cause, _ = diskTrouble(err)
	// Said before the bus is told, so that whoever hears of the failure from
	// the bus finds it in the log already.
	s.log.Error("cannot write the event log: "+o.cause+". Lights and automations keep working; "+
		"events are held in memory and written when the disk takes them again, "+
		"and until then QoS 1 messages are refused (not acknowledged). Free space on the disk or make it writable.",
		"err", err, "held", o.held.len(), "hold_max", cfg.HoldEvents)
	o.logged = o.since
	o.fail(err)
	for {
		if !closed && ctx.Err() == nil {
			var err error // a gap in the subscription: the log cannot be complete
			if closed, err = o.collect(ctx, sub, buf); err != nil {
				return closed, err
			}
		}
		ferr := o.flush(ctx, sub, w, buf, &closed)
		if errors.Is(ferr, hearth.ErrGap) {
			return closed, ferr // said and told by take
		}
		if ferr == nil {
			o.recovered()
			if closed {
				return true, nil
			}
			return false, ctx.Err()
		}
		if _, disk := diskTrouble(ferr); !disk {
			s.log.Error("log write failed", "err", ferr)
			d.FailDurable(ferr)
			return closed, ferr
		}
		if closed || ctx.Err() != nil {
			o.lost()
			if closed {
				return true, nil
			}
			return false, ctx.Err()
		}
		o.fail(ferr)
		o.retries++
		if now := time.Now(); now.Sub(o.logged) >= troubleLogEvery {
			o.logged = now
			s.log.Error("the event log still cannot be written: "+o.cause,
				"err", ferr, "since", o.since.Format(time.DateTime), "held", o.held.len(),
				"not_logged", o.held.dropped, "retries", o.retries)
		}
		o.delay = min(2*o.delay, cfg.RetryMax)
	}
}

// fail records err as the current cause and tells d.
func (o *outage) fail(err error) {
	cause, _ := diskTrouble(err)
	o.err, o.cause = err, cause
	o.report(true)
	o.d.FailDurable(err)
}

// report updates what Store.Trouble says.
func (o *outage) report(failing bool) {
	o.s.disk.update(func(t *LogTrouble) {
		notLogged := t.NotLogged + o.held.dropped - o.reported
		o.reported = o.held.dropped
		*t = LogTrouble{NotLogged: notLogged}
		if failing {
			t.Failing, t.Since, t.Cause = true, o.since, o.cause
			t.Held, t.HeldBytes = o.held.len(), o.held.bytes
		}
	})
}

// collect takes what the bus delivers until the next try is due.
func (o *outage) collect(ctx context.Context, sub *hearth.Subscription, buf []hearth.Event) (bool, error) {
	wait, cancel := context.WithTimeout(ctx, o.delay)
	defer cancel()
	for {
		evs, err := sub.Read(wait, buf)
		closed, err := o.take(sub, evs, err)
		if closed || err != nil {
			return closed, err
		}
		if wait.Err() != nil {
			o.report(true)
			return false, nil // the try is due, or ctx ended: the caller looks
		}
	}
}

// take holds what a Read returned, and reports whether the bus closed, or a
// gap in the subscription, which ends Run: the log could not be complete.
func (o *outage) take(sub *hearth.Subscription, evs []hearth.Event, err error) (bool, error) {
	o.held.add(evs)
	switch {
	case errors.Is(err, hearth.ErrClosed):
		return true, nil
	case errors.Is(err, hearth.ErrGap):
		err = fmt.Errorf("log subscription %q: %w", sub.Name(), err)
		o.s.log.Error("log has a gap", "err", err)
		o.d.FailDurable(err)
		return false, err
	}
	return false, nil // nothing, or the Read's ctx ended
}

// flush commits everything held, oldest first, a batch at a time, taking
// what the bus delivers meanwhile so that publishers are not held up.
func (o *outage) flush(ctx context.Context, sub *hearth.Subscription, w *batchWriter, buf []hearth.Event, closed *bool) error {
	polled, cancel := context.WithCancel(ctx)
	cancel() // Read returns what is there and never waits
	for o.held.len() > 0 {
		chunk := o.held.front(batchSize)
		if err := o.s.commit(context.WithoutCancel(ctx), w, chunk); err != nil {
			return fmt.Errorf("append events %d..%d: %w", chunk[0].Seq, chunk[len(chunk)-1].Seq, err)
		}
		o.held.pop(len(chunk))
		if !*closed {
			evs, err := sub.Read(polled, buf)
			if *closed, err = o.take(sub, evs, err); err != nil {
				return err
			}
		}
	}
	return nil
}

// recovered tells d and the user that the log is written again, and notes
// in the log what was let go. Every event taken off the bus is now in the
// log or in that note, so all of them count as durable.
func (o *outage) recovered() {
	until := time.Now()
	o.d.FailDurable(nil)
	o.d.MarkDurable(o.held.lastSeq)
	o.report(false)
	after := until.Sub(o.since).Round(time.Second).String()
	if o.held.dropped == 0 {
		o.s.log.Warn("the event log is written again; nothing was lost", "after", after)
		return
	}
	gap := Gap{NotLogged: o.held.dropped, FirstSeq: o.held.firstDropped, LastSeq: o.held.lastDropped,
		From: o.since, Until: until, Cause: o.cause}
	payload, _ := json.Marshal(gap) // plain fields: cannot fail
	ev := hearth.Event{Kind: hearth.KindGap, Topic: GapTopic, Payload: payload, Cause: hearth.Cause{Source: "hub"}}
	o.s.log.Warn("the event log is written again; events held in memory beyond its limits were let go, and the log notes the gap",
		"after", after, "not_logged", gap.NotLogged, "first_seq", gap.FirstSeq, "last_seq", gap.LastSeq)
	// Published from a goroutine: Run is a subscriber that must not miss
	// events, and a publisher waiting for room in the ring could be waiting
	// for Run itself. Run waits for it before it returns.
	o.s.disk.notes.Go(func() {
		if _, err := o.d.Publish(ev); err != nil {
			o.s.log.Error("the log's note of a gap was not published", "err", err, "gap", string(payload))
		}
	})
}

// lost says what the log could not take before Run stopped.
func (o *outage) lost() {
	o.report(true)
	o.s.log.Error("stopping with events the disk never took: they are not in the log",
		"cause", o.cause, "lost", o.held.len(), "not_logged_before", o.held.dropped, "err", o.err)
}
