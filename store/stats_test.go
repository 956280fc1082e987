package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"hearth"
)

func TestStats(t *testing.T) {
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

	stats := func(t *testing.T, st *Store) Stats {
		t.Helper()
		s, err := st.Stats(ctx)
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		return s
	}

	t.Run("an empty log has no events and seqs 0", func(t *testing.T) {
		s := stats(t, st)
		if s.Events != 0 || s.FirstSeq != 0 || s.LastSeq != 0 {
			t.Fatalf("got %+v, want no events", s)
		}
	})

	var afterCommit Stats
	t.Run("the count and the first and last seqs follow the log", func(t *testing.T) {
		events := messages(7)
		for i := range events {
			events[i].Seq = uint64(41 + i) // a log need not start at 1
		}
		commitDirect(t, st, events)
		commitDirect(t, st, messages(3))
		afterCommit = stats(t, st)
		if want := (Stats{Events: 10, FirstSeq: 41, LastSeq: 50}); afterCommit.Events != want.Events ||
			afterCommit.FirstSeq != want.FirstSeq || afterCommit.LastSeq != want.LastSeq {
			t.Fatalf("got %+v, want %d events from %d to %d", afterCommit, want.Events, want.FirstSeq, want.LastSeq)
		}
	})

	t.Run("the sizes are those of the database file and its WAL", func(t *testing.T) {
		for _, f := range []struct {
			name string
			got  int64
		}{{path, afterCommit.DBBytes}, {path + "-wal", afterCommit.WALBytes}} {
			fi, err := os.Stat(f.name)
			if err != nil {
				t.Fatal(err)
			}
			if f.got != fi.Size() || f.got == 0 {
				t.Errorf("%s: Stats says %d bytes, the file has %d", filepath.Base(f.name), f.got, fi.Size())
			}
		}
	})

	t.Run("after a checkpoint on close the log is in the database file", func(t *testing.T) {
		closed = true
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		again := openAt(t, path)
		s := stats(t, again)
		if s.Events != afterCommit.Events || s.FirstSeq != afterCommit.FirstSeq || s.LastSeq != afterCommit.LastSeq {
			t.Fatalf("after reopen got %+v, want the log of %+v", s, afterCommit)
		}
		if s.DBBytes <= afterCommit.DBBytes {
			t.Fatalf("database file of %d bytes did not grow from %d with the checkpoint", s.DBBytes, afterCommit.DBBytes)
		}
		if s.WALBytes >= afterCommit.WALBytes {
			t.Fatalf("WAL of %d bytes, want it emptied from %d by the checkpoint", s.WALBytes, afterCommit.WALBytes)
		}
	})

	t.Run("stats follow Run's commits", func(t *testing.T) {
		st := openStore(t)
		r := startRun(t, st)
		published := r.publish(t, hearth.Event{Kind: hearth.KindMessage}, hearth.Event{Kind: hearth.KindMessage})
		r.waitDurable(t, published[1].Seq)
		if s := stats(t, st); s.Events != 2 || s.FirstSeq != 1 || s.LastSeq != 2 {
			t.Fatalf("got %+v, want 2 events from 1 to 2", s)
		}
	})
}

// BenchmarkStats measures Stats on a log of 100,000 events, most of whose
// cost is count(*).
func BenchmarkStats(b *testing.B) {
	st := openStore(b)
	const n, chunk = 100_000, 5_000
	for range n / chunk {
		commitDirect(b, st, messages(chunk))
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Stats(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
