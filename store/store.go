// Package store keeps Hearth's append-only event log and the persisted device
// read model in SQLite (modernc.org/sqlite, no cgo).
//
// One writer connection appends in group commits (Run); readers use a small
// pool of read-only connections. The file runs in WAL mode with
// synchronous=FULL: a commit the store reports durable survives a power loss.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// busyTimeout is how long, in milliseconds, a connection waits for a lock
// held by another connection (a checkpoint, a backup) before failing.
const busyTimeout = 5000

// maxReaders bounds the read pool: SQLite readers cost memory and the hub
// runs on a Raspberry Pi; a handful is plenty for the page and start-up.
const maxReaders = 4

// ErrNotFound is returned when the asked event is not in the log. It also has
// a NotFound() bool method, so a package that does not import store can
// recognise it with errors.As on a small interface of its own.
var ErrNotFound error = notFoundError{}

type notFoundError struct{}

func (notFoundError) Error() string  { return "not found" }
func (notFoundError) NotFound() bool { return true }

// Store is the event log and the persisted device read model in one SQLite file.
type Store struct {
	log  *slog.Logger
	path string
	w    *sql.DB // exactly one connection: every write goes through it
	r    *sql.DB // read-only pool

	upsertDevice *sql.Stmt
	setStateSeq  *sql.Stmt

	batches atomic.Uint64 // committed group commits, for tests and logs
	held    atomic.Uint64 // batches held for the ack delay, for tests

	// quietDelay is how long Run holds a batch nobody waits for before it
	// commits it (see gather); set before Run.
	quietDelay time.Duration
	// ackDelay is how long Run may hold a batch somebody waits for, while
	// QoS 1 messages come fast from several clients (see ackGather); set
	// before Run. ack belongs to Run.
	ackDelay time.Duration
	ack      ackGather

	// The write path's state, besides the database: the log's tail, indexed
	// in memory (tail.go); the indexer that moves it into the index tables
	// (bulkindex.go); the device changes the devices table does not have
	// yet (snapshot.go); the writer's synchronous setting (syncmode.go).
	// Only the tail is shared with readers; the rest belong to Run.
	tail    tail
	indexer indexer
	snap    deviceSnapshot
	sync    syncMode
	// Traces are stored compressed (compress.go): Run deflates them, reads
	// inflate them.
	deflate compressor
	inflate inflaters

	// disk is what Run does, and where it is, while the disk refuses the
	// log (trouble.go).
	disk diskState

	ret retention // Prune's state and totals (retention.go)
}

// DefaultQuietDelay is how long a batch of events nobody waits for (QoS 0
// messages, state changes, commands) may wait to share its commit with the
// next ones. A kill -9 or a power cut loses at most this much of them; an
// acknowledged QoS 1 message is never held back.
const DefaultQuietDelay = time.Second

// SetQuietDelay changes DefaultQuietDelay for this store; 0 commits every
// batch at once. Call it before Run.
func (s *Store) SetQuietDelay(d time.Duration) { s.quietDelay = d }

// DefaultAckDelay is how long a batch holding a QoS 1 message may wait to
// share its commit with the next ones while many come at once (see
// ackGather in run.go): their acknowledgements come up to this much later.
// A house sending QoS 1 now and then never waits.
const DefaultAckDelay = time.Millisecond

// Open opens (creating if needed) the database at path, with its folder made
// 0700 and its file 0600, and brings its schema up to date.
func Open(path string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "store")
	if path == "" || strings.ContainsAny(path, "?#") {
		// The driver splits the DSN at '?', so such a name would open another file.
		return nil, fmt.Errorf("open store %q: the path must be non-empty and free of '?' and '#'", path)
	}
	if err := createFile(path); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}

	s := &Store{log: log, path: path, quietDelay: DefaultQuietDelay, ackDelay: DefaultAckDelay,
		indexer: indexer{every: defaultIndexEvery, age: defaultIndexAge, chunk: defaultIndexChunk},
		snap:    deviceSnapshot{every: defaultSnapshotEvery, interval: defaultSnapshotInterval},
	}
	if err := s.open(); err != nil {
		if cause, disk := diskTrouble(err); disk { // trouble.go: say it in words
			err = fmt.Errorf("%s: %w", cause, err)
		}
		return nil, errors.Join(fmt.Errorf("open store %s: %w", path, err), s.Close())
	}
	return s, nil
}

func (s *Store) open() error {
	ctx := context.Background()
	var err error
	// The writer is opened first: it switches the file to WAL and migrates
	// before any reader looks at the schema.
	if s.w, err = sql.Open("sqlite", dsn(s.path, true)); err != nil {
		return err
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, s.w, s.log); err != nil {
		return err
	}
	if s.r, err = sql.Open("sqlite", dsn(s.path, false)); err != nil {
		return err
	}
	// One idle reader is kept; more are closed after use, which frees their
	// page cache (up to 2 MB each) on a small machine.
	s.r.SetMaxOpenConns(maxReaders)
	s.r.SetMaxIdleConns(1)
	if err := s.r.PingContext(ctx); err != nil {
		return err
	}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&s.upsertDevice, upsertDeviceSQL},
		{&s.setStateSeq, setStateSeqSQL},
	} {
		if *p.stmt, err = s.w.PrepareContext(ctx, p.sql); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	// The events above the index tables' high-water mark: few after a clean
	// stop, at most the indexer's threshold after a crash. And the device
	// changes a crash kept out of the devices table, for its next snapshot.
	if err := s.tail.load(ctx, s.w); err != nil {
		return err
	}
	s.sync.synced = time.Now()
	return s.snap.load(ctx, s.w)
}

// createFile makes the database file 0600 and its missing folders 0700, and
// syncs each folder it adds an entry to: SQLite syncs the folder of its WAL
// but not the folders above, and a first start must survive a power cut too.
// SQLite gives its -wal and -shm files the database file's permissions.
func createFile(path string) error {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := createFolder(dir); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncFolder(dir)
}

// createFolder makes dir and any missing parent 0700, syncing each parent.
func createFolder(dir string) error {
	parent := filepath.Dir(dir)
	if _, err := os.Stat(parent); errors.Is(err, os.ErrNotExist) && parent != dir {
		if err := createFolder(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return syncFolder(parent)
}

func syncFolder(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// dsn builds the connection string. The pragmas go through _pragma so that
// every connection the pool opens gets them, not just the first one. The
// writer begins its transactions IMMEDIATE so it takes the write lock up
// front instead of failing to upgrade a read lock halfway.
func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	if writer {
		q.Set("_txlock", "immediate")
		// A new database gives the pages retention frees back to the file
		// system bit by bit (PRAGMA incremental_vacuum). On an existing one
		// this only takes effect with a VACUUM, which the hub never runs
		// by itself: its free pages are reused instead (retention.go).
		q.Add("_pragma", "auto_vacuum(2)")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return path + "?" + q.Encode()
}

// Close closes the database. Run must have returned first.
func (s *Store) Close() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.upsertDevice, s.setStateSeq} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	// Readers first: the last connection to close checkpoints the WAL.
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}
