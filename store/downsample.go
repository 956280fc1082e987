package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// HistoryBucket is the width of the downsampled history that state events
// are folded into before retention deletes them: one row per device,
// attribute and hour. A chart of 300 points over 12 days or more has wider
// steps than this anyway; a shorter range that is older than the raw events
// shows hourly points.
const HistoryBucket = time.Hour

const bucketSeconds = int64(HistoryBucket / time.Second)

// queryer is what reads: the reader pool, or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// seriesBucket is one row of the history table.
type seriesBucket struct {
	device, attr string
	bucket       int64 // Unix seconds, a multiple of bucketSeconds
}

// bucketAgg summarises the values of one seriesBucket.
type bucketAgg struct {
	min, max, sum, last float64
	count               int64
}

func (a *bucketAgg) add(v float64) {
	if a.count == 0 || v < a.min {
		a.min = v
	}
	if a.count == 0 || v > a.max {
		a.max = v
	}
	a.sum += v
	a.count++
	a.last = v
}

// foldValuesSQL reads the numeric and boolean top-level attributes of the
// state events in a range of sequence numbers, in log order: the same
// values History reads with json_extract (true and false as 1 and 0). A
// payload that is not JSON is skipped rather than failing the fold. "+kind"
// keeps the scan on the primary key's range, which a chunk bounds.
const foldValuesSQL = `
	SELECT e.seq, e.time, e.device, j.key, j.value
	FROM events e, json_each(CASE WHEN json_valid(CAST(e.payload AS TEXT)) THEN CAST(e.payload AS TEXT) END) j
	WHERE e.seq > ? AND e.seq <= ? AND +e.kind = 'state' AND e.device <> ''
		AND typeof(j.key) = 'text' AND j.type IN ('integer', 'real', 'true', 'false')
	ORDER BY e.seq`

// upsertHistorySQL adds rows given as one JSON array of [device, attr,
// bucket, min, max, sum, count, last] arrays, in key order: one statement
// walks the table once, where a statement per row cost 50µs each. Numbers
// survive the trip through JSON exactly (Go writes the shortest text that
// reads back as the same float64, and SQLite reads it so). "WHERE true"
// tells the parser that ON CONFLICT is not a join's ON.
const upsertHistorySQL = `INSERT INTO history (device, attr, bucket, min, max, sum, count, last)
	SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7
	FROM json_each(?) WHERE true
	ON CONFLICT (device, attr, bucket) DO UPDATE SET
		min   = min(history.min, excluded.min),
		max   = max(history.max, excluded.max),
		sum   = history.sum + excluded.sum,
		count = history.count + excluded.count,
		last  = excluded.last`

// A fold takes the state events of a range of sequence numbers (from, to],
// from being history_seq, sums their values up per device, attribute and
// hour on a reader, and writes the sums in key order, about foldTxRows rows
// (whole attributes) a transaction: each transaction holds the writer
// briefly, and the page of each attribute's hours is written once for the
// whole range rather than once an hour. Until the last transaction sets
// history_seq to to, meta's history_fold names the range and the last row
// written; History reads an attribute written so far from the history
// table up to to, and the others up to history_seq (foldedFor). A fold cut
// short (a crash, the hub stopping) is finished first by the next pass,
// which sums the same events up again (nothing above history_seq is ever
// deleted) and writes only the attributes after that row: every value
// counts once.

const (
	// foldTxRows is how many history rows one transaction writes.
	foldTxRows = 250
	// foldMaxRows bounds the rows one fold sums up in memory (about 2 MB).
	foldMaxRows = 20000
)

// foldProgress is meta's history_fold: a fold of the range up to To
// written up to the row (Device, Attr, Bucket) in key order.
type foldProgress struct {
	To     int64  `json:"to"`
	Device string `json:"device"`
	Attr   string `json:"attr"`
	Bucket int64  `json:"bucket"`
}

func (p *foldProgress) key() seriesBucket {
	return seriesBucket{device: p.Device, attr: p.Attr, bucket: p.Bucket}
}

