package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"hearth"
)

// The devices table is a snapshot of the device read model, written with
// meta's state_seq (the last event it reflects) every snapshotEvery events
// or snapshotInterval, and when Run stops; start-up loads it and folds the
// log after state_seq (cmd/hub's restore). It used to be written in every
// group commit: with a thousand devices that rewrote most of the table's
// pages each time, and meta's page, for a table nothing reads while the hub
// runs (the page reads the registry in memory).
//
// snapshotEvery bounds what start-up replays after a crash (16,384 events
// take a few tens of milliseconds); snapshotInterval keeps the table fresh
// in a quiet house, for tools that read it (hub check) and for retention,
// which keeps every event the table does not reflect yet.
const (
	defaultSnapshotEvery    = 16_384
	defaultSnapshotInterval = 5 * time.Minute
)

// deviceSnapshot holds the device changes committed since the devices table
// was last written. It belongs to Run's goroutine.
type deviceSnapshot struct {
	every    int
	interval time.Duration

	pending map[string]devicePatch
	// retained is, for each topic a publish retained (or cleared) on since
	// the last snapshot, the event that holds it; 0 for cleared.
	retained map[string]uint64
	events   int       // events committed since the last snapshot
	seq      uint64    // the last event committed
	last     time.Time // when the last snapshot was written
}

// note records what a batch that was just committed changed.
func (d *deviceSnapshot) note(patches []devicePatch, events int, last uint64) {
	if d.pending == nil {
		d.pending = map[string]devicePatch{}
	}
	for _, p := range patches {
		q, ok := d.pending[p.id]
		if !ok {
			q.id = p.id
		}
		if p.state != nil {
			q.state = p.state
		}
		if p.avail != hearth.AvailabilityUnknown {
			q.avail = p.avail
		}
		q.updated, q.seq = p.updated, p.seq
		d.pending[p.id] = q
	}
	d.events += events
	d.seq = last
}

// noteRetained records the retained publishes of a batch that was just
// committed: an empty payload clears the topic's retained message.
func (d *deviceSnapshot) noteRetained(batch []hearth.Event) {
	for i := range batch {
		e := &batch[i]
		if !retainedPublish(e.Kind, e.Retain, e.Topic) {
			continue
		}
		if d.retained == nil {
			d.retained = map[string]uint64{}
		}
		seq := e.Seq
		if len(e.Payload) == 0 {
			seq = 0
		}
		if _, ok := d.retained[e.Topic]; !ok {
			d.retained[strings.Clone(e.Topic)] = seq
		} else {
			d.retained[e.Topic] = seq
		}
	}
}

// retainedWhere picks, in SQL, the publishes retainedPublish says the
// broker retains; its two arguments are the kinds message and command.
const retainedWhere = `retain = 1 AND +kind IN (?, ?) AND topic <> '' AND topic NOT LIKE '$%'`

// retainedPublish reports whether an event is a publish the broker retains
// (a client's message or the hub's command, retain set); $ topics are the
// broker's own.
func retainedPublish(kind hearth.Kind, retain bool, topic string) bool {
	return retain && (kind == hearth.KindMessage || kind == hearth.KindCommand) && topic != "" && !strings.HasPrefix(topic, "$")
}

