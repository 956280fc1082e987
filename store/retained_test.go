package store

import (
	"context"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"hearth"
)

// TestRetainedComesFromTheTableAndTheLogAfterIt follows the retained
// messages through what a crash and a clean stop leave: before any
// snapshot they come from the log after state_seq (a crash then loses
// nothing), after one from the retained table, and later publishes
// overlay it; an empty retained publish clears its topic, a publish that
// is not retained changes nothing, and the broker's $ topics are left out.
func TestRetainedComesFromTheTableAndTheLogAfterIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearth.db")
	st := openAt(t, path)
	msg := func(topic, payload string, retain bool) hearth.Event {
		return hearth.Event{Kind: hearth.KindMessage, Topic: topic, Client: "script", Payload: []byte(payload), QoS: 1, Retain: retain}
	}
	retained := func(what string) map[string]string {
		t.Helper()
		evs, err := st.Retained(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, e := range evs {
			got[e.Topic] = string(e.Payload)
		}
		t.Logf("%s: %v", what, got)
		return got
	}
	r := startRun(t, st)
	evs := r.publish(t,
		msg("garden/schedule", `{"at":"06:00"}`, true),
		msg("garden/old", `{"x":1}`, true),
		msg("garden/old", ``, true),
		msg("garden/live", `{"y":2}`, false),
		msg("$SYS/broker/uptime", `5`, true),
		hearth.Event{Kind: hearth.KindCommand, Topic: "home/house", Payload: []byte(`{"mode":"home"}`), QoS: 1, Retain: true},
	)
	r.waitDurable(t, evs[len(evs)-1].Seq)
	want := map[string]string{"garden/schedule": `{"at":"06:00"}`, "home/house": `{"mode":"home"}`}
	if got := retained("from the log, before any snapshot"); !maps.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if err := r.stop(); err != nil { // writes the snapshot
		t.Fatal(err)
	}
	var rows int
	if err := st.r.QueryRow(`SELECT count(*) FROM retained`).Scan(&rows); err != nil || rows != 2 {
		t.Fatalf("the retained table holds %d rows (%v), want 2", rows, err)
	}
	if got := retained("from the table"); !maps.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	r = startRun(t, st)
	evs = r.publish(t, msg("garden/schedule", `{"at":"07:00"}`, true), msg("home/house", ``, true))
	r.waitDurable(t, evs[len(evs)-1].Seq)
	if got, want := retained("the table, and the log after it"), map[string]string{"garden/schedule": `{"at":"07:00"}`}; !maps.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestPruneKeepsTheRetainedMessages: a retained message is kept whatever
// its age, as the broker keeps it, and goes once a newer publish on its
// topic replaces or clears it.
func TestPruneKeepsTheRetainedMessages(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	old := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return old.Add(time.Duration(h) * time.Hour) }
	logged(t, st, []hearth.Event{
		{Time: at(0), Kind: hearth.KindMessage, Topic: "garden/schedule", Payload: []byte(`{"at":"06:00"}`), Retain: true},
		{Time: at(1), Kind: hearth.KindMessage, Topic: "garden/old", Payload: []byte(`{"x":1}`), Retain: true},
		{Time: at(2), Kind: hearth.KindMessage, Topic: "garden/old", Retain: true}, // cleared
		{Time: at(3), Kind: hearth.KindMessage, Topic: "home/button", Payload: []byte(`{"action":"single"}`)},
		{Time: at(4), Kind: hearth.KindMessage, Topic: "home/button", Payload: []byte(`{"action":"double"}`)},
	})
	mustPrune(t, st, Retention{Events: day, History: day, MaxSize: 1 << 30}, at(1000))
	left := seqSet(t, st)
	_, kept := left[1]
	_, stale := left[2]
	_, cleared := left[3]
	if !kept || stale || cleared {
		t.Fatalf("left %v: want the retained schedule (1), not the cleared message (2, 3)", left)
	}
	got, err := st.Retained(ctx)
	if err != nil || len(got) != 1 || got[0].Topic != "garden/schedule" {
		t.Fatalf("retained after pruning: %v, %v", got, err)
	}
}
