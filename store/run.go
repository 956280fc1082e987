package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"hearth"
)

// batchSize is the most events one group commit takes off the bus.
const batchSize = 1024

// Durability is told how far the log is safely on disk, or that the disk
// refuses it for now (FailDurable(nil) once it takes it again), and takes the
// log's note of events it had to let go meanwhile. *hearth.Bus satisfies it.
type Durability interface {
	MarkDurable(seq uint64)
	FailDurable(err error)
	Publish(e hearth.Event) (hearth.Event, error)
}

var _ Durability = (*hearth.Bus)(nil)

// A NULL column in the upsert means "this batch did not change it".
const upsertDeviceSQL = `INSERT INTO devices (id, state, availability, updated, seq)
	VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET
		state        = coalesce(excluded.state, devices.state),
		availability = coalesce(excluded.availability, devices.availability),
		updated      = excluded.updated,
		seq          = excluded.seq`

const setStateSeqSQL = `INSERT INTO meta (key, value) VALUES ('state_seq', ?)
	ON CONFLICT (key) DO UPDATE SET value = excluded.value`

// Run appends what sub delivers to the log until the bus is closed, in group
// commits: each Read's batch (everything published since the last commit, up
// to batchSize events) is written in one transaction with the device read
// model it implies, and then reported to d with MarkDurable. Publishers keep
// going while a commit waits for the disk, so the next batch grows with the
// load and one fsync serves many events.
//
// When the disk refuses a commit (full, read-only, failing) Run does not
// stop: it tells d, holds events in memory and tries again until the disk
// takes them (see weather, in trouble.go).
//
// Run returns nil once the bus is closed and everything it delivered is
// committed, ctx.Err() when ctx ends (a batch already taken off the bus is
// still committed, never half-written), or a write error that is not the
// disk's, which it also hands to d.FailDurable. Call Run once per Store; sub
// must be MustNotMiss.
func (s *Store) Run(ctx context.Context, sub *hearth.Subscription, d Durability) error {
	defer s.disk.notes.Wait()
	defer s.finishRun(ctx)
	buf := make([]hearth.Event, batchSize)
	w := newBatchWriter()
	for {
		// Read does not look at ctx while events are waiting, so a busy bus
		// would otherwise keep a cancelled Run going.
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := sub.Read(ctx, buf)
		switch {
		case errors.Is(err, hearth.ErrClosed):
			return nil
		case errors.Is(err, hearth.ErrGap):
			// Events were skipped: the log can no longer be complete.
			err = fmt.Errorf("log subscription %q: %w", sub.Name(), err)
			s.log.Error("log has a gap", "err", err)
			d.FailDurable(err)
			return err
		case err != nil:
			return err
		}
		if len(batch) == 0 {
			continue
		}
		batch, closed, err := s.gather(ctx, sub, buf, batch)
		if err != nil && len(batch) == 0 {
			return err
		}
		// The batch is off the bus: commit it even if ctx ends meanwhile,
		// so that cancelling never drops events the bus handed over.
		if err := s.commit(context.WithoutCancel(ctx), w, batch); err != nil {
			err = fmt.Errorf("append events %d..%d: %w", batch[0].Seq, batch[len(batch)-1].Seq, err)
			if _, disk := diskTrouble(err); disk {
				if closed, err := s.weather(ctx, sub, d, w, buf, batch, closed, err); closed || err != nil {
					return err
				}
				continue
			}
			s.log.Error("log write failed", "err", err)
			d.FailDurable(err)
			return err
		}
		last := batch[len(batch)-1].Seq
		s.log.Debug("committed", "events", len(batch), "last_seq", last)
		d.MarkDurable(last)
		if closed {
			return nil
		}
		s.maintain(ctx)
		if err != nil {
			return err
		}
	}
}

// gather holds back the commit of a batch that nobody waits for (no QoS 1
// or 2 message in it) for up to the quiet delay, adding what arrives
// meanwhile, so that a house sending a message now and then shares one
// commit among many of them instead of paying a full commit (tens of KB of
// write-ahead log and an fsync) for each: an SD card lives longer. A message
// somebody waits for ends the wait at once.
//
// A batch somebody waits for is committed at once, unless QoS 1 messages
// come so fast that holding it for the ack delay lets the next ones share
// its commit (see ackGather).
//
// It returns the batch, whether the bus closed, and an error that ended the
// gathering early (the batch gathered so far is still to be committed).
func (s *Store) gather(ctx context.Context, sub *hearth.Subscription, buf, batch []hearth.Event) ([]hearth.Event, bool, error) {
	if !waitedFor(batch) {
		return gatherFor(ctx, sub, buf, batch, s.quietDelay, true)
	}
	delay := s.ack.delay(time.Now(), waitingClient(batch), s.ackDelay)
	if delay > 0 {
		s.held.Add(1)
	}
	return gatherFor(ctx, sub, buf, batch, delay, false)
}

