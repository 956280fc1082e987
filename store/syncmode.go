package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// syncMode keeps track of the writer connection's PRAGMA synchronous, which
// Run switches per commit:
//
//   - FULL (the connection's default, see dsn) for a batch that holds a
//     message somebody waits for (QoS 1 or 2): SQLite syncs the write-ahead
//     log before the commit returns, so the acknowledgement that follows is
//     true even after a power cut;
//   - NORMAL for a batch nobody waits for (QoS 0 messages, state changes,
//     commands, traces), unless the last FULL commit is syncEvery old, and
//     for derived data (the index tables, the devices snapshot): SQLite
//     writes the WAL without syncing it.
//
// Why this keeps "acknowledged means durable": in WAL mode a commit with
// FULL syncs the WAL file (fsync covers the whole file), so it makes every
// earlier NORMAL commit durable too. A power cut can take back only NORMAL
// commits after the last FULL one, and only a suffix of them: recovery
// replays WAL frames while their running checksums hold and stops at the
// first that does not, so the log never has a hole. Every acknowledged
// message is in a FULL commit or before one. A kill -9 of the hub loses
// nothing that was committed in either mode: the WAL is in the kernel's
// hands. (sqlite.org/pragma.html#pragma_synchronous, sqlite.org/wal.html.)
// syncEvery keeps what a power cut can take of the QoS 0 events where it
// was, about the last second (the quiet delay's): without it a house whose
// sensors all send QoS 0 would sync only at checkpoints, minutes apart.
//
// What it saves is the fsyncs of a busy house's commits (four a second at
// 1,000 QoS 0 events a second, one with it): on an SD card each forces a
// partly written flash page to be programmed, which the next commit
// programs again. The bytes handed to the kernel are the same.
//
// The setting cannot change inside a transaction, and the writer connection
// is shared with the store's other writes (timers, settings, users), which
// must stay FULL: so the caller holds the connection (sql.Conn) from the
// switch to NORMAL through its commit and back. It belongs to Run's
// goroutine.
type syncMode struct {
	normal   bool      // the writer connection is at NORMAL
	lastFull bool      // the last commit ran with FULL (for tests)
	synced   time.Time // when the last FULL commit (or Open) was
}

// syncEvery is how long commits nobody waits for may go without a sync.
const syncEvery = time.Second

// set puts conn at FULL or at NORMAL.
func (m *syncMode) set(ctx context.Context, conn *sql.Conn, full bool) error {
	if full == !m.normal {
		return nil
	}
	mode := "NORMAL"
	if full {
		mode = "FULL"
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = "+mode); err != nil {
		return fmt.Errorf("synchronous = %s: %w", mode, err)
	}
	m.normal = !full
	return nil
}

// commitSet is set for a group commit: FULL when somebody waits for it or
// the last sync is syncEvery old.
func (m *syncMode) commitSet(ctx context.Context, conn *sql.Conn, waited bool, now time.Time) error {
	full := waited || now.Sub(m.synced) >= syncEvery
	if err := m.set(ctx, conn, full); err != nil {
		return err
	}
	m.lastFull = full
	if full {
		m.synced = now // as good as: the commit fails if the sync does
	}
	return nil
}

// restore puts conn back at FULL. If that fails the connection stays at
// NORMAL and m knows it: the next commit that needs FULL sets it first.
func (m *syncMode) restore(conn *sql.Conn) {
	_ = m.set(context.Background(), conn, true) //nolint:errcheck // see above
}
