package store

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"hearth"
)

// stateEvents makes n state events of device, one a minute from start,
// with temperature i (0..n-1) and occupancy alternating.
func stateEvents(device string, start time.Time, n int) []hearth.Event {
	out := make([]hearth.Event, n)
	for i := range out {
		out[i] = hearth.Event{
			Time: start.Add(time.Duration(i) * time.Minute), Kind: hearth.KindState, Device: device, Topic: "home/" + device,
			Payload: fmt.Appendf(nil, `{"temperature":%d,"occupancy":%t,"state":"ON"}`, i, i%2 == 0),
		}
	}
	return out
}

func TestHistory(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	start := time.Unix(1_700_000_000, 0)
	// Two devices interleaved, plus messages that must not count.
	var in []hearth.Event
	a, b := stateEvents("a", start, 120), stateEvents("b", start, 120)
	for i := range a {
		msg := hearth.Event{Time: a[i].Time, Kind: hearth.KindMessage, Device: "a", Topic: "home/a", Payload: []byte(`{"temperature":1000}`)}
		in = append(in, msg, a[i], b[i])
	}
	commitDirect(t, st, in)

	cases := []struct {
		name      string
		q         hearth.HistoryQuery
		wantN     int
		check     func(p []hearth.HistoryPoint) string
		wantError string
	}{
		{
			name:  "two hours in 30-minute steps are four buckets of thirty values",
			q:     hearth.HistoryQuery{Device: "a", Attr: "temperature", From: start, To: start.Add(2 * time.Hour), Step: 30 * time.Minute},
			wantN: 4,
			check: func(p []hearth.HistoryPoint) string {
				if p[0].Min != 0 || p[0].Max != 29 || p[0].Avg != 14.5 || p[0].Count != 30 || !p[0].Time.Equal(start) {
					return fmt.Sprintf("first %+v", p[0])
				}
				if p[3].Min != 90 || p[3].Max != 119 || !p[3].Time.Equal(start.Add(90*time.Minute)) {
					return fmt.Sprintf("last %+v", p[3])
				}
				return ""
			},
		},
		{
			name:  "a range in the middle reads its events after the value carried in",
			q:     hearth.HistoryQuery{Device: "a", Attr: "temperature", From: start.Add(10 * time.Minute), To: start.Add(20 * time.Minute), Step: time.Hour},
			wantN: 2,
			check: func(p []hearth.HistoryPoint) string {
				if p[0].Avg != 9 || p[0].Count != 0 || !p[0].Time.Equal(start.Add(10*time.Minute)) {
					return fmt.Sprintf("carried in %+v", p[0])
				}
				if p[1].Min != 10 || p[1].Max != 19 || p[1].Count != 10 {
					return fmt.Sprintf("%+v", p[1])
				}
				return ""
			},
		},
		{
			name:  "a boolean counts as one and zero",
			q:     hearth.HistoryQuery{Device: "b", Attr: "occupancy", From: start, To: start.Add(time.Hour), Step: time.Hour},
			wantN: 1,
			check: func(p []hearth.HistoryPoint) string {
				if p[0].Min != 0 || p[0].Max != 1 || math.Abs(p[0].Avg-0.5) > 1e-9 {
					return fmt.Sprintf("%+v", p[0])
				}
				return ""
			},
		},
		{
			name:  "a text attribute has no points",
			q:     hearth.HistoryQuery{Device: "a", Attr: "state", From: start, To: start.Add(time.Hour), Step: time.Minute},
			wantN: 0,
		},
		{
			name:  "an unknown device has no points",
			q:     hearth.HistoryQuery{Device: "nobody", Attr: "temperature", From: start, To: start.Add(time.Hour), Step: time.Minute},
			wantN: 0,
		},
		{
			name:  "a range before the log has no points",
			q:     hearth.HistoryQuery{Device: "a", Attr: "temperature", From: start.Add(-time.Hour), To: start, Step: time.Minute},
			wantN: 0,
		},
		{
			name:  "a range after the log has the last value carried in",
			q:     hearth.HistoryQuery{Device: "a", Attr: "temperature", From: start.Add(3 * time.Hour), To: start.Add(4 * time.Hour), Step: time.Minute},
			wantN: 1,
			check: func(p []hearth.HistoryPoint) string {
				if p[0].Avg != 119 || p[0].Count != 0 {
					return fmt.Sprintf("%+v", p[0])
				}
				return ""
			},
		},
		{
			name:      "a backwards range is refused",
			q:         hearth.HistoryQuery{Device: "a", Attr: "temperature", From: start.Add(time.Hour), To: start, Step: time.Minute},
			wantError: "from must be before to",
		},
		{
			name:      "too many points are refused",
			q:         hearth.HistoryQuery{Device: "a", Attr: "temperature", From: start, To: start.Add(24 * time.Hour), Step: time.Second},
			wantError: "more than",
		},
		{
			name:      "a quote in the attribute is refused",
			q:         hearth.HistoryQuery{Device: "a", Attr: `te"mp`, From: start, To: start.Add(time.Hour), Step: time.Minute},
			wantError: "quotes",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := st.History(ctx, c.q)
			if c.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantError) {
					t.Fatalf("error %v, want one saying %q", err, c.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.wantN {
				t.Fatalf("%d points, want %d: %+v", len(got), c.wantN, got)
			}
			if c.check != nil {
				if d := c.check(got); d != "" {
					t.Fatal(d)
				}
			}
		})
	}
}

