package store

import (
	"context"
	"errors"
	"fmt"

	"hearth"
)

// What the automations engine keeps across restarts (its Persist interface):
// pending timers and the automations people turned off.
//
// The writes go through the writer connection that Run's group commits use.
// The writer pool holds exactly one connection, and database/sql hands it to
// one caller at a time: a SaveTimer that arrives while a batch is being
// committed waits in the pool's queue until that transaction ends (or its
// ctx does), rather than opening a second connection that would meet the
// batch's write lock and fail with SQLITE_BUSY. Each write is one short
// autocommit statement, so a group commit waits behind it at most that long.
// See TestAutomationWritesShareTheWriter.

// errEmptyID is returned for a timer or automation without an id.
var errEmptyID = errors.New("empty id")

// SaveTimer stores t, replacing a pending timer with the same ID.
func (s *Store) SaveTimer(ctx context.Context, t hearth.PendingTimer) error {
	if t.ID == "" {
		return fmt.Errorf("save timer of %q: %w", t.Automation, errEmptyID)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO timers (id, automation, due, state) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			automation = excluded.automation,
			due        = excluded.due,
			state      = excluded.state`,
		t.ID, t.Automation, unixNano(t.Due), blob(t.State))
	if err != nil {
		return fmt.Errorf("save timer %q: %w", t.ID, err)
	}
	return nil
}

// DeleteTimer forgets the pending timer id; an unknown id is not an error.
func (s *Store) DeleteTimer(ctx context.Context, id string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM timers WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete timer %q: %w", id, err)
	}
	return nil
}

// Timers returns every pending timer, soonest first (by ID among equals).
func (s *Store) Timers(ctx context.Context) ([]hearth.PendingTimer, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, automation, due, state FROM timers ORDER BY due, id`)
	if err != nil {
		return nil, fmt.Errorf("timers: %w", err)
	}
	defer rows.Close()
	out := []hearth.PendingTimer{}
	for rows.Next() {
		var (
			t     hearth.PendingTimer
			due   int64
			state []byte
		)
		if err := rows.Scan(&t.ID, &t.Automation, &due, &state); err != nil {
			return nil, fmt.Errorf("timers: %w", err)
		}
		t.Due = fromUnixNano(due)
		if len(state) > 0 {
			t.State = state
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("timers: %w", err)
	}
	return out, nil
}

// SetEnabled remembers whether the automation is enabled.
func (s *Store) SetEnabled(ctx context.Context, automation string, enabled bool) error {
	if automation == "" {
		return fmt.Errorf("set enabled: %w", errEmptyID)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO automation_settings (id, enabled) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled`,
		automation, boolInt(enabled))
	if err != nil {
		return fmt.Errorf("set enabled of %q: %w", automation, err)
	}
	return nil
}

// Disabled returns the ids of the automations people turned off, sorted.
func (s *Store) Disabled(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM automation_settings WHERE enabled = 0 ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("disabled automations: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("disabled automations: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("disabled automations: %w", err)
	}
	return out, nil
}
