package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"hearth"
)

// day is the unit of the retention tests' fake clock.
const day = 24 * time.Hour

// sensorDay makes a device's state events (temperature i) and the messages
// they came from, every interval from start for n reports.
func sensorDay(device string, start time.Time, every time.Duration, n int) []hearth.Event {
	var out []hearth.Event
	for i := range n {
		at := start.Add(time.Duration(i) * every)
		payload := fmt.Appendf(nil, `{"temperature":%d,"humidity":%d.5}`, i, 40+i%10)
		out = append(out,
			hearth.Event{Time: at, Kind: hearth.KindMessage, Topic: "home/" + device, Device: device, Payload: payload},
			hearth.Event{Time: at, Kind: hearth.KindState, Topic: "home/" + device, Device: device, Payload: payload})
	}
	return out
}

// seqSet is the sequence numbers in the log.
func seqSet(t testing.TB, st *Store) map[uint64]hearth.Event {
	t.Helper()
	out := map[uint64]hearth.Event{}
	for _, e := range replayAll(t, st) {
		out[e.Seq] = e
	}
	return out
}

// logged commits events as Run does and indexes them, as Run's indexer
// does once they are a few minutes old: retention deletes only indexed
// events.
func logged(t testing.TB, st *Store, events []hearth.Event) []hearth.Event {
	t.Helper()
	events = commitDirect(t, st, events)
	indexAll(t, st)
	return events
}

func mustPrune(t testing.TB, st *Store, r Retention, now time.Time) PruneReport {
	t.Helper()
	rep, err := st.Prune(context.Background(), r, now)
	if err != nil {
		t.Fatalf("prune: %v", err)
	}
	return rep
}

