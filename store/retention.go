package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Retention says how much of the log Prune keeps. The zero value keeps
// everything.
type Retention struct {
	// Events is how long raw events are kept: every message, state change,
	// command and automation trace. 0 keeps them until MaxSize needs room.
	Events time.Duration
	// History is how long the hourly history of numeric attributes, which
	// state events are folded into before they go, is kept. 0: forever.
	History time.Duration
	// MaxSize bounds the database and its write-ahead log, in bytes: past
	// it, the oldest events go sooner than Events says (down to the last
	// hour's), and then the oldest history. 0: no bound.
	MaxSize int64
	// KeepTopics are topic prefixes whose newest message on each topic is
	// kept whatever its age: the retained configuration that start-up reads
	// back with LatestMessages (Home Assistant discovery, Zigbee2MQTT's
	// device list). What else is always kept: keep.go.
	KeepTopics []string
}

// PruneReport says what one Prune did.
type PruneReport struct {
	// Folded is how many values of state events went into the history table.
	Folded int
	// EventsByAge and EventsBySize are the events deleted because they were
	// older than Retention.Events, and then because the file was too big.
	EventsByAge, EventsBySize int
	// HistoryByAge and HistoryBySize are the history rows deleted likewise.
	HistoryByAge, HistoryBySize int
	// Kept is how many events old enough to go were kept (see Retention).
	Kept int
	// FreedBytes is what went back to the file system (incremental vacuum).
	FreedBytes int64
	// Size is the bytes the log takes afterwards: its used pages and its
	// write-ahead log (see Stats.UsedBytes).
	Size int64
	// OverLimit reports that the log is still bigger than MaxSize with
	// nothing left that Prune may delete.
	OverLimit bool
	// Took is how long Prune ran; LongestHold is the longest one of its
	// transactions kept the writer (and so a group commit) waiting.
	Took, LongestHold time.Duration
}

// Deleted reports whether the pass deleted anything.
func (r PruneReport) Deleted() bool {
	return r.EventsByAge+r.EventsBySize+r.HistoryByAge+r.HistoryBySize > 0
}

// PruneTotals adds up the Prune reports since the store was opened.
type PruneTotals struct {
	Passes                      uint64
	Folded                      uint64
	EventsByAge, EventsBySize   uint64
	HistoryByAge, HistoryBySize uint64
	FreedBytes                  int64
	// Last is when the last pass ended; LastTook and LastLongestHold are
	// that pass's Took and LongestHold.
	Last                      time.Time
	LastTook, LastLongestHold time.Duration
}

// Retention constants. Chunks keep each transaction short, because the
// writer connection is shared with the group commit (Run): a QoS 1 message
// that arrives during a chunk waits for it. BenchmarkPruneChunk measures
// one chunk.
const (
	// defaultPruneChunk is how many events one transaction deletes: about
	// a millisecond of the writer (the history is folded, and the index
	// tables swept, in transactions of their own).
	defaultPruneChunk = 1000
	// vacuumChunk is how many free pages one transaction gives back.
	vacuumChunk = 256
	// sizeFloor is how much of the newest log MaxSize never deletes: the
	// page's recent events and the causes of what just happened.
	sizeFloor = time.Hour
	// lowWater is the share of MaxSize that pruning by size brings the log
	// down to, so that it stays under the limit until the next pass.
	lowWater = 0.95
	// pruneStep is the unit of age: a pass deletes the events (and the
	// history) of whole days, so the pages of a device's index entries and
	// of an attribute's hourly rows are written once a day, not every hour.
	// An event lives between Events and Events plus a day.
	pruneStep = 24 * time.Hour
	// Free pages are given back to the file system only beyond both
	// freeReserve and freeShare of the file (or the size bound), since new
	// events reuse them: a steady day of pruning frees what the next day
	// fills, and moving pages to give them back costs writes.
	freeReserve = 64 << 20
	freeShare   = 0.25
)

// retention is the Store's pruning state.
type retention struct {
	run      sync.Mutex // one Prune at a time
	chunk    int        // events per transaction; 0: defaultPruneChunk
	foldRows int        // history rows per transaction; 0: foldTxRows
	exact    bool       // cut at the very time rather than a day's start (tests)
	// The cuts of the last pass that went through by age: the next passes
	// of the same day skip what that one finished.
	eventsUpTo, historyCut int64

	mu     sync.Mutex
	totals PruneTotals
}

