package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// FirstSeqSince returns the sequence number of the first event at or after
// t, or the log's last sequence number + 1 when there is none. Event times
// rise with sequence numbers, so it is a binary search over the primary key
// rather than a scan: a few lookups on a log of millions.
func (s *Store) FirstSeqSince(ctx context.Context, t time.Time) (uint64, error) {
	var first, last sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT min(seq), max(seq) FROM events`).Scan(&first, &last); err != nil {
		return 0, fmt.Errorf("first event since %s: %w", t.Format(time.RFC3339), err)
	}
	if !first.Valid {
		return 1, nil
	}
	lo, hi := first.Int64, last.Int64+1 // the answer is in [lo, hi]
	want := unixNano(t)
	for lo < hi {
		mid := lo + (hi-lo)/2
		var at int64
		// The first event at or after mid: seq has gaps only if rows were pruned.
		err := s.r.QueryRowContext(ctx, `SELECT seq, time FROM events WHERE seq >= ? ORDER BY seq LIMIT 1`, mid).Scan(&mid, &at)
		if errors.Is(err, sql.ErrNoRows) {
			hi = mid
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("first event since %s: %w", t.Format(time.RFC3339), err)
		}
		if at >= want {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return uint64(lo), nil
}