func TestPruneByAge(t *testing.T) {
	st := openStore(t)
	st.ret.chunk = 50 // several chunks, so the cursor and keepers across chunks count
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// Ten days of a sensor reporting every half hour, and a command a day.
	var in []hearth.Event
	for d := range 10 {
		in = append(in, sensorDay("lux", start.Add(time.Duration(d)*day), 30*time.Minute, 48)...)
		in = append(in, hearth.Event{Time: start.Add(time.Duration(d)*day + time.Hour), Kind: hearth.KindCommand, Topic: "home/lamp/set", Device: "lamp", Payload: []byte(`{"state":"ON"}`)})
	}
	in = logged(t, st, in)
	now := start.Add(10 * day)
	cut := now.Add(-3 * day)

	rep := mustPrune(t, st, Retention{Events: 3 * day}, now)
	left := seqSet(t, st)

	t.Run("events older than the limit are deleted", func(t *testing.T) {
		for _, e := range in {
			if _, ok := left[e.Seq]; ok && e.Time.Before(cut) && e.Kind != hearth.KindState {
				t.Fatalf("event %d of %s (%s) is still in the log", e.Seq, e.Time, e.Kind)
			}
		}
		if rep.EventsByAge == 0 || rep.EventsBySize != 0 {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("events younger than the limit stay", func(t *testing.T) {
		for _, e := range in {
			if _, ok := left[e.Seq]; !ok && !e.Time.Before(cut) {
				t.Fatalf("event %d of %s was deleted", e.Seq, e.Time)
			}
		}
	})
	t.Run("the report counts what went", func(t *testing.T) {
		if got := len(in) - len(left); got != rep.EventsByAge {
			t.Fatalf("%d events went, the report says %d", got, rep.EventsByAge)
		}
		if rep.Folded != 7*48*2 { // two attributes of each state event before the cut
			t.Fatalf("folded %d values, want %d", rep.Folded, 7*48*2)
		}
	})
	t.Run("a second pass at the same time deletes nothing more", func(t *testing.T) {
		again := mustPrune(t, st, Retention{Events: 3 * day}, now)
		if again.Deleted() || again.Folded != 0 {
			t.Fatalf("second pass %+v", again)
		}
	})
	t.Run("the stats add the passes up and count the history", func(t *testing.T) {
		stats, err := st.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		tot := stats.Pruned
		if tot.Passes != 2 || tot.EventsByAge != uint64(rep.EventsByAge) || tot.Folded != uint64(rep.Folded) || !tot.Last.Equal(now) {
			t.Fatalf("totals %+v", tot)
		}
		// Seven days of hours, two attributes; folded up to the last event before the cut.
		if stats.HistoryRows != 7*24*2 || stats.HistorySeq == 0 || stats.HistorySeq >= in[len(in)-1].Seq {
			t.Fatalf("history rows %d up to seq %d", stats.HistoryRows, stats.HistorySeq)
		}
	})
}

func TestPruneKeepsWhatStartUpNeeds(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	st.ret.chunk = 7
	old := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return old.Add(time.Duration(h) * time.Hour) }
	in := logged(t, st, []hearth.Event{
		// A device that spoke once, long ago, and one that went offline.
		{Time: at(0), Kind: hearth.KindMessage, Topic: "home/attic", Device: "attic", Payload: []byte(`{"temperature":4}`)},
		{Time: at(0), Kind: hearth.KindState, Topic: "home/attic", Device: "attic", Payload: []byte(`{"temperature":4}`), Cause: hearth.Cause{Seq: 1}},
		{Time: at(1), Kind: hearth.KindAvailability, Topic: "home/shed/availability", Device: "shed", Payload: []byte("online")},
		{Time: at(2), Kind: hearth.KindState, Topic: "home/shed", Device: "shed", Payload: []byte(`{"state":"ON"}`)},
		{Time: at(3), Kind: hearth.KindAvailability, Topic: "home/shed/availability", Device: "shed", Payload: []byte("offline")},
		{Time: at(4), Kind: hearth.KindState, Topic: "home/shed", Device: "shed", Payload: []byte(`{"state":"OFF"}`)},
		// Retained configuration: twice on one topic, once on another.
		{Time: at(5), Kind: hearth.KindMessage, Topic: "homeassistant/sensor/a/t/config", Payload: []byte(`{"name":"old"}`), Retain: true},
		{Time: at(6), Kind: hearth.KindMessage, Topic: "homeassistant/sensor/a/t/config", Payload: []byte(`{"name":"new"}`), Retain: true},
		{Time: at(7), Kind: hearth.KindMessage, Topic: "zigbee2mqtt/bridge/devices", Payload: []byte(`[]`), Retain: true},
		// Two runs of an automation, the newest numbers the next.
		{Time: at(8), Kind: hearth.KindRun, Topic: "$hearth/automations/hall", Payload: []byte(`{"run":"hall#1"}`)},
		{Time: at(9), Kind: hearth.KindRun, Topic: "$hearth/automations/hall", Payload: []byte(`{"run":"hall#2"}`)},
		// Things nothing needs back.
		{Time: at(10), Kind: hearth.KindCommand, Topic: "home/shed/set", Device: "shed", Payload: []byte(`{"state":"OFF"}`)},
		{Time: at(11), Kind: hearth.KindMessage, Topic: "home/button", Payload: []byte(`{"action":"single"}`)},
	})
	timer := hearth.PendingTimer{ID: "hall#2/delay/1", Automation: "hall", Due: at(100), State: []byte(`{}`)}
	for _, err := range []error{
		st.SaveTimer(ctx, timer),
		st.SetEnabled(ctx, "hall", false),
		st.SetDeviceMeta(ctx, "attic", hearth.DeviceMeta{Name: "Attic", Room: "Top"}),
		st.AddWebUser(ctx, "ann", "a long enough password"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	devicesBefore, seqBefore, err := st.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}

	keep := Retention{Events: day, History: day, MaxSize: 1 << 30, KeepTopics: []string{"homeassistant/", "zigbee2mqtt/bridge/devices"}}
	mustPrune(t, st, keep, at(1000))
	left := seqSet(t, st)

	t.Run("the devices table is untouched", func(t *testing.T) {
		got, seq, err := st.Devices(ctx)
		if err != nil || seq != seqBefore || len(got) != len(devicesBefore) {
			t.Fatalf("devices %v at %d (%v), want %v at %d", got, seq, err, devicesBefore, seqBefore)
		}
		for i := range got {
			if got[i].ID != devicesBefore[i].ID || got[i].Seq != devicesBefore[i].Seq || got[i].Availability != devicesBefore[i].Availability {
				t.Fatalf("device %+v, want %+v", got[i], devicesBefore[i])
			}
		}
	})
	t.Run("the log still folds into the devices table", func(t *testing.T) {
		rebuilt, err := st.RebuildDevices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rebuilt) != len(devicesBefore) {
			t.Fatalf("rebuilt %+v, want %+v", rebuilt, devicesBefore)
		}
		for i := range rebuilt {
			r, d := rebuilt[i], devicesBefore[i]
			if r.ID != d.ID || r.Seq != d.Seq || r.Availability != d.Availability || !r.Updated.Equal(d.Updated) || fmt.Sprint(r.State) != fmt.Sprint(d.State) {
				t.Fatalf("rebuilt %+v, want %+v", r, d)
			}
		}
	})
	t.Run("the newest retained configuration is read back", func(t *testing.T) {
		got, err := st.LatestMessages(ctx, keep.KeepTopics)
		if err != nil || len(got) != 2 || string(got[0].Payload) != `{"name":"new"}` || got[1].Topic != "zigbee2mqtt/bridge/devices" {
			t.Fatalf("latest messages %v, %v", got, err)
		}
	})
	t.Run("the newest run of an automation stays", func(t *testing.T) {
		got, err := st.Events(ctx, hearth.EventQuery{Kind: hearth.KindRun, Topic: "$hearth/automations/hall", Limit: 5})
		if err != nil || len(got) != 1 || string(got[0].Payload) != `{"run":"hall#2"}` {
			t.Fatalf("runs %v, %v", got, err)
		}
	})
	t.Run("superseded and unneeded events go", func(t *testing.T) {
		var want []uint64
		for _, e := range in {
			switch e.Seq {
			// The attic's state, the shed's newest availability and state,
			// the configurations, the last run, and the log's last event,
			// after which start-up numbers the next ones.
			case 2, 5, 6, 8, 9, 11, 13:
				want = append(want, e.Seq)
			}
		}
		var got []uint64
		for seq := range left {
			got = append(got, seq)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("left %v, want %v", got, want)
		}
	})
	t.Run("timers, settings, names and users stay", func(t *testing.T) {
		timers, err := st.Timers(ctx)
		if err != nil || len(timers) != 1 || timers[0].ID != timer.ID {
			t.Fatalf("timers %v, %v", timers, err)
		}
		disabled, err := st.Disabled(ctx)
		if err != nil || !slices.Equal(disabled, []string{"hall"}) {
			t.Fatalf("disabled %v, %v", disabled, err)
		}
		meta, err := st.DeviceMeta(ctx)
		if err != nil || meta["attic"].Name != "Attic" {
			t.Fatalf("device meta %v, %v", meta, err)
		}
		if ok, err := st.CheckWebPassword(ctx, "ann", "a long enough password"); err != nil || !ok {
			t.Fatalf("web user: %v, %v", ok, err)
		}
	})
	t.Run("a kept event goes once a newer one of its kind comes", func(t *testing.T) {
		logged(t, st, []hearth.Event{
			{Time: at(2000), Kind: hearth.KindState, Topic: "home/attic", Device: "attic", Payload: []byte(`{"temperature":5}`)},
		})
		mustPrune(t, st, keep, at(2000))
		if _, ok := seqSet(t, st)[2]; ok {
			t.Fatal("the attic's old state is still in the log")
		}
	})
	t.Run("a cause that was pruned is not found", func(t *testing.T) {
		if _, err := st.Event(ctx, 1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("event 1: %v, want not found", err)
		}
	})
}

func TestPruneNeverDeletesWhatTheDevicesTableLacks(t *testing.T) {
	st := openStore(t)
	in := logged(t, st, sensorDay("lux", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Minute, 10))
	// As if Run had written these events but not yet the read model.
	if _, err := st.w.Exec(`UPDATE meta SET value = 4 WHERE key = 'state_seq'`); err != nil {
		t.Fatal(err)
	}
	mustPrune(t, st, Retention{Events: time.Hour}, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	left := seqSet(t, st)
	for _, e := range in[4:] {
		if _, ok := left[e.Seq]; !ok {
			t.Fatalf("event %d, past state_seq 4, was deleted", e.Seq)
		}
	}
	if _, ok := left[1]; ok {
		t.Fatal("event 1 was kept")
	}
}

// bigEvents makes n state events of a few devices, one a second from
// start, each about 1 KB.
func bigEvents(start time.Time, n int) []hearth.Event {
	pad := strings.Repeat("x", 900)
	out := make([]hearth.Event, n)
	for i := range out {
		d := fmt.Sprintf("d%d", i%5)
		out[i] = hearth.Event{Time: start.Add(time.Duration(i) * time.Second), Kind: hearth.KindState, Topic: "home/" + d, Device: d,
			Payload: fmt.Appendf(nil, `{"v":%d,"pad":%q}`, i, pad)}
	}
	return out
}

func TestPruneBySize(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hearth.db")
	st, err := Open(path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		logged(t, st, bigEvents(start.Add(time.Duration(i*1000)*time.Second), 1000))
	}
	// A young hour at the end, which size may not take.
	young := logged(t, st, bigEvents(start.Add(30*day), 100))
	before, err := st.usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 2 << 20
	if before.used < 2*limit {
		t.Fatalf("the log is only %d bytes: the test needs more than %d", before.used, 2*limit)
	}

	rep := mustPrune(t, st, Retention{MaxSize: limit}, start.Add(30*day+time.Hour))
	after, err := st.usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	left := seqSet(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := fileSize(path)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the used pages fit under the limit beside the write-ahead log", func(t *testing.T) {
		if after.used > limit || rep.EventsBySize == 0 || rep.OverLimit {
			t.Fatalf("used %d of %d bytes; report %+v", after.used, limit, rep)
		}
	})
	t.Run("the file shrinks under the limit once the write-ahead log is checkpointed", func(t *testing.T) {
		if file > limit || rep.FreedBytes == 0 {
			t.Fatalf("file %d bytes, limit %d; freed %d", file, limit, rep.FreedBytes)
		}
	})
	t.Run("the oldest events went first and the last hour stayed", func(t *testing.T) {
		for _, e := range young {
			if _, ok := left[e.Seq]; !ok {
				t.Fatalf("young event %d went", e.Seq)
			}
		}
		var seqs []uint64
		for s := range left {
			seqs = append(seqs, s)
		}
		slices.Sort(seqs)
		// The young events have the same devices, so no old event is kept
		// for being a device's newest: what is left runs to the end.
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]+1 {
				t.Fatalf("a hole after %d: %d", seqs[i-1], seqs[i])
			}
		}
	})
}

