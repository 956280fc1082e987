package store

import (
	"context"
	"database/sql"
	"encoding/json"
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
	query, args := latestQuery(p, base)
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	if err := scanNewest(rows, newest); err != nil {
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
	if err := scanNewest(rows, newest); err != nil {
		return nil, err
	}
	return s.eventsAt(ctx, tx, newest)
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

// NewestOnTopics returns the newest event of kind on each of topics, in log
// order; a topic without one has none. The automations engine reads every
// automation's last run this way when it starts, to number the next runs:
// one call for them all, where a query per automation took a fifth of a
// second for 2,000 of them. Its cost is one step of the topic index per
// topic, whatever the length of the log.
func (s *Store) NewestOnTopics(ctx context.Context, kind hearth.Kind, topics []string) ([]hearth.Event, error) {
	if len(topics) == 0 {
		return nil, nil
	}
	if err := s.tail.load(ctx, s.r); err != nil {
		return nil, fmt.Errorf("newest %s events: %w", kind, err)
	}
	evs, err := s.newestOn(ctx, kind, topics)
	if err != nil {
		return nil, fmt.Errorf("newest %s events: %w", kind, err)
	}
	return evs, nil
}

// newestOn is NewestOnTopics once the tail is loaded: the tail, above the
// tail, then the index tables for the topics neither had.
func (s *Store) newestOn(ctx context.Context, kind hearth.Kind, topics []string) ([]hearth.Event, error) {
	base, end, newest := s.tail.newestOn(kind, topics)
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read only
	list, err := json.Marshal(topics)
	if err != nil {
		return nil, err
	}
	// Above the tail: usually nothing. Newer than the tail, so it wins.
	rows, err := tx.QueryContext(ctx, `SELECT topic, max(seq) FROM events
		WHERE seq > ? AND kind = ? AND topic IN (SELECT value FROM json_each(?)) GROUP BY topic`,
		int64(end), string(kind), string(list))
	if err != nil {
		return nil, err
	}
	if err := scanNewest(rows, newest); err != nil {
		return nil, err
	}
	var rest []string
	for _, t := range topics {
		if _, ok := newest[t]; !ok {
			rest = append(rest, t)
		}
	}
	if len(rest) > 0 && base > 0 {
		if list, err = json.Marshal(rest); err != nil {
			return nil, err
		}
		query, args := newestQuery(kind, base, string(list))
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, err
		}
		if err := scanNewest(rows, newest); err != nil {
			return nil, err
		}
	}
	return s.eventsAt(ctx, tx, newest)
}

// newestQuery builds the SQL that finds, in the topic index table up to
// base, the newest event of kind on each topic of a JSON array: for each,
// a walk back from base along the topic's entries that stops at the first
// of the kind (each automation's topic holds nothing but its runs, so at
// once). A topic without one gives NULL.
func newestQuery(kind hearth.Kind, base uint64, topics string) (string, []any) {
	return `SELECT t.value, (SELECT i.seq FROM events_by_topic AS i CROSS JOIN events AS e ON e.seq = i.seq
			WHERE i.topic = t.value AND i.seq <= ? AND e.kind = ? ORDER BY i.seq DESC LIMIT 1)
		FROM json_each(?) AS t`, []any{int64(base), string(kind), topics}
}

// scanNewest reads rows of (topic, seq) into newest, keeping the higher
// seq of a topic already there; a NULL seq is no event.
func scanNewest(rows *sql.Rows, newest map[string]uint64) error {
	defer rows.Close()
	for rows.Next() {
		var (
			topic string
			seq   sql.NullInt64
		)
		if err := rows.Scan(&topic, &seq); err != nil {
			return err
		}
		if seq.Valid && uint64(seq.Int64) > newest[topic] {
			newest[topic] = uint64(seq.Int64)
		}
	}
	return rows.Err()
}

// eventsAt reads the events whose seqs are the values of newest (by
// topic), in log order.
func (s *Store) eventsAt(ctx context.Context, tx *sql.Tx, newest map[string]uint64) ([]hearth.Event, error) {
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
