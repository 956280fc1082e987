package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// OpenReadOnly opens an existing database for reading only, for tools and
// checks that look at a hub's data folder while the hub runs, or after it
// stopped or crashed. It does not migrate, and it never writes the database
// file: a read-only connection does not checkpoint the write-ahead log when
// it closes, so a log left by a crash stays for the hub to recover as it
// would have without the look. Only the read methods work on it (Events,
// Replay, Devices, RebuildDevices, Timers, IntegrityCheck and the like).
func OpenReadOnly(path string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open store %q read-only: the path must be non-empty and free of '?' and '#'", path)
	}
	// SQLite would create an empty file for a wrong path; say it is missing.
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open store read-only: %w", err)
	}
	s := &Store{log: log.With("component", "store"), path: path}
	var err error
	// A "file:" name makes SQLite read its own URI parameters (mode=ro),
	// where '%' starts an escape.
	uri := "file:" + dsn(strings.ReplaceAll(path, "%", "%25"), false) + "&mode=ro"
	if s.r, err = sql.Open("sqlite", uri); err != nil {
		return nil, fmt.Errorf("open store %s read-only: %w", path, err)
	}
	s.r.SetMaxOpenConns(maxReaders)
	s.r.SetMaxIdleConns(1)
	if err := s.r.PingContext(context.Background()); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s read-only: %w", path, err), s.Close())
	}
	return s, nil
}

// IntegrityCheck runs SQLite's integrity_check over the whole file (every
// page, index and constraint) and returns nil when it reports "ok", or an
// error listing what it found.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	rows, err := s.r.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("integrity check: %w", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("integrity check of %s: %s", s.path, strings.Join(problems, "; "))
	}
	return nil
}
