package store

import (
	"context"
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