// Prune applies r to the log as of now: it folds the numeric attributes of
// state events into the hourly history table and deletes the events older
// than r.Events, then, while the file is over r.MaxSize, more of the oldest
// events and then the oldest history; it deletes history older than
// r.History, and gives free pages beyond a small reserve back to the file
// system. The devices table, timers, settings, users and sessions are never
// touched, nor the events Retention lists as kept, nor any event the
// devices table does not reflect yet.
//
// Everything happens in short transactions on the writer connection, which
// interleave with Run's group commits; ctx ends a pass between two of them,
// and the next pass takes up where it stopped. It is safe to call while Run
// runs, and from one goroutine at a time (a second call waits).
func (s *Store) Prune(ctx context.Context, r Retention, now time.Time) (PruneReport, error) {
	s.ret.run.Lock()
	defer s.ret.run.Unlock()
	p := &pass{s: s, r: r, chunk: s.ret.chunk, start: time.Now()}
	if p.chunk <= 0 {
		p.chunk = defaultPruneChunk
	}
	err := p.prune(ctx, now)
	p.rep.Took = time.Since(p.start)
	if size, serr := s.usage(ctx); serr == nil {
		p.rep.Size = size.used + size.wal
	}
	s.ret.mu.Lock()
	t := &s.ret.totals
	t.Passes++
	t.Folded += uint64(p.rep.Folded)
	t.EventsByAge += uint64(p.rep.EventsByAge)
	t.EventsBySize += uint64(p.rep.EventsBySize)
	t.HistoryByAge += uint64(p.rep.HistoryByAge)
	t.HistoryBySize += uint64(p.rep.HistoryBySize)
	t.FreedBytes += p.rep.FreedBytes
	t.Last, t.LastTook, t.LastLongestHold = now, p.rep.Took, p.rep.LongestHold
	s.ret.mu.Unlock()
	if err != nil {
		return p.rep, fmt.Errorf("prune %s: %w", s.path, err)
	}
	return p.rep, nil
}

// pruneTotals returns the sums of the reports so far.
func (s *Store) pruneTotals() PruneTotals {
	s.ret.mu.Lock()
	defer s.ret.mu.Unlock()
	return s.ret.totals
}

// pass is one Prune.
type pass struct {
	s     *Store
	r     Retention
	chunk int
	start time.Time
	rep   PruneReport
	// cursor is the highest sequence number considered so far: every event
	// at or below it that is still in the log is kept.
	cursor int64
	// indexTables are the columns with an index table (keep.go); swept
	// holds, by column, the keys of the events deleted so far.
	indexTables map[string]bool
	swept       map[string]map[string]bool
	// folding is the fold being written, kept between its transactions.
	folding *foldBatch
}

func (p *pass) prune(ctx context.Context, now time.Time) error {
	if err := p.inspect(ctx); err != nil {
		return err
	}
	if p.r.Events > 0 {
		upTo, err := p.lastSeqBefore(ctx, p.step(now.Add(-p.r.Events)))
		if err != nil {
			return err
		}
		for upTo != p.s.ret.eventsUpTo {
			n, more, err := p.pruneChunk(ctx, upTo)
			p.rep.EventsByAge += n
			if err != nil {
				return err
			}
			if !more {
				p.s.ret.eventsUpTo = upTo
			}
		}
	}
	if p.r.History > 0 {
		if cut := p.step(now.Add(-p.r.History)).Unix(); cut != p.s.ret.historyCut {
			n, err := p.deleteHistoryBefore(ctx, cut)
			p.rep.HistoryByAge += n
			if err != nil {
				return err
			}
			p.s.ret.historyCut = cut
		}
	}
	if p.r.MaxSize > 0 {
		if err := p.pruneBySize(ctx, now); err != nil {
			return err
		}
	}
	if err := p.sweepIndexes(ctx); err != nil {
		return err
	}
	return p.vacuum(ctx)
}

// step rounds an age's cut down to the start of its day (UTC).
func (p *pass) step(t time.Time) time.Time {
	if p.s.ret.exact {
		return t
	}
	return t.Truncate(pruneStep)
}

