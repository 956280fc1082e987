package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Stats is a snapshot of the log and of the database's size on disk, for
// health checks and metrics.
type Stats struct {
	// Events is how many events the log holds.
	Events uint64
	// FirstSeq and LastSeq are the log's lowest and highest sequence
	// numbers, both 0 when it is empty.
	FirstSeq, LastSeq uint64
	// DBBytes is the size of the database file.
	DBBytes int64
	// WALBytes is the size of its write-ahead log (the -wal file), 0 when
	// there is none. It grows between checkpoints and shrinks only when
	// the last connection closes.
	WALBytes int64
	// UsedBytes is what the database's pages hold; FreeBytes is its free
	// pages, which new events reuse. Retention's MaxSize bounds UsedBytes
	// and WALBytes together.
	UsedBytes, FreeBytes int64
	// HistoryRows is how many hourly rows the downsampled history holds,
	// and HistorySeq how far state events have been folded into it.
	HistoryRows, HistorySeq uint64
	// Pruned adds up what Prune did since the store was opened.
	Pruned PruneTotals
}

// Stats returns the log's event count, first and last sequence numbers and
// the sizes of the database and WAL files.
//
// The count is SQLite's count(*) of the kind index table, which walks its
// pages (not its rows), plus the tail in memory: linear in the log but
// cheap enough for a health check or a scrape every few seconds
// (BenchmarkStats); not for a hot path. Between a retention pass's delete
// and its sweep of the index tables (keep.go), it can count an event that
// was just deleted.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	if err := s.tail.load(ctx, s.r); err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	tl := s.tail.counts()
	var (
		st                                      Stats
		count, first, last, history, historySeq int64
	)
	// One statement, so the three numbers come from the same snapshot; three
	// subqueries, because count(*), min and max in one SELECT defeat both
	// SQLite's page-counting count and its min/max lookups, and scan every
	// row instead (100 times slower).
	//
	// The events above the tail's base are counted in memory, except those
	// committed since (above its end); a round of indexing in progress has
	// put some of them in the kind table already, and they are taken out.
	err := s.r.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM events_by_kind)
			- (SELECT count(*) FROM events_by_kind WHERE kind IN (SELECT value FROM json_each(?)) AND seq > ?)
			+ (SELECT count(*) FROM events WHERE seq > ?) + ?,
		(SELECT coalesce(min(seq), 0) FROM events),
		(SELECT coalesce(max(seq), 0) FROM events),
		(SELECT count(*) FROM history),
		(SELECT coalesce((SELECT value FROM meta WHERE key = 'history_seq'), 0))`,
		tl.kinds, int64(tl.base), int64(tl.end), tl.n,
	).Scan(&count, &first, &last, &history, &historySeq)
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	st.Events, st.FirstSeq, st.LastSeq = uint64(count), uint64(first), uint64(last)
	st.HistoryRows, st.HistorySeq = uint64(history), uint64(historySeq)
	u, err := s.usage(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	st.UsedBytes, st.FreeBytes = u.used, u.free
	st.Pruned = s.pruneTotals()
	if st.DBBytes, err = fileSize(s.path); err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	if st.WALBytes, err = fileSize(s.path + "-wal"); err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	return st, nil
}

// fileSize returns the size of the file at path, 0 when it does not exist.
func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
