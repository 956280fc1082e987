package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth"
	"hearth/automations"
)

// The store is what cmd/hub hands the automations engine as its Persist.
var _ automations.Persist = (*Store)(nil)

func TestAutomationsPersist(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hearth.db")
	st, err := Open(path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			st.Close()
		}
	})
	// Every call below goes through the interface the engine sees.
	var p automations.Persist = st

	base := time.Date(2025, 6, 1, 18, 30, 0, 123456789, time.UTC)
	timer := func(id string, in time.Duration, state string) hearth.PendingTimer {
		pt := hearth.PendingTimer{ID: id, Automation: "hall_light", Due: base.Add(in)}
		if state != "" {
			pt.State = []byte(state)
		}
		return pt
	}

	t.Run("a new store has no timers and nothing disabled", func(t *testing.T) {
		timers, err := p.Timers(ctx)
		if err != nil || timers == nil || len(timers) != 0 {
			t.Fatalf("Timers = %#v, %v; want an empty list", timers, err)
		}
		disabled, err := p.Disabled(ctx)
		if err != nil || disabled == nil || len(disabled) != 0 {
			t.Fatalf("Disabled = %#v, %v; want an empty list", disabled, err)
		}
	})

	t.Run("a timer comes back with its automation, due time to the nanosecond and state", func(t *testing.T) {
		want := timer("hall_light#1/delay/0", 5*time.Minute, `{"run":"hall_light#1","step":[0],"vars":{"x":1}}`)
		mustSave(t, p, want)
		sameTimers(t, mustTimers(t, p), []hearth.PendingTimer{want})
	})

	t.Run("saving a timer with a known id replaces it", func(t *testing.T) {
		want := timer("hall_light#1/delay/0", 10*time.Minute, `{"step":[1]}`)
		want.Automation = "porch"
		mustSave(t, p, want)
		sameTimers(t, mustTimers(t, p), []hearth.PendingTimer{want})
	})

	t.Run("a timer without state comes back without state", func(t *testing.T) {
		want := timer("hall_light#1/delay/0", 10*time.Minute, "")
		mustSave(t, p, want)
		sameTimers(t, mustTimers(t, p), []hearth.PendingTimer{want})
	})

	t.Run("a timer without an id is refused", func(t *testing.T) {
		if err := p.SaveTimer(ctx, timer("", time.Minute, "")); err == nil {
			t.Fatal("SaveTimer accepted an empty id")
		}
		if got := mustTimers(t, p); len(got) != 1 {
			t.Fatalf("got %d timers, want 1", len(got))
		}
	})

	t.Run("deleting a timer forgets it and deleting an unknown one is fine", func(t *testing.T) {
		for _, id := range []string{"hall_light#1/delay/0", "hall_light#1/delay/0", "never_saved"} {
			if err := p.DeleteTimer(ctx, id); err != nil {
				t.Fatalf("DeleteTimer(%q): %v", id, err)
			}
		}
		if got := mustTimers(t, p); len(got) != 0 {
			t.Fatalf("got %+v, want no timers", got)
		}
	})

	t.Run("timers come back soonest first and by id among equals", func(t *testing.T) {
		saved := []hearth.PendingTimer{
			timer("c", time.Hour, ""),
			timer("b", -time.Hour, `{"overdue":true}`), // due while the hub was down
			timer("z", time.Minute, ""),
			timer("a", time.Minute, ""),
			timer("d", time.Nanosecond, ""),
		}
		for _, pt := range saved {
			mustSave(t, p, pt)
		}
		want := []hearth.PendingTimer{saved[1], saved[4], saved[3], saved[2], saved[0]}
		sameTimers(t, mustTimers(t, p), want)
	})

	t.Run("disabling and enabling automations is remembered and listed sorted", func(t *testing.T) {
		for _, s := range []struct {
			id      string
			enabled bool
		}{
			{"porch", false}, {"hall_light", false}, {"alarm", true}, {"Zebra", false},
			{"hall_light", true}, {"hall_light", false}, {"porch", true}, {"bedroom", false},
		} {
			if err := p.SetEnabled(ctx, s.id, s.enabled); err != nil {
				t.Fatalf("SetEnabled(%q, %t): %v", s.id, s.enabled, err)
			}
		}
		want := []string{"Zebra", "bedroom", "hall_light"}
		if got, err := p.Disabled(ctx); err != nil || !slices.Equal(got, want) {
			t.Fatalf("Disabled = %q, %v; want %q", got, err, want)
		}
		if err := p.SetEnabled(ctx, "", false); err == nil {
			t.Fatal("SetEnabled accepted an empty id")
		}
	})

	t.Run("timers and settings survive closing and reopening the file", func(t *testing.T) {
		timers := mustTimers(t, p)
		disabled, err := p.Disabled(ctx)
		if err != nil {
			t.Fatal(err)
		}
		closed = true
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		var again automations.Persist = openAt(t, path)
		sameTimers(t, mustTimers(t, again), timers)
		if got, err := again.Disabled(ctx); err != nil || !slices.Equal(got, disabled) {
			t.Fatalf("after reopen Disabled = %q, %v; want %q", got, err, disabled)
		}
	})
}

