package devices

import (
	"testing"

	"hearth"
)

func TestTopics(t *testing.T) {
	cases := []struct {
		name       string
		kind       hearth.Kind
		topic      string
		payload    string
		wantDevice string
		wantState  bool // the message creates device state
	}{
		{name: "a state topic is a device's state", kind: hearth.KindMessage, topic: "home/hall_motion", payload: `{"occupancy":true}`, wantDevice: "hall_motion", wantState: true},
		{name: "a message on /set is not folded into state", kind: hearth.KindMessage, topic: "home/hall_light/set", payload: `{"state":"ON"}`, wantDevice: "hall_light"},
		{name: "a command event on /set gets its device", kind: hearth.KindCommand, topic: "home/hall_light/set", payload: `{"state":"ON"}`, wantDevice: "hall_light"},
		{name: "the hub's own publish to a state topic is folded: subscribers read it as the state", kind: hearth.KindCommand, topic: "home/counter", payload: `{"n":1}`, wantDevice: "counter", wantState: true},
		{name: "the hub's own availability publish is folded too", kind: hearth.KindCommand, topic: "home/counter/availability", payload: `online`, wantDevice: "counter", wantState: true},
		{name: "another sub-topic is a message of the device but not state", kind: hearth.KindMessage, topic: "home/remote/button", payload: `{"action":"single"}`, wantDevice: "remote"},
		{name: "a deeper sub-topic is a message of the device", kind: hearth.KindMessage, topic: "home/remote/set/x", payload: `{"a":1}`, wantDevice: "remote"},
		{name: "a topic outside the base is not a device", kind: hearth.KindMessage, topic: "zigbee2mqtt/lamp", payload: `{"state":"ON"}`},
		{name: "a base that only shares a prefix is not the base", kind: hearth.KindMessage, topic: "homely/lamp", payload: `{"state":"ON"}`},
		{name: "the base topic itself is not a device", kind: hearth.KindMessage, topic: "home", payload: `{"state":"ON"}`},
		{name: "the base with a slash and nothing else is not a device", kind: hearth.KindMessage, topic: "home/", payload: `{"state":"ON"}`},
		{name: "an empty device id is not a device", kind: hearth.KindMessage, topic: "home//set", payload: `{"state":"ON"}`},
		{name: "a device id with a wildcard is not a device", kind: hearth.KindMessage, topic: "home/+/set", payload: `{"state":"ON"}`},
		{name: "a state event published by someone else is left alone", kind: hearth.KindState, topic: "home/lamp", payload: `{"state":"ON"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFolder(t)
			e, out := f.send(tc.kind, tc.topic, tc.payload)
			if e.Device != tc.wantDevice {
				t.Errorf("device = %q, want %q", e.Device, tc.wantDevice)
			}
			if tc.wantState {
				if len(out) != 1 || len(f.r.Devices()) != 1 {
					t.Errorf("want one state event and one device, got %d events, %d devices", len(out), len(f.r.Devices()))
				}
				return
			}
			if len(out) != 0 || len(f.r.Devices()) != 0 {
				t.Errorf("want no state, got %d events and devices %+v", len(out), f.r.Devices())
			}
		})
	}
}

func TestBaseTopic(t *testing.T) {
	cases := []struct {
		name, base, wantBase, wantSet string
	}{
		{name: "the given base is kept", base: "home", wantBase: "home", wantSet: "home/lamp/set"},
		{name: "slashes around the base are dropped", base: "/house/", wantBase: "house", wantSet: "house/lamp/set"},
		{name: "a base of several levels works", base: "a/b", wantBase: "a/b", wantSet: "a/b/lamp/set"},
		{name: "an empty base is the default", base: "", wantBase: "home", wantSet: "home/lamp/set"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := New(tc.base, nil)
			if r.BaseTopic() != tc.wantBase || r.SetTopic("lamp") != tc.wantSet {
				t.Fatalf("base %q set %q", r.BaseTopic(), r.SetTopic("lamp"))
			}
			e := hearth.Event{Kind: hearth.KindMessage, Topic: tc.wantBase + "/lamp", Payload: []byte(`{"x":1}`)}
			r.Apply(&e, func(hearth.Event) {})
			if e.Device != "lamp" {
				t.Fatalf("device = %q", e.Device)
			}
		})
	}
}
