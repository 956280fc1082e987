package store

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"hearth"
)

// seqs lists the sequence numbers of events.
func seqs(events []hearth.Event) []uint64 {
	out := make([]uint64, len(events))
	for i, e := range events {
		out[i] = e.Seq
	}
	return out
}

func TestEvents(t *testing.T) {
	// 30 events: devices a, b, c in turn; odd seqs are messages, even ones states.
	var in []hearth.Event
	for i := range 30 {
		dev := string(rune('a' + i%3))
		kind := hearth.KindMessage
		if i%2 == 1 {
			kind = hearth.KindState
		}
		in = append(in, hearth.Event{Kind: kind, Device: dev, Topic: "home/" + dev, Payload: []byte(`{}`)})
	}
	// A query reads the index tables up to their high-water mark and the
	// tail in memory above it: the answers must not depend on where the
	// events are.
	for _, indexed := range []int{0, 30, 13} {
		t.Run(fmt.Sprintf("with %d of 30 events in the index tables", indexed), func(t *testing.T) {
			st := openStore(t)
			var all []hearth.Event
			if indexed > 0 {
				all = commitDirect(t, st, slices.Clone(in[:indexed]))
			}
			indexAll(t, st)
			all = append(all, commitDirect(t, st, slices.Clone(in[indexed:]))...)
			testEvents(t, st, all)
		})
	}
}

func testEvents(t *testing.T, st *Store, all []hearth.Event) {
	ctx := context.Background()
	newest := slices.Clone(all)
	slices.Reverse(newest)
	match := func(f func(hearth.Event) bool, n int) []uint64 {
		var out []uint64
		for _, e := range newest {
			if f(e) && len(out) < n {
				out = append(out, e.Seq)
			}
		}
		return out
	}

	cases := []struct {
		name string
		q    Query
		want []uint64
	}{
		{"no filter gives the newest first", Query{Limit: 5}, []uint64{30, 29, 28, 27, 26}},
		{"no limit gives up to the default", Query{}, match(func(hearth.Event) bool { return true }, DefaultLimit)},
		{"a device filter gives only its events", Query{Device: "b"}, match(func(e hearth.Event) bool { return e.Device == "b" }, 100)},
		{"a topic filter gives only its events", Query{Topic: "home/c", Limit: 4}, []uint64{30, 27, 24, 21}},
		{"a kind filter gives only that kind", Query{Kind: hearth.KindState, Limit: 3}, []uint64{30, 28, 26}},
		{"filters combine", Query{Device: "a", Kind: hearth.KindState}, []uint64{28, 22, 16, 10, 4}},
		{"Before pages back", Query{Before: 10, Limit: 3}, []uint64{9, 8, 7}},
		{"Before combines with a filter", Query{Device: "a", Before: 10}, []uint64{7, 4, 1}},
		{"an unknown kind matches nothing", Query{Kind: "nope"}, []uint64{}},
		{"a device with no events matches nothing", Query{Device: "zz"}, []uint64{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := st.Events(ctx, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(seqs(got), c.want) {
				t.Fatalf("got seqs %v, want %v", seqs(got), c.want)
			}
			for _, e := range got {
				if d := eventDiff(e, all[e.Seq-1]); d != "" {
					t.Fatalf("seq %d: %s", e.Seq, d)
				}
			}
		})
	}

	t.Run("paging with Before walks the whole filtered log once", func(t *testing.T) {
		var walked []uint64
		q := Query{Kind: hearth.KindMessage, Limit: 4}
		for {
			page, err := st.Events(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			walked = append(walked, seqs(page)...)
			q.Before = page[len(page)-1].Seq
		}
		if want := match(func(e hearth.Event) bool { return e.Kind == hearth.KindMessage }, 100); !slices.Equal(walked, want) {
			t.Fatalf("walked %v, want %v", walked, want)
		}
	})

	t.Run("an empty result is an empty slice, not nil", func(t *testing.T) {
		got, err := st.Events(ctx, Query{Device: "zz"})
		if err != nil || got == nil {
			t.Fatalf("got %v, %v", got, err)
		}
	})
}

func TestLimit(t *testing.T) {
	for _, c := range []struct{ in, want int }{
		{0, DefaultLimit}, {-3, DefaultLimit}, {1, 1}, {250, 250}, {MaxLimit, MaxLimit}, {MaxLimit + 1, MaxLimit}, {1 << 30, MaxLimit},
	} {
		t.Run(fmt.Sprintf("a limit of %d gives %d", c.in, c.want), func(t *testing.T) {
			if got := limit(c.in); got != c.want {
				t.Fatalf("limit(%d) = %d", c.in, got)
			}
		})
	}
}

func TestLastSeqOfAnEmptyLog(t *testing.T) {
	st := openStore(t)
	last, err := st.LastSeq(context.Background())
	if err != nil || last != 0 {
		t.Fatalf("LastSeq = %d, %v; want 0", last, err)
	}
	devices, stateSeq, err := st.Devices(context.Background())
	if err != nil || len(devices) != 0 || stateSeq != 0 {
		t.Fatalf("Devices = %v at %d, %v; want none at 0", devices, stateSeq, err)
	}
}

func TestEventsQueryPlans(t *testing.T) {
	st := openStore(t)
	commitDirect(t, st, messages(10))
	for _, q := range []Query{
		{Device: "d"}, {Topic: "t"}, {Kind: hearth.KindState},
		{Device: "d", Kind: hearth.KindState, Before: 5}, {Topic: "t", Kind: hearth.KindCommand},
		{Device: "d", Topic: "t"},
	} {
		t.Run(fmt.Sprintf("the query %+v walks an index table in seq order", q), func(t *testing.T) {
			query, args := indexedQuery(q, 8, 5)
			p := queryPlan(t, st, query, args)
			col, _ := indexedColumn(q)
			want := "SEARCH i USING PRIMARY KEY (" + col + "=? AND seq<?); SEARCH e USING INTEGER PRIMARY KEY (rowid=?)"
			if p != want {
				t.Fatalf("plan: %s\nwant: %s", p, want)
			}
		})
	}
}
