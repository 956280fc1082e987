package store

import (
	"context"
	"database/sql"
	"fmt"

	"hearth"
)

// LatestMessages returns, for every topic under the given prefixes, the
// newest message logged on it, in log order. The device adapters read
// retained configuration (Home Assistant discovery, Zigbee2MQTT's device
// list) from such messages; at start-up they are replayed from here, since
// the broker's retained copies do not outlive the process.
//
// It reads the topic index over the prefix's range only, so its cost is
// the number of events on those topics, not the length of the log: left to
// itself, SQLite picked the kind index and read every message ever logged
// (half a second on a log of a million events). As every query by topic,
// it reads the index table up to the tail, the tail, and above the tail
// (lookup.go).
func (s *Store) LatestMessages(ctx context.Context, prefixes []string) ([]hearth.Event, error) {
	if err := s.tail.load(ctx, s.r); err != nil {
		return nil, fmt.Errorf("latest messages: %w", err)
	}
	var out []hearth.Event
	for _, p := range prefixes {
		evs, err := s.latestUnder(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("latest messages under %s: %w", p, err)
		}
		out = append(out, evs...)
	}
	return out, nil
}

// latestUnder is LatestMessages for one prefix.
func (s *Store) latestUnder(ctx context.Context, p string) ([]hearth.Event, error) {
	base, end, newest := s.tail.latestTopics(p, hearth.KindMessage)
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read only
	keep := func(rows *sql.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var (
				topic string
				seq   int64
			)
			if err := rows.Scan(&topic, &seq); err != nil {
				return err
			}
			if uint64(seq) > newest[topic] {
				newest[topic] = uint64(seq)
			}
		}
		return rows.Err()
	}
	query, args := latestQuery(p, base)
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	if err := keep(rows); err != nil {
		return nil, err
	}
	// Above the tail: usually nothing.
	where, args := topicRange(p, "")
	rows, err = tx.QueryContext(ctx, `SELECT topic, max(seq) FROM events
		WHERE seq > ? AND kind = ? AND `+where+` GROUP BY topic`,
		append([]any{int64(end), string(hearth.KindMessage)}, args...)...)
	if err != nil {
		return nil, err
	}
	if err := keep(rows); err != nil {
		return nil, err
	}
	if len(newest) == 0 {
		return nil, nil
	}
	seqs := make([]uint64, 0, len(newest))
	for _, seq := range newest {
		seqs = append(seqs, seq)
	}
	return s.queryEventsOn(ctx, tx, `SELECT `+eventColumns+` FROM events
		WHERE seq IN (SELECT value FROM json_each(?)) ORDER BY seq`, []any{seqsJSON(seqs)}, nil)
}

// latestQuery builds the SQL that finds, in the topic index table up to
// base, the newest message on each topic starting with p: the table's
// range for the prefix, each entry joined with its event for the kind.
func latestQuery(p string, base uint64) (string, []any) {
	where, args := topicRange(p, "i.")
	return `SELECT i.topic, max(i.seq) FROM events_by_topic AS i CROSS JOIN events AS e ON e.seq = i.seq
		WHERE ` + where + ` AND i.seq <= ? AND e.kind = ? GROUP BY i.topic`,
		append(args, int64(base), string(hearth.KindMessage))
}

// topicRange is "the topic starts with p" as a range of the topic's byte
// order, which an index serves: topic >= p AND topic < prefixEnd(p).
func topicRange(p, alias string) (string, []any) {
	where, args := alias+`topic >= ?`, []any{p}
	if end, ok := prefixEnd(p); ok {
		where += ` AND ` + alias + `topic < ?`
		args = append(args, end)
	}
	return where, args
}

// prefixEnd is the smallest string above every string that starts with p,
// in byte order; false when there is none (p is empty or all 0xff bytes).
func prefixEnd(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}