// load takes in the device changes of the events the devices table does
// not reflect: after a crash, those committed since its last snapshot
// (at most about snapshotEvery), which the next snapshot must include.
func (d *deviceSnapshot) load(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("devices since the snapshot: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	var stateSeq, last int64
	err = tx.QueryRowContext(ctx, `SELECT coalesce((SELECT value FROM meta WHERE key = 'state_seq'), 0), coalesce(max(seq), 0) FROM events`).Scan(&stateSeq, &last)
	if err != nil {
		return fmt.Errorf("devices since the snapshot: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, time, kind, device, payload, cause_seq FROM events
		WHERE seq > ? AND +kind IN (?, ?) AND device <> '' ORDER BY seq`,
		stateSeq, string(hearth.KindState), string(hearth.KindAvailability))
	if err != nil {
		return fmt.Errorf("devices since the snapshot: %w", err)
	}
	defer rows.Close()
	w := newBatchWriter()
	n := 0
	for rows.Next() {
		var (
			e              hearth.Event
			seq, nano, cse int64
			kind           string
		)
		if err := rows.Scan(&seq, &nano, &kind, &e.Device, &e.Payload, &cse); err != nil {
			return fmt.Errorf("devices since the snapshot: %w", err)
		}
		e.Seq, e.Time, e.Kind, e.Cause.Seq = uint64(seq), fromUnixNano(nano), hearth.Kind(kind), uint64(cse)
		w.fold(&e)
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("devices since the snapshot: %w", err)
	}
	if last > stateSeq {
		d.note(w.patches, max(n, 1), uint64(last))
	}
	retained, err := retainedSince(ctx, tx, stateSeq)
	if err != nil {
		return err
	}
	d.noteRetained(retained)
	return nil
}

// retainedSince reads the retained publishes logged after seq, without
// their payloads beyond whether they had one.
func retainedSince(ctx context.Context, tx *sql.Tx, seq int64) ([]hearth.Event, error) {
	rows, err := tx.QueryContext(ctx, `SELECT seq, kind, topic, length(payload) > 0 FROM events
		WHERE seq > ? AND `+retainedWhere+` ORDER BY seq`,
		seq, string(hearth.KindMessage), string(hearth.KindCommand))
	if err != nil {
		return nil, fmt.Errorf("retained since the snapshot: %w", err)
	}
	defer rows.Close()
	var out []hearth.Event
	for rows.Next() {
		var (
			e          hearth.Event
			s          int64
			kind       string
			hasPayload bool
		)
		if err := rows.Scan(&s, &kind, &e.Topic, &hasPayload); err != nil {
			return nil, fmt.Errorf("retained since the snapshot: %w", err)
		}
		e.Seq, e.Kind, e.Retain = uint64(s), hearth.Kind(kind), true
		if hasPayload {
			e.Payload = []byte{1} // only its length counts here
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// due reports whether the devices table should be written now.
func (d *deviceSnapshot) due(now time.Time) bool {
	if d.events == 0 {
		return false
	}
	if d.last.IsZero() {
		d.last = now // the interval counts from the first commit
	}
	return d.events >= d.every || now.Sub(d.last) >= d.interval
}

// snapshotDevices writes the device changes committed since the last
// snapshot, and state_seq, in one transaction.
func (s *Store) snapshotDevices(ctx context.Context) error {
	d := &s.snap
	if d.events == 0 {
		return nil
	}
	err := s.derivedTx(ctx, func(tx *sql.Tx) error {
		up := tx.StmtContext(ctx, s.upsertDevice)
		for _, p := range d.pending {
			var avail any
			if p.avail != hearth.AvailabilityUnknown {
				avail = string(p.avail)
			}
			if _, err := up.ExecContext(ctx, p.id, blob(p.state), avail, p.updated, int64(p.seq)); err != nil {
				return fmt.Errorf("upsert device %q: %w", p.id, err)
			}
		}
		for topic, seq := range d.retained {
			var err error
			if seq == 0 {
				_, err = tx.ExecContext(ctx, `DELETE FROM retained WHERE topic = ?`, topic)
			} else {
				_, err = tx.ExecContext(ctx, `INSERT INTO retained (topic, seq) VALUES (?, ?)
					ON CONFLICT (topic) DO UPDATE SET seq = excluded.seq`, topic, int64(seq))
			}
			if err != nil {
				return fmt.Errorf("retained message of %q: %w", topic, err)
			}
		}
		if _, err := tx.StmtContext(ctx, s.setStateSeq).ExecContext(ctx, int64(d.seq)); err != nil {
			return fmt.Errorf("set state_seq: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("snapshot devices at %d: %w", d.seq, err)
	}
	clear(d.pending)
	clear(d.retained)
	d.events, d.last = 0, time.Now()
	return nil
}

// maintain runs after a group commit has been reported durable: it writes
// the devices snapshot when it is due, and one step of indexing the log.
// Both can wait for the disk without holding anybody up, and neither is
// needed for the log to be complete, so a failure is logged and tried
// again after the next commit.
func (s *Store) maintain(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	if s.snap.due(time.Now()) {
		if err := s.snapshotDevices(ctx); err != nil {
			s.log.Warn("device snapshot failed; trying again after the next commit", "err", err)
		}
	}
	if _, err := s.indexStep(ctx, false); err != nil {
		s.log.Warn("indexing the log failed; trying again after the next commit", "err", err)
	}
}

// finishIndexing bounds the indexing Run does when it stops: what it does
// not finish in time, the next start reads back into the tail instead
// (BenchmarkOpenWithAFullTail). A full tail takes about a second to index.
const finishIndexing = 3 * time.Second

// finishRun writes what the devices table does not reflect yet, so that the
// next start replays nothing, and indexes the tail for up to
// finishIndexing, so that it reads little back. Run calls it when it
// returns.
func (s *Store) finishRun(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	if err := s.snapshotDevices(ctx); err != nil {
		s.log.Warn("device snapshot at shutdown failed; the next start replays the log instead", "err", err)
	}
	for deadline := time.Now().Add(finishIndexing); time.Now().Before(deadline); {
		wrote, err := s.indexStep(ctx, true)
		if err != nil {
			s.log.Warn("indexing the log at shutdown failed; the next start reads the tail back instead", "err", err)
			return
		}
		if !wrote {
			return
		}
	}
}

// Retained returns the retained message of every topic, as the embedded
// broker held them when the last event was logged: the newest retained
// publish of each topic, unless an empty one cleared it. cmd/hub hands
// them to the broker before it takes clients, so that what devices and
// scripts retained outlives a restart. The retained table gives them up to
// state_seq, the log after it; one read transaction holds both.
func (s *Store) Retained(ctx context.Context) ([]hearth.Event, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("retained messages: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	var stateSeq int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce((SELECT value FROM meta WHERE key = 'state_seq'), 0)`).Scan(&stateSeq); err != nil {
		return nil, fmt.Errorf("retained messages: %w", err)
	}
	held, err := s.queryEventsOn(ctx, tx, `SELECT `+columnsOf("e.")+` FROM retained AS r CROSS JOIN events AS e ON e.seq = r.seq`, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("retained messages: %w", err)
	}
	since, err := s.queryEventsOn(ctx, tx, `SELECT `+eventColumns+` FROM events
		WHERE seq > ? AND `+retainedWhere+` ORDER BY seq`,
		[]any{stateSeq, string(hearth.KindMessage), string(hearth.KindCommand)}, nil)
	if err != nil {
		return nil, fmt.Errorf("retained messages: %w", err)
	}
	byTopic := make(map[string]hearth.Event, len(held))
	for _, e := range append(held, since...) {
		if !retainedPublish(e.Kind, e.Retain, e.Topic) {
			continue
		}
		if len(e.Payload) == 0 {
			delete(byTopic, e.Topic)
		} else {
			byTopic[e.Topic] = e
		}
	}
	out := slices.Collect(maps.Values(byTopic))
	slices.SortFunc(out, func(a, b hearth.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}
