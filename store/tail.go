package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"hearth"
)

// The log's newest events, those not yet in the index tables (see fold.go),
// are indexed in memory: the tail. A group commit adds its events to the
// tail after it commits; a fold moves the tail into the index tables in bulk
// and the tail forgets what it moved. Queries by device, topic or kind read
// the index tables up to base and the tail above it.
//
// Why not keep SQLite indexes on the events table, as the log first did:
// with a thousand devices, each group commit added entries to a thousand
// places in each index, rewriting a 4 KiB page for each of them (twice: to
// the write-ahead log and again at checkpoint). That was 20 to 120 KB
// written per sensor event. The tail costs no disk at all, and a fold adds
// hundreds of entries to each page it writes.

// tailEntry is one event of the tail: its sequence number, the ids of its
// device, topic and kind among the tail's names (0 is ""), and its time in
// Unix seconds (for the fold's age limit). 24 bytes.
type tailEntry struct {
	seq                 uint64
	device, topic, kind uint32
	sec                 uint32
}

// tail is the in-memory index of the events above base. It is safe for
// concurrent use: Run adds to it while queries read it.
type tail struct {
	mu     sync.Mutex
	loaded bool
	// base is the index tables' high-water mark (meta indexed_seq): every
	// event at or below it is in them.
	base uint64
	// end is the last sequence number the tail knows: it holds every event
	// of the log in (base, end].
	end     uint64
	entries []tailEntry // in sequence order
	ids     map[string]uint32
	names   []string // names[id]; names[0] is ""
}

func (t *tail) resetNamesLocked() {
	t.ids = map[string]uint32{"": 0}
	t.names = []string{""}
}

// idLocked interns name.
func (t *tail) idLocked(name string) uint32 {
	if id, ok := t.ids[name]; ok {
		return id
	}
	id := uint32(len(t.names))
	name = strings.Clone(name) // do not pin the event's memory
	t.ids[name] = id
	t.names = append(t.names, name)
	return id
}

// rawIDLocked interns name, which is only valid until the next row.
func (t *tail) rawIDLocked(name []byte) uint32 {
	if id, ok := t.ids[string(name)]; ok { // no copy for a lookup
		return id
	}
	return t.idLocked(string(name))
}

// add appends events just committed. Events at or below end are already
// known (a batch committed again after a failure) and skipped.
func (t *tail) add(batch []hearth.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.loaded {
		return // a read-only store: it reads the tail from the file
	}
	for i := range batch {
		e := &batch[i]
		if e.Seq <= t.end {
			continue
		}
		t.entries = append(t.entries, tailEntry{
			seq: e.Seq, device: t.idLocked(e.Device), topic: t.idLocked(e.Topic), kind: t.idLocked(string(e.Kind)),
			sec: unixSec(e.Time),
		})
		t.end = e.Seq
	}
}

