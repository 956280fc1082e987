package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
)

// migration is one numbered step of the schema. Steps are only ever
// appended: a released step never changes, a fix is a new step.
type migration struct {
	version int
	name    string
	stmts   []string
}

// migrations is the schema's history; the database records in PRAGMA
// user_version how many of them it has applied.
var migrations = []migration{
	{1, "event log, devices, meta", []string{
		// seq is the rowid: appends go to the end of the table's b-tree, and
		// every secondary index implicitly ends with it.
		`CREATE TABLE events (
			seq          INTEGER PRIMARY KEY,
			time         INTEGER NOT NULL,
			kind         TEXT    NOT NULL,
			topic        TEXT    NOT NULL DEFAULT '',
			device       TEXT    NOT NULL DEFAULT '',
			client       TEXT    NOT NULL DEFAULT '',
			payload      BLOB,
			prev         BLOB,
			qos          INTEGER NOT NULL DEFAULT 0,
			retain       INTEGER NOT NULL DEFAULT 0,
			cause_seq    INTEGER NOT NULL DEFAULT 0,
			cause_run    TEXT    NOT NULL DEFAULT '',
			cause_source TEXT    NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX events_device ON events (device, seq)`,
		`CREATE INDEX events_topic ON events (topic, seq)`,
		`CREATE INDEX events_kind ON events (kind, seq)`,
		// state is the device's attributes as a JSON object, NULL when only
		// its availability is known; availability is NULL when unknown.
		`CREATE TABLE devices (
			id           TEXT PRIMARY KEY,
			state        BLOB,
			availability TEXT,
			updated      INTEGER NOT NULL,
			seq          INTEGER NOT NULL
		) WITHOUT ROWID`,
		`CREATE TABLE meta (
			key   TEXT PRIMARY KEY,
			value
		) WITHOUT ROWID`,
		`INSERT INTO meta (key, value) VALUES ('state_seq', 0)`,
	}},
	{2, "device names and rooms", []string{
		// What people say about a device, set on the page; kept apart from
		// the devices table, which is a fold of the log and can be rebuilt.
		`CREATE TABLE device_meta (
			id   TEXT PRIMARY KEY,
			name TEXT NOT NULL DEFAULT '',
			room TEXT NOT NULL DEFAULT ''
		) WITHOUT ROWID`,
	}},
	{3, "automation timers and settings", []string{
		// The pending timers of the automations engine (automations.go): due
		// is Unix nanoseconds, state the engine's own JSON. A few rows at a
		// time, read whole at start-up, so no index beyond the key.
		`CREATE TABLE timers (
			id         TEXT PRIMARY KEY,
			automation TEXT    NOT NULL,
			due        INTEGER NOT NULL,
			state      BLOB
		)`,
		// Whether people turned an automation off on the page; an automation
		// with no row is enabled.
		`CREATE TABLE automation_settings (
			id      TEXT PRIMARY KEY,
			enabled INTEGER NOT NULL
		) WITHOUT ROWID`,
	}},
	{4, "page users, sessions and API tokens", []string{
		// The people who log in to the page: hash is bcrypt.
		`CREATE TABLE web_users (
			name TEXT PRIMARY KEY,
			hash TEXT NOT NULL
		) WITHOUT ROWID`,
		// A session's id is a random secret kept in a cookie; only its
		// SHA-256 is stored, so a copy of the file logs nobody in.
		// expires is Unix nanoseconds.
		`CREATE TABLE sessions (
			id      TEXT PRIMARY KEY,
			user    TEXT    NOT NULL REFERENCES web_users (name) ON DELETE CASCADE,
			expires INTEGER NOT NULL
		) WITHOUT ROWID`,
		`CREATE INDEX sessions_user ON sessions (user)`,
		// Long-lived API tokens for scripts: hash is the token's SHA-256;
		// created and revoked are Unix nanoseconds, revoked 0 while valid.
		`CREATE TABLE tokens (
			id      TEXT PRIMARY KEY,
			name    TEXT    NOT NULL,
			user    TEXT    NOT NULL REFERENCES web_users (name) ON DELETE CASCADE,
			hash    TEXT    NOT NULL UNIQUE,
			created INTEGER NOT NULL,
			revoked INTEGER NOT NULL DEFAULT 0
		) WITHOUT ROWID`,
	}},
	{5, "downsampled history", []string{
		// Numeric attributes of state events folded per device, attribute
		// and hour before retention deletes the events (downsample.go).
		// bucket is the hour's start in Unix seconds; sum and count make
		// the mean; last is the newest value, carried into a chart that
		// starts after it. REAL columns keep whole numbers as integers on
		// disk, so a row is about 50 bytes.
		`CREATE TABLE history (
			device TEXT    NOT NULL,
			attr   TEXT    NOT NULL,
			bucket INTEGER NOT NULL,
			min    REAL    NOT NULL,
			max    REAL    NOT NULL,
			sum    REAL    NOT NULL,
			count  INTEGER NOT NULL,
			last   REAL    NOT NULL,
			PRIMARY KEY (device, attr, bucket)
		) WITHOUT ROWID`,
		// Every state event up to this sequence number is in history:
		// History reads raw events only after it, so an event folded but
		// not yet deleted (a crash in between) never counts twice.
		`INSERT INTO meta (key, value) VALUES ('history_seq', 0)`,
	}},
	{6, "events indexed in bulk", []string{
		// The log's indexes by device, topic and kind as tables of their
		// own, filled in bulk from the tail of the log held in memory
		// (bulkindex.go, tail.go) rather than at every commit. Events with
		// no device or topic are not indexed by it: nothing asks for "".
		`CREATE TABLE events_by_device (
			device TEXT    NOT NULL,
			seq    INTEGER NOT NULL,
			PRIMARY KEY (device, seq)
		) WITHOUT ROWID`,
		`CREATE TABLE events_by_topic (
			topic TEXT    NOT NULL,
			seq   INTEGER NOT NULL,
			PRIMARY KEY (topic, seq)
		) WITHOUT ROWID`,
		`CREATE TABLE events_by_kind (
			kind TEXT    NOT NULL,
			seq  INTEGER NOT NULL,
			PRIMARY KEY (kind, seq)
		) WITHOUT ROWID`,
		`INSERT INTO events_by_device (device, seq) SELECT device, seq FROM events WHERE device <> '' ORDER BY device, seq`,
		`INSERT INTO events_by_topic (topic, seq) SELECT topic, seq FROM events WHERE topic <> '' ORDER BY topic, seq`,
		`INSERT INTO events_by_kind (kind, seq) SELECT kind, seq FROM events ORDER BY kind, seq`,
		// Every event up to indexed_seq is in the three tables.
		`INSERT INTO meta (key, value) SELECT 'indexed_seq', coalesce(max(seq), 0) FROM events`,
		// The events table keeps only its primary key: its new rows go to
		// the end of its b-tree, and nothing else is written at a commit.
		`DROP INDEX events_device`,
		`DROP INDEX events_topic`,
		`DROP INDEX events_kind`,
		// Their pages go back to the file system where the database allows
		// it (auto_vacuum, on every database created since retention came);
		// elsewhere new events reuse them.
		`PRAGMA incremental_vacuum`,
	}},
	{7, "retained messages", []string{
		// The retained message of each topic, by the event that holds it,
		// as the embedded broker had them: written with the devices
		// snapshot (snapshot.go), read at start-up with the retained
		// publishes logged after state_seq, so that what clients retained
		// outlives a restart as it does on Mosquitto. Retention keeps the
		// events named here.
		`CREATE TABLE retained (
			topic TEXT    PRIMARY KEY,
			seq   INTEGER NOT NULL
		) WITHOUT ROWID`,
		`INSERT INTO retained (topic, seq)
			SELECT r.topic, r.seq FROM (
				SELECT topic, max(seq) AS seq FROM events
				WHERE retain = 1 AND kind IN ('message', 'command') AND topic <> ''
				GROUP BY topic) AS r
			JOIN events AS e ON e.seq = r.seq
			WHERE length(e.payload) > 0`,
	}},
}

// migrate applies the steps the database lacks, each in its own transaction
// together with the new user_version, so a crash leaves either the old or
// the new schema. The version is read inside the (IMMEDIATE) transaction, so
// two processes opening the same file cannot both apply a step.
func migrate(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	for {
		done, err := migrateOne(ctx, db, log)
		if err != nil || done {
			return err
		}
	}
}

func migrateOne(ctx context.Context, db *sql.DB, log *slog.Logger) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return false, fmt.Errorf("migrate: read schema version: %w", err)
	}
	switch {
	case v > len(migrations):
		return false, fmt.Errorf("migrate: schema version %d is newer than this program knows (%d)", v, len(migrations))
	case v == len(migrations):
		return true, nil
	}
	m := migrations[v]
	for _, stmt := range m.stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return false, fmt.Errorf("migrate to %d (%s): %w", m.version, m.name, err)
		}
	}
	// PRAGMA takes no parameters; the version is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
		return false, fmt.Errorf("migrate to %d: set version: %w", m.version, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate to %d: commit: %w", m.version, err)
	}
	log.Info("schema migrated", "version", m.version, "step", m.name)
	return false, nil
}
