package store

import (
	"context"
	"database/sql/driver"
	"fmt"

	"hearth"
)

// A group commit inserts its events through the SQLite driver itself, below
// database/sql (sql.Conn.Raw). For every Exec database/sql makes a new slice
// of the arguments and checks each one; at 13 columns that was about 600
// bytes of garbage per event, half of all the write path made, and the
// hub's garbage collector pays for garbage in the latency of every sensor
// event. Here one row's arguments live in an array reused from row to row,
// already of the types the driver takes (int64, string, []byte, nil), so
// nothing converts them (BenchmarkCommit: 1,140 → 480 bytes allocated per
// log event; what is left is mostly the driver's own, for binding).
//
// The transaction is the one database/sql would run on the same
// connection: BEGIN IMMEDIATE (the writer's _txlock), the inserts, COMMIT,
// or ROLLBACK when anything fails. Errors are the driver's own, wrapped as
// before, so diskTrouble still recognises a full or read-only disk.

const insertEventSQL = `INSERT INTO events
	(seq, time, kind, topic, device, client, payload, prev, qos, retain, cause_seq, cause_run, cause_source)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// eventRow is one row of insertEventSQL's arguments.
type eventRow [13]driver.NamedValue

// set makes r the row of e, whose payload as stored is payload. A string
// the previous row had in the same column (a state change's topic and
// device after its message's, a run's cause after its command's) keeps the
// previous row's copy: putting a string in an argument allocates.
func (r *eventRow) set(e *hearth.Event, payload []byte) {
	r[0].Value = int64(e.Seq)
	r[1].Value = unixNano(e.Time)
	r.text(2, string(e.Kind))
	r.text(3, e.Topic)
	r.text(4, e.Device)
	r.text(5, e.Client)
	r[6].Value = blob(payload)
	r[7].Value = blob(e.Prev)
	r[8].Value = int64(e.QoS)
	r[9].Value = boolInt(e.Retain)
	r[10].Value = int64(e.Cause.Seq)
	r.text(11, e.Cause.Run)
	r.text(12, e.Cause.Source)
	for i := range r {
		r[i].Ordinal = i + 1
	}
}

func (r *eventRow) text(i int, s string) {
	if old, ok := r[i].Value.(string); !ok || old != s {
		r[i].Value = s
	}
}

// clear drops the references to the last row's strings and payloads.
func (r *eventRow) clear() { *r = eventRow{} }

// insertEvents writes batch to the events table in one transaction on dc,
// the writer's driver connection, and folds each event into w.
func (s *Store) insertEvents(ctx context.Context, dc any, w *batchWriter, batch []hearth.Event) error {
	conn, ok := dc.(interface {
		driver.ConnPrepareContext
		driver.ConnBeginTx
	})
	if !ok {
		return fmt.Errorf("the SQLite driver's connection (%T) cannot prepare or begin", dc)
	}
	// Prepared for each batch: it takes a few microseconds, and the
	// statement never outlives the connection database/sql may replace.
	st, err := conn.PrepareContext(ctx, insertEventSQL)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	defer st.Close() //nolint:errcheck // it has run; what it did is known
	ins, ok := st.(driver.StmtExecContext)
	if !ok {
		return fmt.Errorf("the SQLite driver's statement (%T) cannot execute with a context", st)
	}
	tx, err := conn.BeginTx(ctx, driver.TxOptions{})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	done := false // COMMIT ran (it rolls back what it fails to commit)
	defer func() {
		if !done {
			_ = tx.Rollback() //nolint:errcheck // the error that got here says more
		}
	}()
	row := &w.row
	defer row.clear()
	for i := range batch {
		e := &batch[i]
		payload, err := s.deflate.payload(e)
		if err != nil {
			return fmt.Errorf("event %d: %w", e.Seq, err)
		}
		row.set(e, payload)
		if _, err := ins.ExecContext(ctx, row[:]); err != nil {
			return fmt.Errorf("insert event %d: %w", e.Seq, err)
		}
		w.fold(e)
	}
	done = true
	if err := tx.Commit(); err != nil {
		// modernc's driver rolls a failed COMMIT back itself; should
		// another not, the writer must not stay inside the transaction,
		// where every later BEGIN would fail.
		_ = tx.Rollback() //nolint:errcheck // a no-op when it was rolled back
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