// load reads the tail from the database: meta's indexed_seq and the events
// above it. The store calls it once, at Open; the cost is bounded by the
// fold threshold (a crash leaves at most that many events unfolded).
func (t *tail) load(ctx context.Context, db *sql.DB) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.loaded {
		return nil
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("read the log's tail: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	var base int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'indexed_seq'`).Scan(&base); err != nil {
		return fmt.Errorf("read the log's tail: indexed_seq: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, time, kind, device, topic FROM events WHERE seq > ? ORDER BY seq`, base)
	if err != nil {
		return fmt.Errorf("read the log's tail: %w", err)
	}
	defer rows.Close()
	t.resetNamesLocked()
	t.entries = t.entries[:0]
	t.base, t.end = uint64(base), uint64(base)
	var (
		seq, nano           int64
		kind, device, topic sql.RawBytes // interned without a copy for each row
	)
	for rows.Next() {
		if err := rows.Scan(&seq, &nano, &kind, &device, &topic); err != nil {
			return fmt.Errorf("read the log's tail: %w", err)
		}
		t.entries = append(t.entries, tailEntry{
			seq: uint64(seq), device: t.rawIDLocked(device), topic: t.rawIDLocked(topic), kind: t.rawIDLocked(kind),
			sec: unixSec(fromUnixNano(nano)),
		})
		t.end = uint64(seq)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the log's tail: %w", err)
	}
	t.loaded = true
	return nil
}

// tailFilter selects tail entries: each non-empty field must match.
type tailFilter struct {
	device, topic, kind string
}

// tailView is what a query needs of the tail, copied under its lock.
type tailView struct {
	base, end uint64
	seqs      []uint64 // matching events, newest first
}

// find returns the tail's bounds and the sequence numbers of the matching
// events in [from, below) (below 0: no bound), newest first, at most limit
// of them (0: all).
func (t *tail) find(f tailFilter, from, below uint64, limit int) tailView {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := tailView{base: t.base, end: t.end}
	var dev, top, kind uint32
	for _, c := range []struct {
		name string
		id   *uint32
	}{{f.device, &dev}, {f.topic, &top}, {f.kind, &kind}} {
		if c.name == "" {
			continue
		}
		id, ok := t.ids[c.name]
		if !ok {
			return v // nothing in the tail has it
		}
		*c.id = id
	}
	hi := len(t.entries)
	if below > 0 {
		hi, _ = slices.BinarySearchFunc(t.entries, below, func(e tailEntry, s uint64) int { return cmp.Compare(e.seq, s) })
	}
	for i := hi - 1; i >= 0; i-- {
		e := &t.entries[i]
		if e.seq < from {
			break
		}
		if (dev != 0 && e.device != dev) || (top != 0 && e.topic != top) || (kind != 0 && e.kind != kind) {
			continue
		}
		v.seqs = append(v.seqs, e.seq)
		if limit > 0 && len(v.seqs) == limit {
			break
		}
	}
	return v
}

// latestTopics returns the tail's bounds and, for every topic starting
// with prefix, the newest tail event of kind on it.
func (t *tail) latestTopics(prefix string, kind hearth.Kind) (base, end uint64, newest map[string]uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	newest = map[string]uint64{}
	k, ok := t.ids[string(kind)]
	if !ok {
		return t.base, t.end, newest
	}
	for i := len(t.entries) - 1; i >= 0; i-- {
		e := &t.entries[i]
		if e.kind != k {
			continue
		}
		name := t.names[e.topic]
		if _, seen := newest[name]; !seen && strings.HasPrefix(name, prefix) {
			newest[name] = e.seq
		}
	}
	return t.base, t.end, newest
}

// newestOn returns the tail's bounds and, for each of topics with an
// event of kind in the tail, the newest such event.
func (t *tail) newestOn(kind hearth.Kind, topics []string) (base, end uint64, newest map[string]uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	newest = map[string]uint64{}
	k, ok := t.ids[string(kind)]
	if !ok {
		return t.base, t.end, newest
	}
	want := map[uint32]string{}
	for _, topic := range topics {
		if id, ok := t.ids[topic]; ok && id != 0 {
			want[id] = topic
		}
	}
	for i := len(t.entries) - 1; i >= 0 && len(want) > 0; i-- {
		e := &t.entries[i]
		if topic, ok := want[e.topic]; ok && e.kind == k {
			newest[topic] = e.seq
			delete(want, e.topic)
		}
	}
	return t.base, t.end, newest
}

// tailCounts is what Stats needs of the tail.
type tailCounts struct {
	base, end uint64
	n         int
	kinds     string // the kinds of its events, a JSON array
}

func (t *tail) counts() tailCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := tailCounts{base: t.base, end: t.end, n: len(t.entries)}
	seen := map[uint32]bool{}
	var kinds []string
	for i := range t.entries {
		if k := t.entries[i].kind; !seen[k] {
			seen[k] = true
			kinds = append(kinds, t.names[k])
		}
	}
	b, _ := json.Marshal(kinds) // strings always marshal
	c.kinds = string(b)
	return c
}

// size returns how many events the tail holds and the time of the oldest
// (zero when it is empty).
func (t *tail) size() (int, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.entries) == 0 {
		return 0, time.Time{}
	}
	return len(t.entries), time.Unix(int64(t.entries[0].sec), 0)
}

// unixSec is t in Unix seconds, clamped to what a uint32 holds.
func unixSec(t time.Time) uint32 {
	return uint32(min(max(t.Unix(), 0), 1<<32-1))
}

// advance records that the index tables now hold every event up to base,
// and forgets those events. The names are interned again from what is
// left, so that topics seen once do not stay in memory for ever.
//
// The events left move to the front of the same array, kept for the next
// round unless it has room for more than keep (a long stretch without
// indexing grew it): growing a new one from scratch every round would hand
// the garbage collector about five times its size (17 MB a round at the
// indexer's threshold, 120 bytes a log event). The indexer, which reads the
// array during a round, calls advance once it is done with it.
func (t *tail) advance(base uint64, keep int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, _ := slices.BinarySearchFunc(t.entries, base+1, func(e tailEntry, s uint64) int { return cmp.Compare(e.seq, s) })
	rest := t.entries[i:]
	names := t.names
	t.resetNamesLocked()
	kept := t.entries[:0] // each entry moves to an index at or below its own
	if cap(kept) > keep {
		kept = make([]tailEntry, 0, max(len(rest), 1024))
	}
	for _, e := range rest {
		kept = append(kept, tailEntry{seq: e.seq, sec: e.sec,
			device: t.idLocked(names[e.device]), topic: t.idLocked(names[e.topic]), kind: t.idLocked(names[e.kind])})
	}
	t.entries = kept
	t.base = base
	t.end = max(t.end, base)
}
