package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"hearth"
)

// Queries by device, topic or kind read the log in three parts, newest
// first, each a range of sequence numbers the others do not cover:
//
//   - above the tail's end: events committed after the tail was read (a
//     batch between its commit and its joining the tail, or events another
//     process appended to a file this store only reads), scanned;
//   - the tail (base, end], from the index in memory (tail.go);
//   - up to base, from the index tables (bulkindex.go).
//
// The index tables' part joins the events table, so an entry whose event
// retention deleted is skipped.

// indexedColumn picks the index table that serves q: the device's, else
// the topic's, else the kind's. Both a device and a topic narrow a query to
// a few events in a thousand; a kind can hold half the log.
func indexedColumn(q Query) (col, key string) {
	switch {
	case q.Device != "":
		return "device", q.Device
	case q.Topic != "":
		return "topic", q.Topic
	}
	return "kind", string(q.Kind)
}

// filterTerms returns the WHERE terms (on columns prefixed with alias) and
// arguments of q's filters, leaving out skip, the column an index serves.
func filterTerms(alias string, q Query, skip string) ([]string, []any) {
	var (
		terms []string
		args  []any
	)
	for _, f := range []struct{ col, val string }{
		{"device", q.Device}, {"topic", q.Topic}, {"kind", string(q.Kind)},
	} {
		if f.val != "" && f.col != skip {
			terms = append(terms, alias+f.col+" = ?")
			args = append(args, f.val)
		}
	}
	return terms, args
}

// columnsOf is eventColumns with every column prefixed by alias ("e.").
func columnsOf(alias string) string {
	return alias + strings.ReplaceAll(eventColumns, ", ", ", "+alias)
}

// indexedQuery builds the SQL of the index tables' part of Events: the
// newest n events matching q at or below base. CROSS JOIN keeps the index
// table as the outer loop, so the rows come in its (key, seq) order and the
// LIMIT stops the walk (see TestEventsQueryPlans).
func indexedQuery(q Query, base uint64, n int) (string, []any) {
	col, key := indexedColumn(q)
	terms := []string{"i." + col + " = ?", "i.seq <= ?"}
	args := []any{key, int64(base)}
	if q.Before > 0 {
		terms = append(terms, "i.seq < ?")
		args = append(args, int64(q.Before))
	}
	more, moreArgs := filterTerms("e.", q, col)
	terms = append(terms, more...)
	args = append(args, moreArgs...)
	args = append(args, n)
	return `SELECT ` + columnsOf("e.") + ` FROM events_by_` + col + ` AS i CROSS JOIN events AS e ON e.seq = i.seq
		WHERE ` + strings.Join(terms, " AND ") + `
		ORDER BY i.seq DESC LIMIT ?`, args
}

