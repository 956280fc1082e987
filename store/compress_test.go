package store

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"hearth"
)

// aTrace is a run's trace as the automations engine writes it.
func aTrace(t testing.TB) []byte {
	t.Helper()
	at := time.Date(2026, 11, 25, 21, 48, 45, 120336751, time.UTC)
	b, err := json.Marshal(hearth.Trace{
		RunSummary: hearth.RunSummary{Run: "motion_0_on#3", Started: at, Ended: at.Add(150 * time.Microsecond), Outcome: "done"},
		Automation: "motion_0_on", Trigger: 23,
		Steps: []hearth.TraceStep{
			{Time: at, Kind: "trigger", Text: "device motion_0 when occupancy == true", Result: "fired"},
			{Time: at, Kind: "condition", Text: "(states.lux_0.illuminance ?? 0) < 30", Result: "true"},
			{Time: at, Kind: "condition", Text: `(states.house.mode ?? "home") != "away"`, Result: "true"},
			{Time: at.Add(107 * time.Microsecond), Kind: "command", Text: `set light_0 {"brightness":200,"state":"ON"}`, Result: "sent", Seq: 24},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// storedPayload is a payload as the events table holds it.
func storedPayload(t *testing.T, st *Store, seq uint64) []byte {
	t.Helper()
	var p []byte
	if err := st.r.QueryRowContext(context.Background(), `SELECT payload FROM events WHERE seq = ?`, int64(seq)).Scan(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTracesAreStoredCompressed(t *testing.T) {
	ctx := context.Background()
	trace := aTrace(t)
	notJSON := []byte(strings.Repeat("x", 300))
	bigMessage := []byte(`{"pad":"` + strings.Repeat("y", 400) + `"}`)
	for _, c := range []struct {
		name       string
		e          hearth.Event
		compressed bool
	}{
		{"a run's trace is stored in a third of its size", hearth.Event{Kind: hearth.KindRun, Topic: "$hearth/automations/motion_0_on", Payload: trace}, true},
		{"a short trace is stored as it is", hearth.Event{Kind: hearth.KindRun, Payload: []byte(`{"run":"a#1"}`)}, false},
		{"a run payload that is not JSON is stored as it is", hearth.Event{Kind: hearth.KindRun, Payload: notJSON}, false},
		{"a message is stored as it is, however large", hearth.Event{Kind: hearth.KindMessage, Topic: "home/x", Payload: bigMessage}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := openStore(t)
			e := commitDirect(t, st, []hearth.Event{c.e})[0]
			raw := storedPayload(t, st, e.Seq)
			if c.compressed {
				if raw[0] != traceDeflate || len(raw) > len(c.e.Payload)/3 {
					t.Fatalf("stored %d bytes starting %#x for a %d-byte trace, want a third, marked %#x", len(raw), raw[0], len(c.e.Payload), traceDeflate)
				}
			} else if !bytes.Equal(raw, c.e.Payload) {
				t.Fatalf("stored %q, want the payload as it is", raw)
			}
			// Whatever reads it gets the payload back as published.
			got, err := st.Event(ctx, e.Seq)
			if err != nil {
				t.Fatal(err)
			}
			listed, err := st.Events(ctx, Query{Kind: c.e.Kind})
			if err != nil || len(listed) != 1 {
				t.Fatalf("events: %v, %v", listed, err)
			}
			replayed := replayAll(t, st)
			for _, g := range []hearth.Event{got, listed[0], replayed[0]} {
				if d := eventDiff(g, e); d != "" {
					t.Fatalf("read back: %s", d)
				}
			}
		})
	}
}