// lastSeqBefore returns the sequence number of the last event before t,
// never past what the devices table reflects (state_seq) nor what the
// index tables hold (indexed_seq): an event the read model has not taken
// in yet must stay to be replayed, and one the indexer has yet to index
// would come back there as an entry with no event. Nor is it ever the
// log's last event: start-up numbers the next events after it, and numbers
// must never be given twice (causes, history_seq and indexed_seq name them).
func (p *pass) lastSeqBefore(ctx context.Context, t time.Time) (int64, error) {
	first, err := p.s.FirstSeqSince(ctx, t)
	if err != nil {
		return 0, err
	}
	var stateSeq, indexedSeq, lastSeq int64
	err = p.s.r.QueryRowContext(ctx, `SELECT
		coalesce((SELECT value FROM meta WHERE key = 'state_seq'), 0),
		coalesce((SELECT value FROM meta WHERE key = 'indexed_seq'), 9223372036854775807),
		coalesce((SELECT max(seq) FROM events), 0)`).Scan(&stateSeq, &indexedSeq, &lastSeq)
	if err != nil {
		return 0, fmt.Errorf("how far the read model and the indexes are: %w", err)
	}
	return min(int64(first)-1, stateSeq, indexedSeq, lastSeq-1), nil
}

// pruneChunk folds and deletes the next chunk of events after the cursor,
// up to upTo, except those to keep. It returns how many it deleted and
// whether there may be more to do.
func (p *pass) pruneChunk(ctx context.Context, upTo int64) (int, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	cands, err := p.candidates(ctx, upTo)
	if err != nil || len(cands) == 0 {
		return 0, false, err
	}
	last := cands[len(cands)-1].seq
	// History first, in its own transaction: a crash after it leaves
	// events that are folded (history_seq covers them) but not deleted,
	// which History then reads from the history table only.
	if err := p.fold(ctx, last, upTo); err != nil {
		return 0, false, err
	}
	keep, err := p.keepers(ctx, cands)
	if err != nil {
		return 0, false, err
	}
	keepJSON, err := json.Marshal(keep)
	if err != nil {
		return 0, false, err
	}
	var n int64
	err = p.writeTx(ctx, func(tx *sql.Tx) error {
		// The retained messages stay whatever their age, as on the broker.
		res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE seq > ? AND seq <= ?
			AND seq NOT IN (SELECT value FROM json_each(?)) AND seq NOT IN (SELECT seq FROM retained)`, p.cursor, last, string(keepJSON))
		if err != nil {
			return fmt.Errorf("delete events %d..%d: %w", p.cursor+1, last, err)
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, false, err
	}
	p.noteDeleted(cands, keep)
	p.rep.Kept += len(cands) - int(n)
	p.cursor = last
	return int(n), len(cands) == p.chunk, nil
}

// candidates reads the next chunk of events after the cursor, up to upTo.
func (p *pass) candidates(ctx context.Context, upTo int64) ([]candidate, error) {
	rows, err := p.s.r.QueryContext(ctx, `SELECT seq, kind, device, topic FROM events
		WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`, p.cursor, upTo, p.chunk)
	if err != nil {
		return nil, fmt.Errorf("events to prune after %d: %w", p.cursor, err)
	}
	defer rows.Close()
	var out []candidate
	for rows.Next() {
		var c candidate
		if err := rows.Scan(&c.seq, &c.kind, &c.device, &c.topic); err != nil {
			return nil, fmt.Errorf("events to prune after %d: %w", p.cursor, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events to prune after %d: %w", p.cursor, err)
	}
	return out, nil
}

// fold brings history_seq up to at least need, and further while the
// fold's sums stay within foldMaxRows and its events within upTo (see
// downsample.go): a day's hours of every attribute are then written
// together rather than a chunk's at a time.
func (p *pass) fold(ctx context.Context, need, upTo int64) error {
	for {
		done, err := p.foldStep(ctx, need, upTo)
		if err != nil || done {
			return err
		}
	}
}

// foldStep writes one transaction of a fold, starting one (or taking up
// the one a crash cut short) when needed. It reports whether history_seq
// has reached need.
func (p *pass) foldStep(ctx context.Context, need, upTo int64) (bool, error) {
	seq, prog, err := readFoldState(ctx, p.s.r)
	if err != nil {
		return false, err
	}
	if prog == nil && seq >= need {
		return true, nil
	}
	b := p.folding
	switch {
	case prog != nil && (b == nil || b.from != seq || b.to != prog.To):
		// A fold this pass did not start: sum its range up again.
		if b, err = readFold(ctx, p.s.r, seq, prog.To, 0); err != nil {
			return false, err
		}
	case prog == nil:
		if b, err = readFold(ctx, p.s.r, seq, upTo, foldMaxRows); err != nil {
			return false, err
		}
	}
	p.folding = b
	rows := p.s.ret.foldRows
	if rows <= 0 {
		rows = foldTxRows
	}
	var values int
	var done bool
	err = p.writeTx(ctx, func(tx *sql.Tx) error {
		values, done, err = b.writeStep(ctx, tx, prog, rows)
		return err
	})
	if err != nil {
		return false, err
	}
	p.rep.Folded += values
	if done {
		p.folding = nil
		return b.to >= need, nil
	}
	return false, nil
}

// writeTx runs f in a transaction on the writer and keeps the longest time
// a transaction held it. Nobody waits for what Prune writes, so it commits
// without waiting for the disk (derivedTx): a power cut may take back its
// last transactions, in order, and the next pass does them again.
func (p *pass) writeTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	var began time.Time
	err := p.s.derivedTx(ctx, func(tx *sql.Tx) error {
		began = time.Now()
		return f(tx)
	})
	if !began.IsZero() {
		p.rep.LongestHold = max(p.rep.LongestHold, time.Since(began))
	}
	return err
}

// usage is how the database file's bytes are used.
type usage struct {
	used, free, wal, pageSize int64
	autoVacuum                int
}

// usage reads the page counts (of the newest snapshot) and the size of the
// write-ahead log. Free pages are counted apart: SQLite reuses them for
// new events, so they are not what the limit is about.
func (s *Store) usage(ctx context.Context) (usage, error) {
	var u usage
	var pages, free int64
	err := s.r.QueryRowContext(ctx, `SELECT p.page_count, f.freelist_count, s.page_size, a.auto_vacuum
		FROM pragma_page_count() p, pragma_freelist_count() f, pragma_page_size() s, pragma_auto_vacuum() a`).
		Scan(&pages, &free, &u.pageSize, &u.autoVacuum)
	if err != nil {
		return usage{}, fmt.Errorf("page counts: %w", err)
	}
	u.used, u.free = (pages-free)*u.pageSize, free*u.pageSize
	if u.wal, err = fileSize(s.path + "-wal"); err != nil {
		return usage{}, err
	}
	return u, nil
}

// pruneBySize deletes the oldest events beyond what age did, and then the
// oldest history, until the log's used pages fit in MaxSize beside its
// write-ahead log, with room to grow until the next pass.
func (p *pass) pruneBySize(ctx context.Context, now time.Time) error {
	u, err := p.s.usage(ctx)
	if err != nil {
		return err
	}
	// A write-ahead log swollen by a long reader shrinks at its next
	// checkpoint: it may not make pruning delete more than half the limit.
	limit := max(p.r.MaxSize-u.wal, p.r.MaxSize/2)
	if u.used <= limit {
		return nil
	}
	target := int64(float64(limit) * lowWater)
	upTo, err := p.lastSeqBefore(ctx, now.Add(-sizeFloor))
	if err != nil {
		return err
	}
	// shrink deletes with step, counting into deleted, until the log is
	// under target or step has nothing more to delete.
	shrink := func(step func(context.Context) (int, bool, error), deleted *int) error {
		for u.used > target {
			n, more, err := step(ctx)
			*deleted += n
			if err != nil {
				return err
			}
			if u, err = p.s.usage(ctx); err != nil {
				return err
			}
			if !more {
				break
			}
		}
		return nil
	}
	events := func(ctx context.Context) (int, bool, error) { return p.pruneChunk(ctx, upTo) }
	if err := shrink(events, &p.rep.EventsBySize); err != nil {
		return err
	}
	if err := shrink(p.deleteOldestHistory, &p.rep.HistoryBySize); err != nil {
		return err
	}
	p.rep.OverLimit = u.used > limit
	return nil
}

// vacuum gives free pages back to the file system when they are more than
// new events will soon reuse (see freeReserve) or when the file would be
// over MaxSize, on a database created with auto_vacuum=INCREMENTAL (every
// database since retention came: see dsn). An older database keeps its
// free pages, which new events reuse; only a VACUUM with the hub stopped
// shrinks it.
func (p *pass) vacuum(ctx context.Context) error {
	u, err := p.s.usage(ctx)
	if err != nil || u.autoVacuum != 2 {
		return err
	}
	excess := u.free - max(freeReserve, int64(freeShare*float64(u.used+u.free)))
	if p.r.MaxSize > 0 {
		excess = max(excess, u.used+u.free+u.wal-p.r.MaxSize)
	}
	for excess > 0 {
		pages := min(excess/u.pageSize+1, vacuumChunk)
		err := p.writeTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA incremental_vacuum(%d)", pages))
			return err
		})
		if err != nil {
			return fmt.Errorf("incremental vacuum: %w", err)
		}
		before := u.free
		if u, err = p.s.usage(ctx); err != nil {
			return err
		}
		if u.free >= before {
			return nil // nothing moved: leave the rest for the next pass
		}
		p.rep.FreedBytes += before - u.free
		excess -= before - u.free
	}
	return nil
}