// foldedFor returns how far the state events are in the history table for
// one attribute of one device: history_seq, or the end of the fold in
// progress once that fold has written the attribute's rows (it writes
// attributes whole, in key order).
func foldedFor(ctx context.Context, q queryer, device, attr string) (int64, error) {
	seq, prog, err := readFoldState(ctx, q)
	if err != nil {
		return 0, err
	}
	if prog != nil && cmp.Or(strings.Compare(device, prog.Device), strings.Compare(attr, prog.Attr)) <= 0 {
		return prog.To, nil
	}
	return seq, nil
}

func sameSeries(x, y seriesBucket) bool { return x.device == y.device && x.attr == y.attr }

// readFoldState returns history_seq and the fold in progress, nil if none.
func readFoldState(ctx context.Context, q queryer) (int64, *foldProgress, error) {
	var (
		seq  int64
		prog sql.NullString
	)
	err := q.QueryRowContext(ctx, `SELECT
		coalesce((SELECT value FROM meta WHERE key = 'history_seq'), 0),
		(SELECT value FROM meta WHERE key = 'history_fold')`).Scan(&seq, &prog)
	if err != nil {
		return 0, nil, fmt.Errorf("history seq: %w", err)
	}
	if !prog.Valid {
		return seq, nil, nil
	}
	var fp foldProgress
	if err := json.Unmarshal([]byte(prog.String), &fp); err != nil {
		return 0, nil, fmt.Errorf("history fold in progress %q: %w", prog.String, err)
	}
	return seq, &fp, nil
}

func compareKeys(x, y seriesBucket) int {
	return cmp.Or(strings.Compare(x.device, y.device), strings.Compare(x.attr, y.attr), cmp.Compare(x.bucket, y.bucket))
}

// foldRow is one row a fold adds to the history table.
type foldRow struct {
	key seriesBucket
	agg bucketAgg
}

// foldBatch is what the state events of (from, to] add to the history
// table, in key order.
type foldBatch struct {
	from, to int64
	rows     []foldRow
}

