package store

import (
	"context"
	"testing"
	"time"

	"hearth"
)

func TestFirstSeqSinceFindsTheFirstEventAtOrAfterATime(t *testing.T) {
	s := openStore(t)
	base := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	var evs []hearth.Event
	for i := 0; i < 100; i++ {
		evs = append(evs, hearth.Event{Kind: hearth.KindMessage, Topic: "home/x", Time: base.Add(time.Duration(i) * time.Minute)})
	}
	commitDirect(t, s, evs)
	ctx := context.Background()
	cases := []struct {
		name string
		at   time.Time
		want uint64
	}{
		{"before the log it is the first event", base.Add(-time.Hour), 1},
		{"at an event's time it is that event", base.Add(10 * time.Minute), 11},
		{"between two events it is the later one", base.Add(10*time.Minute + time.Second), 12},
		{"after the log it is one past the end", base.Add(200 * time.Minute), 101},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.FirstSeqSince(ctx, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("FirstSeqSince(%s) = %d, want %d", tc.at.Format(time.TimeOnly), got, tc.want)
			}
		})
	}
}
