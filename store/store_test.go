package store

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"hearth"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()

	t.Run("the folder is made 0700 and the database files 0600", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data", "hub")
		path := filepath.Join(dir, "hearth.db")
		st := openAt(t, path)
		commitDirect(t, st, []hearth.Event{{Kind: hearth.KindMessage, Topic: "home/x"}})
		for _, p := range []struct {
			path string
			mode os.FileMode
		}{
			{filepath.Dir(dir), 0o700}, {dir, 0o700}, {path, 0o600}, {path + "-wal", 0o600},
		} {
			fi, err := os.Stat(p.path)
			if err != nil {
				t.Fatalf("stat: %v", err)
			}
			if fi.Mode().Perm() != p.mode {
				t.Errorf("%s has mode %v, want %v", p.path, fi.Mode().Perm(), p.mode)
			}
		}
	})

	t.Run("every connection runs in WAL with synchronous FULL and foreign keys on", func(t *testing.T) {
		st := openStore(t)
		for name, db := range map[string]*sql.DB{"writer": st.w, "reader": st.r} {
			var mode string
			var sync, fk int
			if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
				t.Fatal(err)
			}
			if mode != "wal" || sync != 2 || fk != 1 {
				t.Errorf("%s: journal_mode %s, synchronous %d, foreign_keys %d; want wal, 2, 1", name, mode, sync, fk)
			}
		}
		if _, err := st.r.ExecContext(ctx, "DELETE FROM events"); err == nil {
			t.Error("a reader connection could write")
		}
	})

	t.Run("a path the driver would misread is refused", func(t *testing.T) {
		for _, p := range []string{"", filepath.Join(t.TempDir(), "a?mode=ro")} {
			if st, err := Open(p, nil); err == nil {
				st.Close()
				t.Errorf("Open(%q) succeeded", p)
			}
		}
	})

	t.Run("migrations are numbered in order", func(t *testing.T) {
		for i, m := range migrations {
			if m.version != i+1 {
				t.Errorf("migration %d (%s) has version %d", i, m.name, m.version)
			}
		}
	})
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hearth.db")

	st, err := Open(path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	r := startRunOn(t, st, hearth.NewBus(hearth.BusOptions{Durable: true}))
	published := r.publish(t,
		hearth.Event{Kind: hearth.KindState, Device: "hall", Payload: []byte(`{"occupancy":true}`)},
		hearth.Event{Kind: hearth.KindAvailability, Device: "hall", Payload: []byte("online")},
		hearth.Event{Kind: hearth.KindMessage, Topic: "home/door", Payload: []byte(`{"contact":false}`)},
	)
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	devices, stateSeq, err := st.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	for i := range 2 { // the second reopen finds the schema current: migrations are idempotent
		st := openAt(t, path)
		last, err := st.LastSeq(ctx)
		if err != nil || last != published[2].Seq {
			t.Fatalf("reopen %d: LastSeq = %d, %v; want %d", i, last, err, published[2].Seq)
		}
		gotDevices, gotSeq, err := st.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if gotSeq != stateSeq || stateSeq != last || !reflect.DeepEqual(gotDevices, devices) {
			t.Fatalf("reopen %d: devices at %d = %+v; want at %d %+v", i, gotSeq, gotDevices, stateSeq, devices)
		}
		var version int
		if err := st.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil || version != len(migrations) {
			t.Fatalf("reopen %d: user_version %d, %v; want %d", i, version, err, len(migrations))
		}
		sameEvents(t, replayAll(t, st), published)
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("a schema newer than the program is refused", func(t *testing.T) {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, "PRAGMA user_version = 99"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if st, err := Open(path, testLogger(t)); err == nil {
			st.Close()
			t.Fatal("Open accepted schema version 99")
		}
	})
}
