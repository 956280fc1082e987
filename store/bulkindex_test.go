package store

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"hearth"
)

// indexAll moves the whole tail into the index tables, as the indexer does
// over many commits.
func indexAll(t testing.TB, st *Store) {
	t.Helper()
	for {
		wrote, err := indexSteps(st, 1)
		if err != nil {
			t.Fatalf("index: %v", err)
		}
		if !wrote {
			return
		}
	}
}

// indexSteps runs up to n transactions of the indexer, starting a round
// whatever the tail's size, and reports whether the last one wrote.
func indexSteps(st *Store, n int) (bool, error) {
	wrote := false
	for range n {
		var err error
		if wrote, err = st.indexStep(context.Background(), true); err != nil || !wrote {
			return wrote, err
		}
	}
	return wrote, nil
}

// indexLog is a log with something for every indexed query: three devices
// with messages and state changes a minute apart, commands, automation
// runs, retained configuration under homeassistant/, an availability.
func indexLog() []hearth.Event {
	start := time.Unix(1_700_000_000, 0)
	var out []hearth.Event
	for i := range 60 {
		at := start.Add(time.Duration(i) * time.Minute)
		dev := fmt.Sprintf("dev_%c", 'a'+i%3)
		out = append(out,
			hearth.Event{Time: at, Kind: hearth.KindMessage, Device: dev, Topic: "home/" + dev, Payload: fmt.Appendf(nil, `{"t":%d}`, i)},
			hearth.Event{Time: at, Kind: hearth.KindState, Device: dev, Topic: "home/" + dev, Payload: fmt.Appendf(nil, `{"t":%d}`, i)})
		switch i % 10 {
		case 4:
			out = append(out,
				hearth.Event{Time: at, Kind: hearth.KindCommand, Device: "lamp", Topic: "home/lamp/set", Payload: []byte(`{"state":"ON"}`)},
				hearth.Event{Time: at, Kind: hearth.KindRun, Topic: "$hearth/automations/lamp_on", Payload: []byte(`{"run":"lamp_on#1"}`)})
		case 7:
			out = append(out, hearth.Event{Time: at, Kind: hearth.KindMessage, Topic: fmt.Sprintf("homeassistant/sensor/s%d/config", i%2), Payload: fmt.Appendf(nil, `{"n":%d}`, i)})
		case 9:
			out = append(out, hearth.Event{Time: at, Kind: hearth.KindAvailability, Device: "dev_b", Payload: []byte("online")})
		}
	}
	return out
}

