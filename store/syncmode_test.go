package store

import (
	"context"
	"testing"
	"time"

	"hearth"
)

// writerSync reads PRAGMA synchronous on the writer connection: 1 NORMAL,
// 2 FULL.
func writerSync(t *testing.T, st *Store) int {
	t.Helper()
	var level int
	if err := st.w.QueryRowContext(context.Background(), `PRAGMA synchronous`).Scan(&level); err != nil {
		t.Fatal(err)
	}
	return level
}

func TestCommitsWaitForTheDiskOnlyWhenSomebodyWaits(t *testing.T) {
	ctx := context.Background()
	quiet := []hearth.Event{{Kind: hearth.KindMessage, Topic: "home/lux", Payload: []byte(`{"illuminance":3}`)},
		{Kind: hearth.KindState, Device: "lux", Payload: []byte(`{"illuminance":3}`)}}
	acked := []hearth.Event{{Kind: hearth.KindMessage, Topic: "home/lock", QoS: 1, Payload: []byte(`{"locked":true}`)}}
	for _, c := range []struct {
		name     string
		batch    []hearth.Event
		stuck    bool          // the writer was left at NORMAL by a failed restore
		synced   time.Duration // how long ago the last FULL commit was
		wantFull bool
	}{
		{"a batch nobody waits for commits with NORMAL", quiet, false, 0, false},
		{"a batch nobody waits for commits with FULL a second after the last sync", quiet, false, syncEvery, true},
		{"a batch with a QoS 1 message commits with FULL", acked, false, 0, true},
		{"a QoS 1 message mixed into a quiet batch makes it FULL", append(append([]hearth.Event(nil), quiet...), acked...), false, 0, true},
		{"a writer left at NORMAL is set back to FULL before a QoS 1 commit", acked, true, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := openStore(t)
			if c.stuck {
				conn, err := st.w.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := st.sync.set(ctx, conn, false); err != nil {
					t.Fatal(err)
				}
				conn.Close()
				if writerSync(t, st) != 1 {
					t.Fatal("could not put the writer at NORMAL")
				}
			}
			st.sync.synced = time.Now().Add(-c.synced)
			commitDirect(t, st, append([]hearth.Event(nil), c.batch...))
			if st.sync.lastFull != c.wantFull {
				t.Fatalf("commit with FULL = %v, want %v", st.sync.lastFull, c.wantFull)
			}
			// The store's other writes (timers, settings, users) share the
			// connection: it is back at FULL for them.
			if got := writerSync(t, st); got != 2 {
				t.Fatalf("writer at synchronous %d after the commit, want 2 (FULL)", got)
			}
			if err := st.SaveTimer(ctx, hearth.PendingTimer{ID: "t", Automation: "a", Due: time.Unix(1, 0)}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
