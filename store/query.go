package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"hearth"
)

// Query selects events from the log, newest first: Device, Topic and Kind
// filter when set, Before pages back (0: from the newest), Limit defaults to
// DefaultLimit and is capped at MaxLimit. It is the root package's
// EventQuery, so that the Store is a hearth.EventLog.
type Query = hearth.EventQuery

// The page sizes of Events.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// replayChunk is how many events Replay reads per query: the read snapshot
// is released between chunks, so a long replay neither holds the WAL from
// being checkpointed nor keeps a pooled connection while fn runs.
const replayChunk = 512

const eventColumns = `seq, time, kind, topic, device, client, payload, prev, qos, retain, cause_seq, cause_run, cause_source`

var _ hearth.EventLog = (*Store)(nil)

// LastSeq returns the highest sequence number in the log, 0 when it is empty.
func (s *Store) LastSeq(ctx context.Context) (uint64, error) {
	var last int64
	if err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&last); err != nil {
		return 0, fmt.Errorf("last seq: %w", err)
	}
	return uint64(last), nil
}

// Event returns the event with sequence number seq, or an error wrapping
// ErrNotFound.
func (s *Store) Event(ctx context.Context, seq uint64) (hearth.Event, error) {
	row := s.r.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events WHERE seq = ?`, int64(seq))
	e, err := s.scanEvent(row)
	if errors.Is(err, sql.ErrNoRows) {
		return hearth.Event{}, fmt.Errorf("event %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return hearth.Event{}, fmt.Errorf("event %d: %w", seq, err)
	}
	return e, nil
}

// Events returns the events matching q, newest first. An unknown Kind
// matches nothing.
func (s *Store) Events(ctx context.Context, q Query) ([]hearth.Event, error) {
	var (
		out []hearth.Event
		err error
	)
	if q.Device == "" && q.Topic == "" && q.Kind == "" {
		// The newest events are the end of the table: its primary key.
		query, args := `SELECT `+eventColumns+` FROM events ORDER BY seq DESC LIMIT ?`, []any{limit(q.Limit)}
		if q.Before > 0 {
			query, args = `SELECT `+eventColumns+` FROM events WHERE seq < ? ORDER BY seq DESC LIMIT ?`, []any{int64(q.Before), limit(q.Limit)}
		}
		out, err = s.queryEvents(ctx, query, args, []hearth.Event{})
	} else {
		out, err = s.filteredEvents(ctx, q) // lookup.go
	}
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return out, nil
}

// limit applies the default and the cap to a requested page size.
func limit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// Replay calls fn with every event whose sequence number is at least from,
// in log order, and stops at fn's first error, which it returns. It reads in
// chunks, so the log is never all in memory; events appended meanwhile are
// replayed too.
func (s *Store) Replay(ctx context.Context, from uint64, fn func(hearth.Event) error) error {
	buf := make([]hearth.Event, 0, replayChunk)
	next := from
	for {
		var err error
		buf, err = s.queryEvents(ctx,
			`SELECT `+eventColumns+` FROM events WHERE seq >= ? ORDER BY seq LIMIT ?`,
			[]any{int64(next), replayChunk}, buf[:0])
		if err != nil {
			return fmt.Errorf("replay from %d: %w", next, err)
		}
		for _, e := range buf {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(buf) < replayChunk {
			return nil
		}
		next = buf[len(buf)-1].Seq + 1
	}
}

// queryEvents runs an event query on the read pool and appends its rows to
// out.
func (s *Store) queryEvents(ctx context.Context, query string, args []any, out []hearth.Event) ([]hearth.Event, error) {
	return s.queryEventsOn(ctx, s.r, query, args, out)
}

// scanEvent reads one row of eventColumns, inflating a compressed trace
// (compress.go).
func (s *Store) scanEvent(row interface{ Scan(...any) error }) (hearth.Event, error) {
	var (
		e                   hearth.Event
		seq, nano, causeSeq int64
		qos, retain         int64
		kind                string
		payload, prev       []byte
	)
	err := row.Scan(&seq, &nano, &kind, &e.Topic, &e.Device, &e.Client, &payload, &prev,
		&qos, &retain, &causeSeq, &e.Cause.Run, &e.Cause.Source)
	if err != nil {
		return hearth.Event{}, err
	}
	e.Seq, e.Time, e.Kind = uint64(seq), fromUnixNano(nano), hearth.Kind(kind)
	e.QoS, e.Retain, e.Cause.Seq = byte(qos), retain != 0, uint64(causeSeq)
	if payload, err = s.inflate.payload(e.Kind, payload); err != nil {
		return hearth.Event{}, fmt.Errorf("event %d: %w", seq, err)
	}
	if len(payload) > 0 {
		e.Payload = payload
	}
	if len(prev) > 0 {
		e.Prev = prev
	}
	return e, nil
}
