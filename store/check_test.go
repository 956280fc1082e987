package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()

	t.Run("it reads what the writer committed, while the writer is open", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hearth.db")
		st := openAt(t, path)
		want := commitDirect(t, st, messages(5))
		ro, err := OpenReadOnly(path, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		sameEvents(t, replayAll(t, ro), want)
		if err := ro.IntegrityCheck(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("it cannot write", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hearth.db")
		commitDirect(t, openAt(t, path), messages(1))
		ro, err := OpenReadOnly(path, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		if _, err := ro.r.ExecContext(ctx, "DELETE FROM events"); err == nil {
			t.Error("a read-only store could write")
		}
	})

	t.Run("it leaves the write-ahead log of a crashed writer for the next writer", func(t *testing.T) {
		// A copy of the files of an open store is what a kill -9 leaves:
		// committed events still in the write-ahead log.
		st := openStore(t)
		want := commitDirect(t, st, messages(3))
		path := filepath.Join(t.TempDir(), "hearth.db")
		for _, suffix := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(st.path + suffix)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+suffix, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		walBefore, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		ro, err := OpenReadOnly(path, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		sameEvents(t, replayAll(t, ro), want)
		if err := ro.Close(); err != nil { // the last connection to the file
			t.Fatal(err)
		}
		walAfter, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatalf("the write-ahead log is gone after a read-only look: %v", err)
		}
		if walAfter.Size() != walBefore.Size() {
			t.Errorf("the write-ahead log went from %d to %d bytes", walBefore.Size(), walAfter.Size())
		}
	})

	t.Run("a missing file is an error, not a new empty database", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hearth.db")
		if ro, err := OpenReadOnly(path, nil); err == nil {
			ro.Close()
			t.Fatal("OpenReadOnly of a missing file succeeded")
		}
		if _, err := os.Stat(path); err == nil {
			t.Fatal("OpenReadOnly created the file")
		}
	})
}

func TestIntegrityCheckFindsDamage(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hearth.db")
	st, err := Open(path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	commitDirect(t, st, messages(2000))
	if err := st.Close(); err != nil { // checkpoints the log into the file
		t.Fatal(err)
	}
	// Overwrite the middle of the file, well past the schema page, as a
	// failing card would.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = 0x5a
	}
	if _, err := f.WriteAt(junk, fi.Size()/2/4096*4096); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenReadOnly(path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.IntegrityCheck(ctx); err == nil {
		t.Fatal("the integrity check found nothing wrong with a damaged file")
	} else {
		t.Log(err)
	}
}