// answers runs every kind of query that reads the index and returns what
// they said, to compare where the events are.
func answers(t *testing.T, st *Store) map[string]any {
	t.Helper()
	ctx := context.Background()
	out := map[string]any{}
	for _, q := range []Query{
		{Device: "dev_a"}, {Device: "dev_b", Kind: hearth.KindState, Limit: 7}, {Device: "dev_c", Before: 100, Limit: 5},
		{Topic: "home/lamp/set"}, {Topic: "$hearth/automations/lamp_on", Kind: hearth.KindRun, Limit: 1},
		{Kind: hearth.KindAvailability}, {Kind: hearth.KindMessage, Limit: 50}, {Kind: hearth.KindMessage, Before: 60, Limit: 10},
		{Device: "dev_a", Topic: "home/dev_b"}, {Device: "nobody"},
	} {
		got, err := st.Events(ctx, q)
		if err != nil {
			t.Fatalf("events %+v: %v", q, err)
		}
		out[fmt.Sprintf("events %+v", q)] = seqs(got)
	}
	latest, err := st.LatestMessages(ctx, []string{"homeassistant/", "home/dev_c"})
	if err != nil {
		t.Fatal(err)
	}
	out["latest"] = seqs(latest)
	start := time.Unix(1_700_000_000, 0)
	for _, span := range []struct{ from, to time.Duration }{{0, time.Hour}, {20 * time.Minute, 40 * time.Minute}} {
		points, err := st.History(ctx, hearth.HistoryQuery{Device: "dev_b", Attr: "t",
			From: start.Add(span.from), To: start.Add(span.to), Step: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("history %v", span)] = fmt.Sprint(points)
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out["count"] = stats.Events
	return out
}

func TestQueriesDoNotDependOnWhereTheEventsAre(t *testing.T) {
	log := indexLog()
	// The reference: every event in the tail (the indexer's thresholds are
	// far away), which TestEvents, TestHistory and the others check.
	ref := openStore(t)
	commitDirect(t, ref, append([]hearth.Event(nil), log...))
	want := answers(t, ref)
	if n := want["count"]; n != uint64(len(log)) {
		t.Fatalf("the reference counts %v events, want %d", n, len(log))
	}

	half := len(log) / 2
	for _, c := range []struct {
		name string
		make func(t *testing.T) *Store
	}{
		{"every event indexed", func(t *testing.T) *Store {
			st := openStore(t)
			commitDirect(t, st, append([]hearth.Event(nil), log...))
			indexAll(t, st)
			return st
		}},
		{"the first half indexed, the rest in the tail", func(t *testing.T) *Store {
			st := openStore(t)
			commitDirect(t, st, append([]hearth.Event(nil), log[:half]...))
			indexAll(t, st)
			commitDirect(t, st, append([]hearth.Event(nil), log[half:]...))
			return st
		}},
		{"a round of indexing halfway through", func(t *testing.T) *Store {
			st := openStore(t)
			st.indexer.chunk = 7
			commitDirect(t, st, append([]hearth.Event(nil), log...))
			if _, err := indexSteps(st, 20); err != nil {
				t.Fatal(err)
			}
			if st.indexer.target == 0 {
				t.Fatal("the round is over already; the test needs a smaller chunk")
			}
			return st
		}},
		{"a round finished while the second half came, which stays in the tail", func(t *testing.T) *Store {
			st := openStore(t)
			st.indexer.chunk = 7
			commitDirect(t, st, append([]hearth.Event(nil), log[:half]...))
			if _, err := indexSteps(st, 3); err != nil {
				t.Fatal(err)
			}
			commitDirect(t, st, append([]hearth.Event(nil), log[half:]...))
			for st.indexer.target != 0 {
				if _, err := st.indexStep(context.Background(), false); err != nil {
					t.Fatal(err)
				}
			}
			if n, _ := st.tail.size(); n != len(log)-half {
				t.Fatalf("the tail holds %d events after the round, want the second half's %d", n, len(log)-half)
			}
			return st
		}},
		{"reopened after a crash halfway through a round, then indexed", func(t *testing.T) *Store {
			path := filepath.Join(t.TempDir(), "hearth.db")
			st := openAt(t, path)
			st.indexer.chunk = 7
			commitDirect(t, st, append([]hearth.Event(nil), log[:half]...))
			indexAll(t, st)
			commitDirect(t, st, append([]hearth.Event(nil), log[half:]...))
			if _, err := indexSteps(st, 9); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil { // nothing of the round is kept but the file
				t.Fatal(err)
			}
			again := openAt(t, path)
			got := answers(t, again)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("after the crash:\ngot  %v\nwant %v", got, want)
			}
			indexAll(t, again) // the interrupted entries again: OR IGNORE
			return again
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := c.make(t)
			got := answers(t, st)
			for k, w := range want {
				if !reflect.DeepEqual(got[k], w) {
					t.Errorf("%s: got %v, want %v", k, got[k], w)
				}
			}
		})
	}
}

func TestIndexingEmptiesTheTail(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hearth.db")
	st := openAt(t, path)
	st.indexer.chunk = 5
	log := commitDirect(t, st, indexLog())
	indexAll(t, st)
	if n, _ := st.tail.size(); n != 0 || st.tail.base != log[len(log)-1].Seq {
		t.Fatalf("tail holds %d events above %d after indexing, want none above %d", n, st.tail.base, log[len(log)-1].Seq)
	}
	var indexed, byKind int64
	if err := st.r.QueryRowContext(ctx, `SELECT (SELECT value FROM meta WHERE key = 'indexed_seq'), (SELECT count(*) FROM events_by_kind)`).Scan(&indexed, &byKind); err != nil {
		t.Fatal(err)
	}
	if uint64(indexed) != st.tail.base || byKind != int64(len(log)) {
		t.Fatalf("indexed_seq %d with %d kind entries, want %d with %d", indexed, byKind, st.tail.base, len(log))
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// A clean start finds nothing to read back into the tail.
	again := openAt(t, path)
	if n, _ := again.tail.size(); n != 0 {
		t.Fatalf("reopened with %d events in the tail, want 0", n)
	}
}

func TestIndexingStartsByCountOrAge(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		name   string
		events int
		age    time.Duration
		due    bool
	}{
		{"an empty tail waits", 0, time.Hour, false},
		{"a short young tail waits", 10, time.Minute, false},
		{"a tail of the threshold's length is indexed", 100, time.Second, true},
		{"an old tail is indexed however short", 1, 31 * time.Minute, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var tl tail
			tl.loaded = true
			tl.resetNamesLocked()
			batch := make([]hearth.Event, c.events)
			for i := range batch {
				batch[i] = hearth.Event{Seq: uint64(i + 1), Kind: hearth.KindMessage, Time: now.Add(-c.age)}
			}
			tl.add(batch)
			x := indexer{every: 100, age: 30 * time.Minute}
			if got := x.due(&tl, now); got != c.due {
				t.Fatalf("due = %v, want %v", got, c.due)
			}
		})
	}
}