func TestPruneKeepsFreePagesOfADatabaseWithoutAutoVacuum(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hearth.db")
	// A database made before retention: no auto_vacuum.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := migrate(ctx, db, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	st := openAt(t, path)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	logged(t, st, bigEvents(start, 2000))
	rep := mustPrune(t, st, Retention{Events: time.Hour}, start.Add(2*day))
	u, err := st.usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.autoVacuum != 0 || rep.FreedBytes != 0 || rep.EventsByAge == 0 || u.free == 0 {
		t.Fatalf("auto_vacuum %d, free %d bytes; report %+v", u.autoVacuum, u.free, rep)
	}
}

func TestANewDatabaseVacuumsIncrementally(t *testing.T) {
	st := openStore(t)
	u, err := st.usage(context.Background())
	if err != nil || u.autoVacuum != 2 {
		t.Fatalf("auto_vacuum %d, %v; want 2 (incremental)", u.autoVacuum, err)
	}
}

func TestPruneHistoryByAge(t *testing.T) {
	st := openStore(t)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	logged(t, st, sensorDay("lux", start, time.Hour, 24*10))
	r := Retention{Events: day, History: 5 * day}
	rep := mustPrune(t, st, r, start.Add(10*day))
	q := hearth.HistoryQuery{Device: "lux", Attr: "temperature", From: start, To: start.Add(10 * day), Step: day}
	points, err := st.History(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	// Days 5..9: 5 from history, the last from raw events.
	if len(points) != 5 || !points[0].Time.Equal(start.Add(5*day)) || points[0].Count != 24 {
		t.Fatalf("points %+v; report %+v", points, rep)
	}
	if rep.HistoryByAge != 5*24*2 { // what it folded of the first five days, two attributes
		t.Fatalf("report %+v", rep)
	}
	rep = mustPrune(t, st, r, start.Add(12*day))
	if rep.HistoryByAge != 2*24*2 { // two more days of two attributes
		t.Fatalf("report %+v", rep)
	}
}

// historyOf reads a history and fails the test on error.
func historyOf(t testing.TB, st *Store, q hearth.HistoryQuery) []hearth.HistoryPoint {
	t.Helper()
	p, err := st.History(context.Background(), q)
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	return p
}

// samePoints describes how two histories differ, or "".
func samePoints(got, want []hearth.HistoryPoint) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d points, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) || g.Count != w.Count || g.Min != w.Min || g.Max != w.Max ||
			math.Abs(g.Avg-w.Avg) > 1e-9*max(1, math.Abs(w.Avg)) {
			return fmt.Sprintf("point %d: got %+v, want %+v", i, g, w)
		}
	}
	return ""
}