func TestHistoryOfAnEmptyLog(t *testing.T) {
	st := openStore(t)
	now := time.Now()
	got, err := st.History(context.Background(), hearth.HistoryQuery{Device: "a", Attr: "t", From: now.Add(-time.Hour), To: now, Step: time.Minute})
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v; want no points", got, err)
	}
}

func TestSeqAtTime(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	start := time.Unix(1_700_000_000, 0)
	// Events at minutes 0..99 with seqs 1..100, then a hole (seqs 101..149
	// missing, as after retention), then minutes 100..109 at seqs 150..159.
	var in []hearth.Event
	for i := range 110 {
		seq := uint64(i + 1)
		if i >= 100 {
			seq = uint64(150 + i - 100)
		}
		in = append(in, hearth.Event{Seq: seq, Time: start.Add(time.Duration(i) * time.Minute), Kind: hearth.KindMessage, Topic: "x"})
	}
	commitDirect(t, st, in)
	tx, err := st.r.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, c := range []struct {
		minute float64
		want   int64
	}{
		{-5, 1}, {0, 1}, {0.5, 2}, {42, 43}, {99, 100}, {99.5, 101}, {100, 101}, {100.5, 151}, {109, 159}, {200, 160},
	} {
		t.Run(fmt.Sprintf("minute %v starts at seq %d or the hole before it", c.minute, c.want), func(t *testing.T) {
			got, err := seqAtTime(ctx, tx, start.Add(time.Duration(c.minute*float64(time.Minute))).UnixNano())
			if err != nil || got != c.want {
				t.Fatalf("got %d, %v; want %d", got, err, c.want)
			}
		})
	}
}

func BenchmarkHistoryWeek(b *testing.B) {
	// A busy sensor: a state event every 10 s for a week (60,480 events)
	// among as many events of other devices.
	ctx := context.Background()
	st := openStore(b)
	start := time.Unix(1_700_000_000, 0)
	const n = 7 * 24 * 360
	batch := make([]hearth.Event, 0, 2048)
	for i := range n {
		at := start.Add(time.Duration(i) * 10 * time.Second)
		batch = append(batch,
			hearth.Event{Time: at, Kind: hearth.KindState, Device: "busy", Topic: "home/busy", Payload: fmt.Appendf(nil, `{"temperature":%d,"humidity":40,"battery":90}`, i%300)},
			hearth.Event{Time: at, Kind: hearth.KindMessage, Device: "other", Topic: "home/other", Payload: []byte(`{"x":1}`)})
		if len(batch) == cap(batch) || i == n-1 {
			commitDirect(b, st, batch)
			batch = batch[:0]
		}
	}
	q := hearth.HistoryQuery{Device: "busy", Attr: "temperature", From: start, To: start.Add(7 * 24 * time.Hour), Step: 30 * time.Minute}
	b.ResetTimer()
	for b.Loop() {
		p, err := st.History(ctx, q)
		if err != nil || len(p) != 336 {
			b.Fatalf("%d points, %v", len(p), err)
		}
	}
}