// filteredEvents returns the newest events matching q, which filters by a
// device, topic or kind, in the three parts above.
func (s *Store) filteredEvents(ctx context.Context, q Query) ([]hearth.Event, error) {
	if err := s.tail.load(ctx, s.r); err != nil {
		return nil, err
	}
	lim := limit(q.Limit)
	v := s.tail.find(tailFilter{device: q.Device, topic: q.Topic, kind: string(q.Kind)}, 0, q.Before, lim)

	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read only

	// Above the tail: usually nothing, found by one step of the primary key.
	terms, args := filterTerms("", q, "")
	terms = append(terms, "seq > ?")
	args = append(args, int64(v.end))
	if q.Before > 0 {
		terms = append(terms, "seq < ?")
		args = append(args, int64(q.Before))
	}
	out, err := s.queryEventsOn(ctx, tx, `SELECT `+eventColumns+` FROM events WHERE `+strings.Join(terms, " AND ")+`
		ORDER BY seq DESC LIMIT ?`, append(args, lim), []hearth.Event{})
	if err != nil {
		return nil, err
	}
	if n := lim - len(out); n > 0 && len(v.seqs) > 0 {
		out, err = s.queryEventsOn(ctx, tx, `SELECT `+eventColumns+` FROM events
			WHERE seq IN (SELECT value FROM json_each(?)) ORDER BY seq DESC`,
			[]any{seqsJSON(v.seqs[:min(n, len(v.seqs))])}, out)
		if err != nil {
			return nil, err
		}
	}
	if n := lim - len(out); n > 0 && v.base > 0 {
		query, args := indexedQuery(q, v.base, n)
		if out, err = s.queryEventsOn(ctx, tx, query, args, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// seqsJSON writes sequence numbers as a JSON array, for json_each.
func seqsJSON(seqs []uint64) string {
	b := make([]byte, 0, 2+len(seqs)*8)
	b = append(b, '[')
	for i, s := range seqs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, s, 10)
	}
	return string(append(b, ']'))
}

// queryEventsOn runs an event query on q (the read pool or a transaction)
// and appends its rows to out.
func (s *Store) queryEventsOn(ctx context.Context, q queryer, query string, args []any, out []hearth.Event) ([]hearth.Event, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		e, err := s.scanEvent(rows)
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// match selects events for matchingSeqs: those whose column by (device,
// topic or kind) is the filter's value for it, that also pass q's other
// filters, with sequence numbers in [lo, hi) (hi 0: no bound).
type match struct {
	by     string
	q      Query // Device, Topic and Kind; the one of by must be set
	lo, hi uint64
	newest bool // only the newest matching event
}

// matchingSeqs returns the sequence numbers of the events m selects, in
// log order, from the index tables, the tail and above the tail, through
// q (the read pool or a read transaction).
func (s *Store) matchingSeqs(ctx context.Context, q queryer, m match) ([]uint64, error) {
	if err := s.tail.load(ctx, s.r); err != nil {
		return nil, err
	}
	lim := 0
	if m.newest {
		lim = 1
	}
	v := s.tail.find(tailFilter{device: m.q.Device, topic: m.q.Topic, kind: string(m.q.Kind)}, m.lo, m.hi, lim)
	limitSQL := ""
	if m.newest {
		limitSQL = " LIMIT 1"
	}
	bounds := func(col string, terms []string, args []any, lo uint64) ([]string, []any) {
		terms = append(terms, col+" >= ?")
		args = append(args, int64(lo))
		if m.hi > 0 {
			terms = append(terms, col+" < ?")
			args = append(args, int64(m.hi))
		}
		return terms, args
	}

	// Above the tail.
	terms, args := filterTerms("", m.q, "")
	terms, args = bounds("seq", terms, args, max(m.lo, v.end+1))
	above, err := querySeqs(ctx, q, `SELECT seq FROM events WHERE `+strings.Join(terms, " AND ")+` ORDER BY seq DESC`+limitSQL, args)
	if err != nil {
		return nil, err
	}
	if m.newest && len(above) > 0 {
		return above, nil
	}
	if m.newest && len(v.seqs) > 0 {
		return v.seqs, nil
	}

	// The index tables, up to base.
	var indexed []uint64
	if v.base > 0 && m.lo <= v.base {
		key := map[string]string{"device": m.q.Device, "topic": m.q.Topic, "kind": string(m.q.Kind)}[m.by]
		terms, args := []string{"i." + m.by + " = ?", "i.seq <= ?"}, []any{key, int64(v.base)}
		terms, args = bounds("i.seq", terms, args, m.lo)
		more, moreArgs := filterTerms("e.", m.q, m.by)
		terms, args = append(terms, more...), append(args, moreArgs...)
		indexed, err = querySeqs(ctx, q, `SELECT i.seq FROM events_by_`+m.by+` AS i CROSS JOIN events AS e ON e.seq = i.seq
			WHERE `+strings.Join(terms, " AND ")+` ORDER BY i.seq DESC`+limitSQL, args)
		if err != nil {
			return nil, err
		}
	}
	out := make([]uint64, 0, len(indexed)+len(v.seqs)+len(above))
	for _, part := range [][]uint64{indexed, v.seqs, above} {
		for i := len(part) - 1; i >= 0; i-- { // each part is newest first
			out = append(out, part[i])
		}
	}
	return out, nil
}

// querySeqs runs a query whose rows are sequence numbers.
func querySeqs(ctx context.Context, q queryer, query string, args []any) ([]uint64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return nil, err
		}
		out = append(out, uint64(seq))
	}
	return out, rows.Err()
}
