package store

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"hearth"
)

func TestLatestMessagesGivesTheNewestMessagePerTopicUnderAPrefix(t *testing.T) {
	s := openStore(t)
	msg := func(topic, payload string) hearth.Event {
		return hearth.Event{Kind: hearth.KindMessage, Topic: topic, Payload: []byte(payload)}
	}
	commitDirect(t, s, []hearth.Event{
		msg("homeassistant/sensor/a/config", `{"v":1}`),
		msg("homeassistant/sensor/b/config", `{"v":1}`),
		msg("home/lamp", `{"state":"ON"}`),
		msg("homeassistant/sensor/a/config", `{"v":2}`),
		{Kind: hearth.KindCommand, Topic: "homeassistant/sensor/b/config", Payload: []byte(`{"v":9}`)},
		msg("zigbee2mqtt/bridge/devices", `[]`),
		msg("homeassistant*/odd", `{}`),
	})
	got, err := s.LatestMessages(context.Background(), []string{"homeassistant/", "zigbee2mqtt/bridge/devices"})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, e := range got {
		seen = append(seen, e.Topic+" "+string(e.Payload))
	}
	want := []string{
		"homeassistant/sensor/b/config {\"v\":1}",
		"homeassistant/sensor/a/config {\"v\":2}",
		"zigbee2mqtt/bridge/devices []",
	}
	if len(seen) != len(want) {
		t.Fatalf("got %q, want %q", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("got %q, want %q", seen, want)
		}
	}
}

func TestLatestMessagesReadsOnlyTheTopicsUnderThePrefix(t *testing.T) {
	st := openStore(t)
	commitDirect(t, st, messages(10))
	query, args := latestQuery("homeassistant/", 10)
	p := queryPlan(t, st, query, args)
	if !strings.Contains(p, "SEARCH i USING PRIMARY KEY (topic>? AND topic<?)") {
		t.Fatalf("plan: %s", p)
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct {
		name, prefix, want string
		ok                 bool
	}{
		{"the last byte goes up by one", "homeassistant/", "homeassistant0", true},
		{"trailing 0xff bytes are dropped before", "a\xff\xff", "b", true},
		{"an empty prefix has no end", "", "", false},
		{"a prefix of 0xff bytes has no end", "\xff", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := prefixEnd(tc.prefix)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("prefixEnd(%q) = %q, %v; want %q, %v", tc.prefix, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestNewestOnTopicsGivesTheNewestRunOfEachAutomation(t *testing.T) {
	topic := func(id string) string { return "$hearth/automations/" + id }
	run := func(id string, n int) hearth.Event {
		return hearth.Event{Kind: hearth.KindRun, Topic: topic(id), Payload: fmt.Appendf(nil, `{"run":"%s#%d"}`, id, n)}
	}
	older := []hearth.Event{run("a", 1), run("b", 1), run("a", 2)}
	newer := []hearth.Event{
		run("c", 1), run("b", 2),
		{Kind: hearth.KindMessage, Topic: topic("a"), Payload: []byte(`{"run":"not a run"}`)},
		{Kind: hearth.KindState, Device: "lamp", Topic: "home/lamp", Payload: []byte(`{"state":"ON"}`)},
	}
	for _, tc := range []struct {
		name string
		make func(t *testing.T) *Store
	}{
		{"every run is still in the tail", func(t *testing.T) *Store {
			st := openStore(t)
			commitDirect(t, st, slices.Concat(older, newer))
			return st
		}},
		{"every run is in the index tables", func(t *testing.T) *Store {
			st := openStore(t)
			commitDirect(t, st, slices.Concat(older, newer))
			indexAll(t, st)
			return st
		}},
		{"the older runs are indexed and the newer ones in the tail", func(t *testing.T) *Store {
			st := openStore(t)
			commitDirect(t, st, slices.Clone(older))
			indexAll(t, st)
			commitDirect(t, st, slices.Clone(newer))
			return st
		}},
		{"the store was reopened and read its tail back from the file", func(t *testing.T) *Store {
			path := filepath.Join(t.TempDir(), "hearth.db")
			st := openAt(t, path)
			commitDirect(t, st, slices.Clone(older))
			indexAll(t, st)
			commitDirect(t, st, slices.Clone(newer))
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			return openAt(t, path)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.make(t)
			got, err := st.NewestOnTopics(context.Background(), hearth.KindRun,
				[]string{topic("a"), topic("b"), topic("c"), topic("never_ran")})
			if err != nil {
				t.Fatal(err)
			}
			var runs []string
			for _, e := range got {
				runs = append(runs, e.Topic+" "+string(e.Payload))
			}
			want := []string{ // in log order; nothing for never_ran
				topic("a") + ` {"run":"a#2"}`,
				topic("c") + ` {"run":"c#1"}`,
				topic("b") + ` {"run":"b#2"}`,
			}
			if !slices.Equal(runs, want) {
				t.Fatalf("got %q\nwant %q", runs, want)
			}
		})
	}
	t.Run("no topics give nothing", func(t *testing.T) {
		st := openStore(t)
		commitDirect(t, st, slices.Clone(older))
		if got, err := st.NewestOnTopics(context.Background(), hearth.KindRun, nil); err != nil || len(got) != 0 {
			t.Fatalf("got %v, %v; want nothing", got, err)
		}
	})
}

func TestNewestOnTopicsTakesOneStepOfTheTopicIndexPerTopic(t *testing.T) {
	st := openStore(t)
	commitDirect(t, st, messages(10))
	query, args := newestQuery(hearth.KindRun, 10, `["$hearth/automations/a"]`)
	p := queryPlan(t, st, query, args)
	if !strings.Contains(p, "SEARCH i USING PRIMARY KEY (topic=? AND seq<?); SEARCH e USING INTEGER PRIMARY KEY (rowid=?)") {
		t.Fatalf("plan: %s", p)
	}
}

// queryPlan returns SQLite's plan for a query, its steps joined by "; ".
func queryPlan(t *testing.T, st *Store, query string, args []any) string {
	t.Helper()
	rows, err := st.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}