func TestDownsampledHistoryEqualsRaw(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		st, err := Open(filepath.Join(dir, fmt.Sprintf("h%d.db", n)), testLogger(t))
		if err != nil {
			rt.Fatal(err)
		}
		defer st.Close()
		st.ret.chunk = rapid.IntRange(1, 40).Draw(rt, "chunk")

		start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
		at := start.Add(time.Duration(rapid.IntRange(0, 3600).Draw(rt, "offset")) * time.Second)
		var in []hearth.Event
		for i := range rapid.IntRange(1, 80).Draw(rt, "reports") {
			at = at.Add(time.Duration(rapid.IntRange(1, 3*3600).Draw(rt, "gap")) * time.Second)
			dev := []string{"a", "b"}[rapid.IntRange(0, 1).Draw(rt, "device")]
			var v string
			switch rapid.IntRange(0, 2).Draw(rt, "type") {
			case 0:
				v = fmt.Sprint(rapid.IntRange(-1000, 1000).Draw(rt, "int"))
			case 1:
				v = fmt.Sprint(rapid.Float64Range(-100, 100).Draw(rt, "float"))
			default:
				v = fmt.Sprint(rapid.Bool().Draw(rt, "bool"))
			}
			seq := uint64(len(in) + 1)
			in = append(in,
				// A message's values are not history: only state events count.
				hearth.Event{Seq: seq, Time: at, Kind: hearth.KindMessage, Topic: "home/" + dev, Device: dev, Payload: []byte(`{"v":12345}`)},
				hearth.Event{Seq: seq + 1, Time: at, Kind: hearth.KindState, Topic: "home/" + dev, Device: dev,
					Payload: fmt.Appendf(nil, `{"v":%s,"n":%d,"s":"x"}`, v, i)})
		}
		if err := st.commit(ctx, newBatchWriter(), in); err != nil {
			rt.Fatal(err)
		}
		if err := st.snapshotDevices(ctx); err != nil {
			rt.Fatal(err)
		}
		for {
			wrote, err := st.indexStep(ctx, true)
			if err != nil {
				rt.Fatal(err)
			}
			if !wrote {
				break
			}
		}
		end := in[len(in)-1].Time

		// Whole hours from a whole hour: where the two must agree exactly.
		step := time.Duration(rapid.IntRange(1, 6).Draw(rt, "step hours")) * time.Hour
		from := start.Add(time.Duration(rapid.IntRange(0, int(end.Sub(start)/time.Hour)).Draw(rt, "from hour")) * time.Hour)
		q := hearth.HistoryQuery{Device: "a", Attr: "v", From: from, To: end.Add(time.Hour), Step: step}
		raw, err := st.History(ctx, q)
		if err != nil {
			rt.Fatal(err)
		}

		// Prune before a random point of the span, or everything.
		cut := start.Add(time.Duration(rapid.Int64Range(0, int64(end.Sub(start)+time.Hour)).Draw(rt, "cut")))
		if _, err := st.Prune(ctx, Retention{Events: time.Hour}, cut.Add(time.Hour)); err != nil {
			rt.Fatal(err)
		}
		got, err := st.History(ctx, q)
		if err != nil {
			rt.Fatal(err)
		}
		if d := samePoints(got, raw); d != "" {
			rt.Fatalf("after pruning before %s: %s", cut, d)
		}
	})
}