// gatherFor adds to batch what sub delivers within delay, until buf is
// full, or until a message somebody waits for comes when untilWaited.
func gatherFor(ctx context.Context, sub *hearth.Subscription, buf, batch []hearth.Event, delay time.Duration, untilWaited bool) ([]hearth.Event, bool, error) {
	if delay <= 0 {
		return batch, false, nil
	}
	wait, cancel := context.WithTimeout(ctx, delay)
	defer cancel()
	// Read only with room for a whole group of events, so that a message and
	// the state change it made share their commit.
	for len(buf)-len(batch) >= hearth.MaxGroup {
		more, err := sub.Read(wait, buf[len(batch):])
		batch = buf[:len(batch)+len(more)]
		switch {
		case errors.Is(err, hearth.ErrClosed):
			return batch, true, nil
		case wait.Err() != nil && ctx.Err() == nil:
			return batch, false, nil // the delay is up
		case err != nil:
			return batch, false, err
		}
		if untilWaited && waitedFor(more) {
			break
		}
	}
	return batch, false, nil
}

// ackGather decides when a batch holding a QoS 1 message waits for the next
// ones. A commit somebody waits for writes a few KB of write-ahead log and
// syncs it however few messages it carries, so when many clients send QoS
// 1 at once, holding each batch a millisecond lets several share one: at
// 1,000 messages a second that takes a third off what the disk is given,
// for a millisecond more on each PUBACK. It is worth it only when they come
// fast (the previous such batch less than five delays ago: more than 200 a
// second) and from another client than the previous batch's: a lone client
// that waits for each PUBACK before its next message would only be slowed
// down.
type ackGather struct {
	last   time.Time // when the previous batch somebody waits for came
	client string    // whose message it was
}

// delay says how long the batch that came at now, with client's message,
// waits, when d is the ack delay.
func (a *ackGather) delay(now time.Time, client string, d time.Duration) time.Duration {
	busy := now.Sub(a.last) < 5*d && client != a.client
	a.last, a.client = now, client
	if !busy {
		return 0
	}
	return d
}

// waitingClient is the client of the last message in batch somebody waits
// for.
func waitingClient(batch []hearth.Event) string {
	for i := len(batch) - 1; i >= 0; i-- {
		if e := &batch[i]; e.QoS > 0 && e.Kind == hearth.KindMessage {
			return e.Client
		}
	}
	return ""
}

// waitedFor reports whether a publisher waits for one of the events to be
// on disk: a QoS 1 or 2 message.
func waitedFor(evs []hearth.Event) bool {
	for i := range evs {
		if evs[i].QoS > 0 && evs[i].Kind == hearth.KindMessage {
			return true
		}
	}
	return false
}

// commit writes batch in one transaction, with synchronous=FULL when
// somebody waits for one of its events (or the last sync is a second old)
// and NORMAL otherwise (syncmode.go).
// Once it is committed, the batch joins the tail (tail.go) and the device
// changes it implies wait for the next devices snapshot (snapshot.go): the
// transaction writes the events table alone, whose new rows go to the end
// of its b-tree, so a commit writes the pages its rows fill and little else.
func (s *Store) commit(ctx context.Context, w *batchWriter, batch []hearth.Event) error {
	if len(batch) == 0 {
		return nil
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer conn.Close()
	if err := s.sync.commitSet(ctx, conn, waitedFor(batch), time.Now()); err != nil {
		return err
	}
	defer s.sync.restore(conn)
	w.reset()
	// The rows go in below database/sql (insert.go); the connection stays
	// the one whose synchronous setting was just made.
	if err := conn.Raw(func(dc any) error { return s.insertEvents(ctx, dc, w, batch) }); err != nil {
		return err
	}
	s.batches.Add(1)
	s.tail.add(batch)
	s.snap.note(w.patches, len(batch), batch[len(batch)-1].Seq)
	s.snap.noteRetained(batch)
	return nil
}

// devicePatch is what one batch (or the batches since the last devices
// snapshot) changes on one device: only the last state and the last
// availability count.
type devicePatch struct {
	id      string
	state   []byte              // nil: unchanged
	avail   hearth.Availability // unknown: unchanged
	updated int64               // Unix nanoseconds of the last event that changed the device
	seq     uint64              // and its changeSeq
}

// batchWriter coalesces a batch's state and availability events per device,
// and holds the row of arguments the inserts reuse (insert.go). Its map and
// slices are reused from batch to batch.
type batchWriter struct {
	index   map[string]int
	patches []devicePatch
	row     eventRow
}

func newBatchWriter() *batchWriter {
	return &batchWriter{index: make(map[string]int)}
}

func (w *batchWriter) reset() {
	clear(w.index)
	clear(w.patches) // drop references to the last batch's payloads
	w.patches = w.patches[:0]
}

func (w *batchWriter) fold(e *hearth.Event) {
	state, avail, ok := deviceChange(*e)
	if !ok {
		return
	}
	i, seen := w.index[e.Device]
	if !seen {
		i = len(w.patches)
		w.index[e.Device] = i
		w.patches = append(w.patches, devicePatch{id: e.Device})
	}
	p := &w.patches[i]
	if state != nil {
		p.state = state
	}
	if avail != hearth.AvailabilityUnknown {
		p.avail = avail
	}
	p.updated, p.seq = unixNano(e.Time), changeSeq(e)
}

func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
