package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The log is indexed by device, topic and kind in three index tables
// (events_by_device and so on: a key and a sequence number each), filled in
// bulk rather than at every commit. A group commit appends events to the
// events table alone, whose rows go to the end of its b-tree, and adds them
// to the tail in memory (tail.go). Once the tail holds defaultIndexEvery
// events, or its oldest is defaultIndexAge old, the indexer moves it into
// the index tables: sorted by key, defaultIndexChunk entries per
// transaction, between group commits. Every page of an index table it
// writes takes all the new entries of the keys on it: on the benchmark's
// 1,000 devices a round adds dozens of entries to each page it writes,
// where a commit used to write a whole page for one or two.
//
// The index tables are derived data: meta's indexed_seq says how far they
// are complete, and queries read them only up to there (tail.base) and the
// tail above. A crash halfway through leaves entries above indexed_seq,
// which queries ignore and the next round inserts again (OR IGNORE).

// Defaults of the indexer. The threshold bounds the tail's memory (24 bytes
// an event, about 6 MB) and the time Open takes to read it back after a
// crash (BenchmarkOpenWithAFullTail). A round writes about one page per
// key whatever its size (6,000 on the benchmark house: 2,000 devices,
// 4,000 topics), so a larger threshold takes a larger share off what the
// indexes cost per event: 262,144 rather than 131,072 took the house's
// bytes written per log event from 742 to 473 over 560,000 of them
// (BenchmarkWriteBytes), for 3 MB more while the tail is full. Only a busy
// house fills it: a house of 50 devices reaches the age first. The age
// keeps a quiet house's tail short too, so that retention (which deletes
// events an hour old at the earliest) finds them indexed. The chunk bounds
// one transaction: a QoS 1 message that arrives meanwhile waits for it
// (BenchmarkIndexChunk: about 6 ms, 25 at most, on the build machine; a
// round of 262,144 events takes about 176 of them).
const (
	defaultIndexEvery = 262_144
	defaultIndexAge   = 30 * time.Minute
	defaultIndexChunk = 4096
)

// indexColumns are the indexed columns, each with its table.
var indexColumns = [...]struct {
	col, table string
	key        func(*tailEntry) uint32
}{
	{"device", "events_by_device", func(e *tailEntry) uint32 { return e.device }},
	{"topic", "events_by_topic", func(e *tailEntry) uint32 { return e.topic }},
	{"kind", "events_by_kind", func(e *tailEntry) uint32 { return e.kind }},
}

// indexer moves the tail into the index tables. It belongs to Run's
// goroutine.
type indexer struct {
	every int           // events in the tail that start a round
	age   time.Duration // age of the tail's oldest event that starts one
	chunk int           // index entries per transaction

	// The round in progress, if target > 0.
	target  uint64      // the round indexes every event up to target
	entries []tailEntry // the tail up to target, when it started
	names   []string    // their names
	column  int         // the index table being filled
	order   []int32     // entries of column's table in key order
	quoted  [][]byte    // names as JSON strings, by id, made as needed
	pos     int         // next in order

	buf []byte // the last chunk's JSON (pairs), reused
}

// due reports whether a round should start.
func (x *indexer) due(t *tail, now time.Time) bool {
	n, oldest := t.size()
	return n > 0 && (n >= x.every || now.Sub(oldest) >= x.age)
}

// start begins a round over everything the tail holds. It shares the
// tail's arrays rather than copying them: until the round ends (advance),
// the tail only appends to them past what the round sees, never changes an
// element in place.
func (x *indexer) start(t *tail) {
	t.mu.Lock()
	x.entries = t.entries[:len(t.entries):len(t.entries)]
	x.names = t.names[:len(t.names):len(t.names)]
	t.mu.Unlock()
	if len(x.entries) == 0 {
		return
	}
	x.target = x.entries[len(x.entries)-1].seq
	x.quoted = make([][]byte, len(x.names))
	x.column = 0
	x.sortColumn()
}