// readFold sums up the values of the state events with sequence numbers
// in (from, to] per device, attribute and hour, on a reader. Past maxRows
// rows (0: no bound) it stops before the next event, and the batch ends
// there.
func readFold(ctx context.Context, q queryer, from, to int64, maxRows int) (*foldBatch, error) {
	rows, err := q.QueryContext(ctx, foldValuesSQL, from, to)
	if err != nil {
		return nil, fmt.Errorf("fold %d..%d: %w", from+1, to, err)
	}
	defer rows.Close()
	b := &foldBatch{from: from, to: to}
	aggs := map[seriesBucket]*bucketAgg{}
	var last int64
	for rows.Next() {
		var (
			seq, nano int64
			k         seriesBucket
			v         float64
		)
		if err := rows.Scan(&seq, &nano, &k.device, &k.attr, &v); err != nil {
			return nil, fmt.Errorf("fold %d..%d: %w", from+1, to, err)
		}
		if seq != last && maxRows > 0 && len(aggs) >= maxRows {
			b.to = seq - 1 // every event before this one is summed up
			break
		}
		last = seq
		if math.IsInf(v, 0) || math.IsNaN(v) {
			continue // a number too big for a float64 (1e999): JSON cannot carry it
		}
		k.bucket = floorDiv(nano, int64(time.Second)) / bucketSeconds * bucketSeconds
		a := aggs[k]
		if a == nil {
			a = &bucketAgg{}
			aggs[k] = a
		}
		a.add(v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fold %d..%d: %w", from+1, to, err)
	}
	b.rows = make([]foldRow, 0, len(aggs))
	for k, a := range aggs {
		b.rows = append(b.rows, foldRow{k, *a})
	}
	slices.SortFunc(b.rows, func(x, y foldRow) int { return compareKeys(x.key, y.key) })
	return b, nil
}

// writeStep writes, within tx, the next at most n rows of the batch after
// prog's row (all of them from the first when prog is nil), and records
// how far it got: history_fold, or history_seq once the last row is
// written. It checks that history_seq and history_fold are still what the
// batch was made from. It returns how many values the rows hold and
// whether the fold is done.
func (b *foldBatch) writeStep(ctx context.Context, tx *sql.Tx, prog *foldProgress, n int) (int, bool, error) {
	seq, cur, err := readFoldState(ctx, tx)
	if err != nil {
		return 0, false, err
	}
	if seq != b.from || (cur == nil) != (prog == nil) || (cur != nil && *cur != *prog) {
		return 0, false, fmt.Errorf("fold %d..%d: history_seq or history_fold moved meanwhile", b.from+1, b.to)
	}
	start := 0
	if prog != nil {
		start, _ = slices.BinarySearchFunc(b.rows, prog.key(), func(r foldRow, k seriesBucket) int {
			if compareKeys(r.key, k) <= 0 {
				return -1
			}
			return 1
		})
	}
	// Whole attributes only: History reads an attribute from the raw
	// events or from the history table by comparing it with history_fold,
	// so no attribute may be half written.
	end := min(len(b.rows), start+n)
	for end < len(b.rows) && end > start && sameSeries(b.rows[end].key, b.rows[end-1].key) {
		end++
	}
	part := b.rows[start:end]
	values := 0
	if len(part) > 0 {
		rows := make([][8]any, len(part))
		for i, r := range part {
			a := r.agg
			rows[i] = [8]any{r.key.device, r.key.attr, r.key.bucket, a.min, a.max, a.sum, a.count, a.last}
			values += int(a.count)
		}
		text, err := json.Marshal(rows)
		if err != nil {
			return 0, false, fmt.Errorf("fold: %w", err)
		}
		if _, err := tx.ExecContext(ctx, upsertHistorySQL, string(text)); err != nil {
			return 0, false, fmt.Errorf("fold into history: %w", err)
		}
	}
	if start+len(part) == len(b.rows) {
		_, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('history_seq', ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, b.to)
		if err == nil {
			_, err = tx.ExecContext(ctx, `DELETE FROM meta WHERE key = 'history_fold'`)
		}
		if err != nil {
			return 0, false, fmt.Errorf("fold: set history_seq: %w", err)
		}
		return values, true, nil
	}
	k := part[len(part)-1].key
	next, err := json.Marshal(foldProgress{To: b.to, Device: k.device, Attr: k.attr, Bucket: k.bucket})
	if err != nil {
		return 0, false, fmt.Errorf("fold: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('history_fold', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, string(next)); err != nil {
		return 0, false, fmt.Errorf("fold: set history_fold: %w", err)
	}
	return values, false, nil
}

// floorDiv divides rounding down, so times before 1970 fall in the right hour.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// ceilDiv divides rounding up.
func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// downsampledPoints adds to acc the history rows of one attribute whose
// hour starts in [from, to) (Unix nanoseconds), each in the query bucket
// of width step its start falls in. An hour that straddles a bucket edge
// counts wholly in the bucket where it starts.
func downsampledPoints(ctx context.Context, tx *sql.Tx, device, attr string, from, to, step int64, acc map[int64]*bucketAgg) error {
	rows, err := tx.QueryContext(ctx, `SELECT bucket, min, max, sum, count FROM history
		WHERE device = ? AND attr = ? AND bucket >= ? AND bucket < ? ORDER BY bucket`,
		device, attr, ceilDiv(from, int64(time.Second)), ceilDiv(to, int64(time.Second)))
	if err != nil {
		return fmt.Errorf("downsampled history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			bucket int64
			b      bucketAgg
		)
		if err := rows.Scan(&bucket, &b.min, &b.max, &b.sum, &b.count); err != nil {
			return fmt.Errorf("downsampled history: %w", err)
		}
		merge(acc, (bucket*int64(time.Second)-from)/step, b)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("downsampled history: %w", err)
	}
	return nil
}

// downsampledBefore returns the newest value of an attribute in the history
// rows whose hour starts before t (Unix nanoseconds): what a chart starting
// at t carries in when the raw events before it are gone.
func downsampledBefore(ctx context.Context, tx *sql.Tx, device, attr string, t int64) (float64, bool, error) {
	var v float64
	err := tx.QueryRowContext(ctx, `SELECT last FROM history
		WHERE device = ? AND attr = ? AND bucket < ? ORDER BY bucket DESC LIMIT 1`,
		device, attr, ceilDiv(t, int64(time.Second))).Scan(&v)
	switch {
	case err == sql.ErrNoRows:
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("downsampled value before the range: %w", err)
	}
	return v, true, nil
}

// merge adds b to the query bucket i of acc.
func merge(acc map[int64]*bucketAgg, i int64, b bucketAgg) {
	a := acc[i]
	if a == nil {
		acc[i] = &b
		return
	}
	a.min = min(a.min, b.min)
	a.max = max(a.max, b.max)
	a.sum += b.sum
	a.count += b.count
}

// series is one device's attribute in the history table.
type series struct{ device, attr string }

// eachSeries calls f with every series of the history table, seeking from
// one to the next along the primary key rather than reading every row.
func (p *pass) eachSeries(ctx context.Context, f func(series) error) error {
	var cur series
	first := true
	for {
		var next series
		var err error
		if first {
			err = p.s.r.QueryRowContext(ctx, `SELECT device, attr FROM history ORDER BY device, attr LIMIT 1`).Scan(&next.device, &next.attr)
			first = false
		} else {
			err = p.s.r.QueryRowContext(ctx, `SELECT device, attr FROM history
				WHERE (device, attr) > (?, ?) ORDER BY device, attr LIMIT 1`, cur.device, cur.attr).Scan(&next.device, &next.attr)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("history series: %w", err)
		}
		if err := f(next); err != nil {
			return err
		}
		cur = next
	}
}

// historyRowsPerTx bounds the history rows one transaction deletes.
const historyRowsPerTx = 1000

// deleteHistoryBefore deletes the history rows whose hour starts before
// cutoff (Unix seconds), series by series along the primary key, at most
// historyRowsPerTx a transaction.
func (p *pass) deleteHistoryBefore(ctx context.Context, cutoff int64) (int, error) {
	var all []series
	if err := p.eachSeries(ctx, func(s series) error { all = append(all, s); return nil }); err != nil {
		return 0, err
	}
	deleted := 0
	for len(all) > 0 {
		err := p.writeTx(ctx, func(tx *sql.Tx) error {
			for rows := int64(0); len(all) > 0 && rows < historyRowsPerTx; {
				s := all[0]
				res, err := tx.ExecContext(ctx, `DELETE FROM history WHERE (device, attr, bucket) IN (
					SELECT device, attr, bucket FROM history WHERE device = ? AND attr = ? AND bucket < ?
					ORDER BY bucket LIMIT ?)`, s.device, s.attr, cutoff, historyRowsPerTx)
				if err != nil {
					return fmt.Errorf("delete history of %s.%s: %w", s.device, s.attr, err)
				}
				n, err := res.RowsAffected()
				if err != nil {
					return err
				}
				rows += n
				deleted += int(n)
				if n < historyRowsPerTx {
					all = all[1:]
				}
			}
			return nil
		})
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// deleteOldestHistory deletes the oldest day of history across all series.
// It reports whether history rows remain.
func (p *pass) deleteOldestHistory(ctx context.Context) (int, bool, error) {
	oldest := int64(-1)
	err := p.eachSeries(ctx, func(s series) error {
		var b int64
		if err := p.s.r.QueryRowContext(ctx, `SELECT min(bucket) FROM history WHERE device = ? AND attr = ?`, s.device, s.attr).Scan(&b); err != nil {
			return fmt.Errorf("oldest history of %s.%s: %w", s.device, s.attr, err)
		}
		if oldest < 0 || b < oldest {
			oldest = b
		}
		return nil
	})
	if err != nil || oldest < 0 {
		return 0, false, err
	}
	n, err := p.deleteHistoryBefore(ctx, oldest+int64(24*time.Hour/time.Second))
	return n, true, err
}
