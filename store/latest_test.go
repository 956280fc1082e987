package store

import (
	"context"
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
	p := strings.Join(plan, "; ")
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