func TestAPruneCutShortCountsEveryValueOnce(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const reports = 6 * 24 * 3 // three days, every ten minutes
	cases := []struct {
		name string
		// stop runs the part of a pass that happens before the crash.
		stop func(t *testing.T, st *Store)
	}{
		{
			name: "stopped after folding, before deleting",
			stop: func(t *testing.T, st *Store) {
				p := &pass{s: st, chunk: 100}
				if err := p.fold(ctx, reports*2+17, reports*2+17); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "stopped between two transactions of a fold",
			stop: func(t *testing.T, st *Store) {
				st.ret.foldRows = 1 // an attribute a transaction
				p := &pass{s: st, chunk: 100}
				done, err := p.foldStep(ctx, reports*2+17, reports*2+17)
				if err != nil || done {
					t.Fatalf("fold step: done %v, %v", done, err)
				}
				if _, prog, err := readFoldState(ctx, st.r); err != nil || prog == nil {
					t.Fatalf("no fold in progress: %v", err)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hearth.db")
			st, err := Open(path, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			in := append(sensorDay("lux", start, 10*time.Minute, reports), sensorDay("lux2", start.Add(time.Minute), 10*time.Minute, reports)...)
			slices.SortStableFunc(in, func(x, y hearth.Event) int { return x.Time.Compare(y.Time) })
			logged(t, st, in)
			var queries []hearth.HistoryQuery
			for _, dev := range []string{"lux", "lux2"} {
				for _, attr := range []string{"humidity", "temperature"} {
					queries = append(queries, hearth.HistoryQuery{Device: dev, Attr: attr, From: start.Add(-time.Hour), To: start.Add(3 * day), Step: 6 * time.Hour})
				}
			}
			want := make([][]hearth.HistoryPoint, len(queries))
			for i, q := range queries {
				want[i] = historyOf(t, st, q)
			}
			same := func(when string) {
				t.Helper()
				for i, q := range queries {
					if d := samePoints(historyOf(t, st, q), want[i]); d != "" {
						t.Fatalf("%s, %s.%s: %s", when, q.Device, q.Attr, d)
					}
				}
			}

			c.stop(t, st)
			same("before the crash")
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			st = openAt(t, path)
			same("after a restart")
			// The next pass finishes what was cut short, folds what is
			// left before its cut and deletes.
			rep := mustPrune(t, st, Retention{Events: day}, start.Add(3*day))
			same("after the next pass")
			var folded, values int64
			err = st.r.QueryRow(`SELECT (SELECT value FROM meta WHERE key = 'history_seq'), (SELECT sum(count) FROM history)`).Scan(&folded, &values)
			if err != nil {
				t.Fatal(err)
			}
			states := 0
			for _, e := range in {
				if e.Kind == hearth.KindState && int64(e.Seq) <= folded {
					states++
				}
			}
			if values != int64(2*states) || rep.EventsByAge == 0 {
				t.Fatalf("the history holds %d values of the %d state events folded, want two each; report %+v", values, states, rep)
			}
		})
	}
}

func TestPruneWhileRunCommits(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	st.ret.chunk = 50
	old := logged(t, st, sensorDay("old", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Minute, 1000))
	r := startRun(t, st)

	const n = 2000
	var published []hearth.Event
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			e, err := r.bus.Publish(hearth.Event{Kind: hearth.KindMessage, Topic: "home/new", Device: "new", Payload: fmt.Appendf(nil, `{"i":%d}`, i), QoS: byte(i % 2)})
			if err != nil {
				t.Errorf("publish: %v", err)
				return
			}
			published = append(published, e)
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// Prune passes, by age and by size, while the events come in.
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		if _, err := st.Prune(ctx, Retention{Events: day, MaxSize: 1 << 20}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if t.Failed() {
		return
	}
	r.waitDurable(t, published[len(published)-1].Seq)

	left := seqSet(t, st)
	for _, e := range published {
		got, ok := left[e.Seq]
		if !ok {
			t.Fatalf("new event %d is not in the log", e.Seq)
		}
		if d := eventDiff(got, e); d != "" {
			t.Fatalf("event %d: %s", e.Seq, d)
		}
	}
	if len(left) != n+1 { // the new ones and the old device's newest state
		t.Fatalf("%d events in the log, want %d new and 1 old", len(left), n)
	}
	if _, ok := left[old[len(old)-1].Seq]; !ok {
		t.Fatal("the old device's newest state went")
	}
}

// BenchmarkPruneChunk measures the two kinds of transaction a pass is
// made of, on a log of fifty sensors: "delete" reads a chunk of events,
// checks which to keep and deletes the rest (the history is folded
// beforehand, outside the timing); "fold" sums a day up and writes the
// first transaction of its fold, about foldTxRows hourly rows. "hold-ms"
// is how long, on average, the operation's longest transaction held the
// writer, which a group commit waits behind; "maxhold-ms" the longest.
func BenchmarkPruneChunk(b *testing.B) {
	ctx := context.Background()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	fill := func(b *testing.B, st *Store) int64 {
		// Fifty sensors of two attributes, every ten minutes for a day.
		var in []hearth.Event
		for d := range 50 {
			in = append(in, sensorDay(fmt.Sprintf("sensor%d", d), start.Add(time.Duration(d)*time.Second), 10*time.Minute, 144)...)
		}
		slices.SortStableFunc(in, func(x, y hearth.Event) int { return x.Time.Compare(y.Time) })
		for i := 0; i < len(in); i += 2000 {
			logged(b, st, in[i:min(i+2000, len(in))])
		}
		last, err := st.LastSeq(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return int64(last) - 1
	}
	reset := func(b *testing.B, st *Store) {
		for _, q := range []string{`DELETE FROM events`, `DELETE FROM history`, `UPDATE meta SET value = 0 WHERE key = 'history_seq'`,
			`DELETE FROM events_by_device`, `DELETE FROM events_by_topic`, `DELETE FROM events_by_kind`} {
			if _, err := st.w.Exec(q); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("delete", func(b *testing.B) {
		st := openStore(b)
		var hold, sum time.Duration
		for b.Loop() {
			b.StopTimer()
			upTo := fill(b, st)
			p := &pass{s: st}
			if err := p.inspect(ctx); err != nil {
				b.Fatal(err)
			}
			if err := p.fold(ctx, upTo, upTo); err != nil {
				b.Fatal(err)
			}
			p.chunk, p.rep.LongestHold = defaultPruneChunk, 0
			b.StartTimer()
			if _, _, err := p.pruneChunk(ctx, upTo); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			hold, sum = max(hold, p.rep.LongestHold), sum+p.rep.LongestHold
			reset(b, st)
			b.StartTimer()
		}
		b.ReportMetric(float64(sum.Microseconds())/1000/float64(b.N), "hold-ms")
		b.ReportMetric(float64(hold.Microseconds())/1000, "maxhold-ms")
		b.ReportMetric(defaultPruneChunk, "events/op")
	})
	b.Run("fold", func(b *testing.B) {
		st := openStore(b)
		var hold, sum time.Duration
		for b.Loop() {
			b.StopTimer()
			upTo := fill(b, st)
			p := &pass{s: st, chunk: defaultPruneChunk}
			b.StartTimer()
			if _, err := p.foldStep(ctx, upTo, upTo); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			hold, sum = max(hold, p.rep.LongestHold), sum+p.rep.LongestHold
			reset(b, st)
			b.StartTimer()
		}
		b.ReportMetric(float64(sum.Microseconds())/1000/float64(b.N), "hold-ms")
		b.ReportMetric(float64(hold.Microseconds())/1000, "maxhold-ms")
		b.ReportMetric(foldTxRows, "rows/op")
	})
}

// BenchmarkPruneDay measures the pass that deletes a day of a house of
// fifty sensors reporting two numbers every ten minutes (14,400 events
// with the messages): its time, the longest it held the writer, and the
// bytes of write-ahead log it wrote per event deleted, which is what an SD
// card pays for retention.
func BenchmarkPruneDay(b *testing.B) {
	ctx := context.Background()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var hold time.Duration
	var walBytes, deleted int64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		st, err := Open(filepath.Join(b.TempDir(), "hearth.db"), testLogger(b))
		if err != nil {
			b.Fatal(err)
		}
		var in []hearth.Event
		for d := range 50 {
			in = append(in, sensorDay(fmt.Sprintf("sensor%d", d), start.Add(time.Duration(d)*time.Second), 10*time.Minute, 2*144)...)
		}
		slices.SortStableFunc(in, func(x, y hearth.Event) int { return x.Time.Compare(y.Time) })
		for i := 0; i < len(in); i += 2000 {
			logged(b, st, in[i:min(i+2000, len(in))])
		}
		// The write-ahead log from here on holds what the pass writes.
		if _, err := st.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			b.Fatal(err)
		}
		if _, err := st.w.Exec(`PRAGMA wal_autocheckpoint = 0`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := st.Prune(ctx, Retention{Events: day}, start.Add(2*day))
		b.StopTimer()
		if err != nil || rep.EventsByAge != 144*50*2 {
			b.Fatalf("report %+v, %v", rep, err)
		}
		wal, err := fileSize(st.path + "-wal")
		if err != nil {
			b.Fatal(err)
		}
		hold, walBytes, deleted = max(hold, rep.LongestHold), walBytes+wal, deleted+int64(rep.EventsByAge)
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(hold.Microseconds())/1000, "maxhold-ms")
	b.ReportMetric(float64(walBytes)/float64(deleted), "walB/event")
}