// unindexedHouseLog writes a log of defaultIndexEvery events of the
// benchmark house (1,000 motion sensors and their lights) as a crash before
// any round of indexing would leave it, and returns its path.
func unindexedHouseLog(b *testing.B) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "hearth.db")
	st, err := Open(path, testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	st.indexer.every = 1 << 30
	r := startRunOn(b, st, hearth.NewBus(hearth.BusOptions{NextSeq: 1, Durable: true}))
	gen := newHouse(houseLoad{devices: 1000, reactEvery: 1, payload: motionPayload})
	for range defaultIndexEvery / 4 {
		gen.sensorEvent(b, r)
	}
	r.waitDurable(b, r.bus.NextSeq()-1)
	if err := r.stop(); err != nil {
		b.Fatal(err)
	}
	// Run indexed the tail when it stopped: undo that.
	for _, stmt := range []string{`DELETE FROM events_by_device`, `DELETE FROM events_by_topic`, `DELETE FROM events_by_kind`,
		`UPDATE meta SET value = 0 WHERE key = 'indexed_seq'`} {
		if _, err := st.w.Exec(stmt); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkIndexChunk measures the indexer on a full tail of the benchmark
// house: each op is a whole round; max-ms/chunk is how long a QoS 1 message
// that arrives during one of its transactions waits at most.
func BenchmarkIndexChunk(b *testing.B) {
	template := unindexedHouseLog(b)
	var longest, total time.Duration
	chunks := 0
	for b.Loop() {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "hearth.db")
		copyFile(b, template, path)
		st := openAt(b, path)
		b.StartTimer()
		for {
			began := time.Now()
			wrote, err := indexSteps(st, 1)
			if err != nil {
				b.Fatal(err)
			}
			if !wrote {
				break
			}
			took := time.Since(began)
			longest, total = max(longest, took), total+took
			chunks++
		}
	}
	b.ReportMetric(float64(longest.Microseconds())/1000, "max-ms/chunk")
	b.ReportMetric(float64(total.Microseconds())/1000/float64(chunks), "ms/chunk")
	b.ReportMetric(float64(chunks)/float64(b.N), "chunks/round")
}

// BenchmarkOpenWithAFullTail measures Open after a crash at the worst
// moment: the tail holds defaultIndexEvery events of the benchmark house,
// which Open reads back into memory. A clean stop indexes the tail first
// (finishRun).
func BenchmarkOpenWithAFullTail(b *testing.B) {
	path := unindexedHouseLog(b)
	for b.Loop() {
		st, err := Open(path, testLogger(b))
		if err != nil {
			b.Fatal(err)
		}
		if n, _ := st.tail.size(); n != defaultIndexEvery {
			b.Fatalf("tail of %d events, want %d", n, defaultIndexEvery)
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
