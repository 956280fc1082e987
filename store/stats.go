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
}

// Stats returns the log's event count, first and last sequence numbers and
// the sizes of the database and WAL files.
//
// The count is SQLite's count(*), which walks the pages (not the rows) of
// the log's smallest index: about 50µs per 100,000 cached events on the
// build machine (BenchmarkStats), so linear in the log but cheap enough for
// a health check or a scrape every few seconds; not for a hot path.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	var (
		st                 Stats
		count, first, last int64
	)
	// One statement, so the three numbers come from the same snapshot; three
	// subqueries, because count(*), min and max in one SELECT defeat both
	// SQLite's page-counting count and its min/max lookups, and scan every
	// row instead (100 times slower).
	err := s.r.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM events),
		(SELECT coalesce(min(seq), 0) FROM events),
		(SELECT coalesce(max(seq), 0) FROM events)`,
	).Scan(&count, &first, &last)
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	st.Events, st.FirstSeq, st.LastSeq = uint64(count), uint64(first), uint64(last)
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