func TestAutomationWritesShareTheWriter(t *testing.T) {
	ctx := context.Background()

	// holdWriter begins a transaction on the writer connection, as a group
	// commit does, and writes an event in it so the file's write lock is held.
	holdWriter := func(t *testing.T, st *Store) *sql.Tx {
		t.Helper()
		tx, err := st.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tx.Rollback() })
		if _, err := tx.ExecContext(ctx, insertEventSQL,
			1, 1, string(hearth.KindMessage), "home/x", "", "", nil, nil, 0, 0, 0, "", ""); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	// waitForWaiter polls until n callers have queued for the writer.
	waitForWaiter := func(t *testing.T, st *Store, n int64) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for st.w.Stats().WaitCount < n {
			if time.Now().After(deadline) {
				t.Fatalf("no caller queued for the writer connection")
			}
			time.Sleep(time.Millisecond)
		}
	}

	t.Run("a SaveTimer during a commit waits for it instead of failing busy", func(t *testing.T) {
		st := openStore(t)
		tx := holdWriter(t, st)
		done := make(chan error, 1)
		go func() { done <- st.SaveTimer(ctx, hearth.PendingTimer{ID: "t", Automation: "a", Due: time.Unix(1, 0)}) }()
		waitForWaiter(t, st, 1)
		select {
		case err := <-done:
			t.Fatalf("SaveTimer returned %v while the commit was open", err)
		default:
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("SaveTimer after the commit: %v", err)
		}
		if got := mustTimers(t, st); len(got) != 1 {
			t.Fatalf("got %d timers, want 1", len(got))
		}
		if last, err := st.LastSeq(ctx); err != nil || last != 1 {
			t.Fatalf("LastSeq = %d, %v; want the commit's event", last, err)
		}
	})

	t.Run("a SaveTimer whose ctx ends while it waits returns ctx's error and writes nothing", func(t *testing.T) {
		st := openStore(t)
		tx := holdWriter(t, st)
		waitCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- st.SaveTimer(waitCtx, hearth.PendingTimer{ID: "t", Automation: "a"}) }()
		waitForWaiter(t, st, 1)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("SaveTimer = %v, want context.Canceled", err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := mustTimers(t, st); len(got) != 0 {
			t.Fatalf("got %+v, want no timers", got)
		}
	})

	t.Run("timer writes while Run commits batches from a bus all succeed and the log stays whole", func(t *testing.T) {
		st := openStore(t)
		r := startRun(t, st)
		const publishers, each, timers = 2, 300, 200
		var wg sync.WaitGroup
		errs := make(chan error, publishers+1)
		for p := range publishers {
			wg.Go(func() {
				for i := range each {
					e, err := r.bus.Publish(hearth.Event{Kind: hearth.KindMessage, Client: fmt.Sprint(p), QoS: byte(i % 2)})
					if err == nil && e.QoS == 1 {
						err = r.bus.WaitDurable(ctx, e.Seq)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Go(func() {
			for i := range timers {
				id := fmt.Sprintf("t%03d", i)
				err := st.SaveTimer(ctx, hearth.PendingTimer{ID: id, Automation: "a", Due: time.Unix(int64(i), 0)})
				if err == nil && i%2 == 1 {
					err = st.DeleteTimer(ctx, id)
				}
				if err == nil && i%10 == 0 {
					err = st.SetEnabled(ctx, fmt.Sprint("a", i), false)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if err := r.stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		t.Logf("%d commits; %d waits for the writer", st.batches.Load(), st.w.Stats().WaitCount)

		if events := replayAll(t, st); len(events) != publishers*each {
			t.Fatalf("log holds %d events, want %d", len(events), publishers*each)
		}
		got := mustTimers(t, st)
		if len(got) != timers/2 {
			t.Fatalf("got %d timers, want %d", len(got), timers/2)
		}
		for i, pt := range got {
			if want := fmt.Sprintf("t%03d", 2*i); pt.ID != want {
				t.Fatalf("timer %d is %q, want %q", i, pt.ID, want)
			}
		}
		if d, err := st.Disabled(ctx); err != nil || len(d) != timers/10 {
			t.Fatalf("Disabled = %q, %v; want %d ids", d, err, timers/10)
		}
	})
}

func TestAutomationsMigration(t *testing.T) {
	t.Run("a database made before the timers step keeps its log and gains the tables", func(t *testing.T) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "hearth.db")
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		// The steps before the one that adds the timers table.
		before := slices.IndexFunc(migrations, func(m migration) bool {
			return slices.ContainsFunc(m.stmts, func(s string) bool { return strings.Contains(s, "CREATE TABLE timers") })
		})
		if before < 1 {
			t.Fatalf("no step after the first creates the timers table (index %d)", before)
		}
		for _, m := range migrations[:before] {
			for _, stmt := range m.stmts {
				if _, err := db.ExecContext(ctx, stmt); err != nil {
					t.Fatalf("step %d: %v", m.version, err)
				}
			}
		}
		for _, stmt := range []string{
			fmt.Sprintf("PRAGMA user_version = %d", before),
			`INSERT INTO events (seq, time, kind) VALUES (1, 1, 'message')`,
		} {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		st := openAt(t, path)
		var version int
		if err := st.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil || version != len(migrations) {
			t.Fatalf("user_version %d, %v; want %d", version, err, len(migrations))
		}
		if last, err := st.LastSeq(ctx); err != nil || last != 1 {
			t.Fatalf("LastSeq = %d, %v; want the old event", last, err)
		}
		mustSave(t, st, hearth.PendingTimer{ID: "t", Automation: "a", Due: time.Unix(1, 0)})
		if got := mustTimers(t, st); len(got) != 1 {
			t.Fatalf("got %d timers, want 1", len(got))
		}
	})
}

func mustSave(t *testing.T, p automations.Persist, pt hearth.PendingTimer) {
	t.Helper()
	if err := p.SaveTimer(context.Background(), pt); err != nil {
		t.Fatalf("SaveTimer(%q): %v", pt.ID, err)
	}
}

func mustTimers(t *testing.T, p automations.Persist) []hearth.PendingTimer {
	t.Helper()
	got, err := p.Timers(context.Background())
	if err != nil {
		t.Fatalf("Timers: %v", err)
	}
	return got
}

// sameTimers fails the test unless got and want hold the same timers in order.
func sameTimers(t *testing.T, got, want []hearth.PendingTimer) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d timers %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Automation != w.Automation || !g.Due.Equal(w.Due) || !bytes.Equal(g.State, w.State) || (g.State == nil) != (w.State == nil) {
			t.Fatalf("timer %d is %+v (state %q), want %+v (state %q)", i, g, g.State, w, w.State)
		}
	}
}