// sortColumn orders the round's entries by the current column's key, then
// by sequence number: a counting sort by key id (the entries are in
// sequence order already) over the ids sorted by name. Entries whose key
// is "" are left out: nothing asks for them.
func (x *indexer) sortColumn() {
	key := indexColumns[x.column].key
	counts := make([]int32, len(x.names))
	for i := range x.entries {
		counts[key(&x.entries[i])]++
	}
	ids := make([]uint32, 0, len(x.names))
	for id, n := range counts {
		if n > 0 && id != 0 {
			ids = append(ids, uint32(id))
		}
	}
	slices.SortFunc(ids, func(a, b uint32) int { return strings.Compare(x.names[a], x.names[b]) })
	start := make([]int32, len(x.names))
	var total int32
	for _, id := range ids {
		start[id] = total
		total += counts[id]
	}
	x.order = slices.Grow(x.order[:0], int(total))[:total]
	for i := range x.entries {
		if id := key(&x.entries[i]); id != 0 {
			x.order[start[id]] = int32(i)
			start[id]++
		}
	}
	x.pos = 0
}

// indexStep runs one transaction of the round in progress, starting one
// if it is due, or with force whenever the tail holds anything. It returns
// whether it wrote anything.
func (s *Store) indexStep(ctx context.Context, force bool) (bool, error) {
	x := &s.indexer
	if x.target == 0 {
		if n, _ := s.tail.size(); n == 0 || !force && !x.due(&s.tail, time.Now()) {
			return false, nil
		}
		x.start(&s.tail)
		if x.target == 0 {
			return false, nil
		}
	}
	c := indexColumns[x.column]
	n := min(x.chunk, len(x.order)-x.pos)
	part := x.order[x.pos : x.pos+n]
	last := x.column == len(indexColumns)-1 && x.pos+n == len(x.order)
	err := s.derivedTx(ctx, func(tx *sql.Tx) error {
		if len(part) > 0 {
			// The pairs go in as one JSON array: one statement, in key
			// order, so that SQLite walks each index page once. The
			// array's buffer is reused from chunk to chunk, so it goes as
			// a BLOB that SQLite reads as text (a BLOB alone would be
			// taken for its binary JSON).
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO `+c.table+` (`+c.col+`, seq)
				SELECT value ->> 0, value ->> 1 FROM json_each(CAST(? AS TEXT))`, x.pairs(part, c.key)); err != nil {
				return fmt.Errorf("index events by %s: %w", c.col, err)
			}
		}
		if last {
			if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'indexed_seq'`, int64(x.target)); err != nil {
				return fmt.Errorf("set indexed_seq: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("index the log up to %d: %w", x.target, err)
	}
	x.pos += n
	switch {
	case last:
		// The tail keeps its array for the next round when a round's
		// growth made it (about the threshold and what came during the
		// round).
		s.tail.advance(x.target, 2*x.every)
		s.log.Debug("log indexed", "up_to", x.target, "events", len(x.entries))
		x.target, x.entries, x.names, x.quoted = 0, nil, nil, nil
		x.order = x.order[:0]
	case x.pos == len(x.order):
		x.column++
		x.sortColumn()
	}
	return true, nil
}

// pairs writes entries as a JSON array of [key, seq] pairs, into a buffer
// that the next call reuses.
func (x *indexer) pairs(part []int32, key func(*tailEntry) uint32) []byte {
	b := slices.Grow(x.buf[:0], len(part)*24)
	b = append(b, '[')
	for i, j := range part {
		e := &x.entries[j]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		id := key(e)
		if x.quoted[id] == nil {
			x.quoted[id], _ = json.Marshal(x.names[id]) // a string always marshals
		}
		b = append(b, x.quoted[id]...)
		b = append(b, ',')
		b = strconv.AppendUint(b, e.seq, 10)
		b = append(b, ']')
	}
	x.buf = append(b, ']')
	return x.buf
}

// derivedTx runs f in a transaction on the writer with synchronous=NORMAL:
// what it writes can be derived again from the log (the index tables, the
// devices snapshot), so it need not wait for the disk. A power cut may take
// it back, never half of it, and a later FULL commit syncs it along with
// everything before (see syncMode).
func (s *Store) derivedTx(ctx context.Context, f func(*sql.Tx) error) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := s.sync.set(ctx, conn, false); err != nil {
		return err
	}
	defer s.sync.restore(conn)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
