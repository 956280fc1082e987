package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"hearth"
)

// MaxHistoryPoints bounds the buckets of one History query; a query whose
// step would make more is refused.
const MaxHistoryPoints = 5000

// History summarises one attribute of a device over [q.From, q.To) in
// buckets of q.Step, from the state events of the log: a week of a busy
// sensor in 30-minute steps is 336 points whatever its rate. Numbers count
// as they are, booleans as 1 and 0; other values (and events without the
// attribute) are left out. Buckets with no values are absent: a value holds
// until the next state event changes it. When the attribute had a value
// before From, the first point carries it: Time is From and Count is 0.
//
// Events that retention folded into the hourly history table before
// deleting them (downsample.go) count through their hours: an hour counts
// in the bucket its start falls in, so a step that is a whole number of
// hours from a whole hour gives the same points as the raw events did. Raw
// events are read only past history_seq, so an event folded but not yet
// deleted counts once.
//
// The log has no index on time. Its times rise with its sequence numbers
// (the bus stamps them in order), so the range is first turned into a range
// of sequence numbers by binary search over the primary key, and the
// device's index then serves the scan; a clock stepped back while the hub
// ran can make a few events near the edges fall out.
func (s *Store) History(ctx context.Context, q hearth.HistoryQuery) ([]hearth.HistoryPoint, error) {
	if err := checkHistory(q); err != nil {
		return nil, fmt.Errorf("history of %s.%s: %w", q.Device, q.Attr, err)
	}
	from, to, step := q.From.UnixNano(), q.To.UnixNano(), q.Step.Nanoseconds()

	// One read transaction: the seq bounds, history_seq and the scans see
	// the same log.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	folded, err := foldedFor(ctx, tx, q.Device, q.Attr)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	lo, err := seqAtTime(ctx, tx, from)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	hi, err := seqAtTime(ctx, tx, to)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	lo = max(lo, folded+1)
	out := []hearth.HistoryPoint{}
	// The value in effect at From: that of the device's last state event
	// before the range, or when the raw events before it are gone, the
	// last value folded before it. Sensors that report only on change would
	// otherwise chart nothing until their next change.
	var before sql.NullFloat64
	states := Query{Device: q.Device, Kind: hearth.KindState}
	last, err := s.matchingSeqs(ctx, tx, match{by: "device", q: states, lo: uint64(folded + 1), hi: uint64(max(lo, 1)), newest: true})
	if err != nil {
		return nil, fmt.Errorf("history: value before the range: %w", err)
	}
	err = sql.ErrNoRows
	if len(last) > 0 {
		err = tx.QueryRowContext(ctx, `SELECT CASE WHEN typeof(v) IN ('integer', 'real') THEN v END FROM (
			SELECT json_extract(CAST(payload AS TEXT), ?) AS v FROM events WHERE seq = ?)`,
			jsonPath(q.Attr), int64(last[0])).Scan(&before)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		before.Float64, before.Valid, err = downsampledBefore(ctx, tx, q.Device, q.Attr, from)
		if err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("history: value before the range: %w", err)
	}
	if before.Valid {
		out = append(out, hearth.HistoryPoint{Time: q.From, Min: before.Float64, Avg: before.Float64, Max: before.Float64})
	}
	acc := map[int64]*bucketAgg{}
	if err := downsampledPoints(ctx, tx, q.Device, q.Attr, from, to, step, acc); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	if lo < hi {
		// The device's state events in the range, from its index.
		seqs, err := s.matchingSeqs(ctx, tx, match{by: "device", q: states, lo: uint64(lo), hi: uint64(hi)})
		if err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		if err := rawPoints(ctx, tx, q, seqsJSON(seqs), acc); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
	}
	buckets := make([]int64, 0, len(acc))
	for i := range acc {
		buckets = append(buckets, i)
	}
	slices.Sort(buckets)
	for _, i := range buckets {
		a := acc[i]
		out = append(out, hearth.HistoryPoint{
			Time: time.Unix(0, from+i*step),
			Min:  a.min, Avg: a.sum / float64(a.count), Max: a.max, Count: int(a.count),
		})
	}
	return out, nil
}

// rawPoints adds to acc the values of the state events whose sequence
// numbers seqs lists (a JSON array), per bucket of q.Step from q.From.
func rawPoints(ctx context.Context, tx *sql.Tx, q hearth.HistoryQuery, seqs string, acc map[int64]*bucketAgg) error {
	from, to, step := q.From.UnixNano(), q.To.UnixNano(), q.Step.Nanoseconds()
	// The payload is stored as a BLOB, which SQLite's JSON functions would
	// read as JSONB: cast it to text. A number or boolean comes back as an
	// integer or a real (booleans as 1 and 0), anything else is dropped.
	// total() rather than sum(): a float, which never overflows.
	rows, err := tx.QueryContext(ctx, `
		SELECT (time - ?1) / ?2 AS bucket, min(v), max(v), total(v), count(*)
		FROM (
			SELECT time, json_extract(CAST(payload AS TEXT), ?3) AS v
			FROM events
			WHERE seq IN (SELECT value FROM json_each(?4)) AND +kind = 'state'
				AND time >= ?1 AND time < ?5
			LIMIT -1 -- keeps the subquery from being flattened into the
			         -- aggregate, which would extract the value four times
		)
		WHERE typeof(v) IN ('integer', 'real')
		GROUP BY bucket ORDER BY bucket`,
		from, step, jsonPath(q.Attr), seqs, to)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			bucket int64
			b      bucketAgg
		)
		if err := rows.Scan(&bucket, &b.min, &b.max, &b.sum, &b.count); err != nil {
			return err
		}
		merge(acc, bucket, b)
	}
	return rows.Err()
}

// checkHistory refuses a query that cannot be answered well.
func checkHistory(q hearth.HistoryQuery) error {
	switch {
	case q.Device == "" || q.Attr == "":
		return errors.New("device and attribute are required")
	case strings.ContainsAny(q.Attr, "\"\\"):
		return errors.New("the attribute name may not contain quotes or backslashes")
	case !q.From.Before(q.To):
		return errors.New("from must be before to")
	case q.Step <= 0:
		return errors.New("step must be positive")
	case q.To.Sub(q.From)/q.Step > MaxHistoryPoints:
		return fmt.Errorf("step %s makes more than %d points", q.Step, MaxHistoryPoints)
	}
	return nil
}

// jsonPath is the JSON path of a top-level attribute, quoted so that names
// with dots or brackets are read as one key.
func jsonPath(attr string) string { return `$."` + attr + `"` }

// seqAtTime returns the smallest sequence number whose event has a time at
// or after t (Unix nanoseconds), or the log's last + 1 when there is none.
// It binary-searches the primary key: about 2·log2(n) point lookups.
func seqAtTime(ctx context.Context, tx *sql.Tx, t int64) (int64, error) {
	var first, last sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT min(seq), max(seq) FROM events`).Scan(&first, &last); err != nil {
		return 0, fmt.Errorf("seq at time: %w", err)
	}
	if !first.Valid {
		return 1, nil
	}
	// Invariant: every event below lo is before t; hi is at or after t, or
	// past the end. Sequence numbers may have holes (retention), so each
	// probe reads the first event at or after mid.
	lo, hi := first.Int64, last.Int64+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		var seq, at int64
		err := tx.QueryRowContext(ctx, `SELECT seq, time FROM events WHERE seq >= ? ORDER BY seq LIMIT 1`, mid).Scan(&seq, &at)
		if err != nil {
			return 0, fmt.Errorf("seq at time: %w", err)
		}
		if at < t {
			lo = seq + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}
