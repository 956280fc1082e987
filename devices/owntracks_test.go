package devices

import (
	"fmt"
	"math"
	"testing"

	"hearth"
)

// home is where the OwnTracks tests' house stands.
const homeLat, homeLon = 52.0907, 5.1214

// north returns the latitude m metres north of home.
func north(m float64) float64 { return homeLat + m/earthRadius*180/math.Pi }

func location(lat float64, extra string) []byte {
	return fmt.Appendf(nil, `{"_type":"location","lat":%v,"lon":%v,"tst":1700000000,"tid":"al"%s}`, lat, homeLon, extra)
}

func TestOwnTracksSetsPresence(t *testing.T) {
	people := []Person{{ID: "alice", Name: "Alice", OwnTracks: []string{"alice/phone"}}}
	located := Options{BaseTopic: "home", Adapters: []AdapterConfig{{Name: "owntracks"}},
		Presence: Presence{Latitude: homeLat, Longitude: homeLon, Radius: 150, People: people}}
	regionsOnly := Options{BaseTopic: "home", Adapters: []AdapterConfig{{Name: "owntracks"}},
		Presence: Presence{Region: "Thuis", People: people}}

	for _, tc := range []struct {
		name     string
		o        Options
		before   string // the presence before the message
		topic    string
		payload  []byte
		presence any // nil: unchanged from before
		check    map[string]any
	}{
		{"a position within the home radius is home", located, "away", "owntracks/alice/phone",
			location(north(120), `,"acc":10,"batt":80`), "home", map[string]any{"battery": 80.0, "accuracy": 10.0, "distance": 120.0}},
		{"a position outside the home radius is away", located, "home", "owntracks/alice/phone",
			location(north(2000), `,"acc":10`), "away", map[string]any{"distance": 2000.0}},
		{"the home region among inregions is home, wherever the position", located, "away", "owntracks/alice/phone",
			location(north(2000), `,"acc":10,"inregions":["home","work"]`), "home", map[string]any{"regions": []any{"home", "work"}}},
		{"an inaccurate position says nothing", located, "home", "owntracks/alice/phone",
			location(north(2000), `,"acc":5000`), nil, nil},
		{"entering the home region is home", located, "away", "owntracks/alice/phone/event",
			[]byte(`{"_type":"transition","event":"enter","desc":"Home","lat":52.1,"lon":5.1,"acc":20,"t":"c"}`), "home", nil},
		{"leaving the home region is away", located, "home", "owntracks/alice/phone/event",
			[]byte(`{"_type":"transition","event":"leave","desc":"home","t":"c"}`), "away", nil},
		{"entering another region says nothing", located, "away", "owntracks/alice/phone/event",
			[]byte(`{"_type":"transition","event":"enter","desc":"Work"}`), nil, nil},
		{"the configured region name is home", regionsOnly, "away", "owntracks/alice/phone",
			location(north(5), `,"inregions":["Thuis"]`), "home", nil},
		{"without a located home a position alone says nothing", regionsOnly, "home", "owntracks/alice/phone",
			location(north(5000), ""), nil, map[string]any{"regions": nil}},
		{"without a located home other regions are away", regionsOnly, "home", "owntracks/alice/phone",
			location(north(5000), `,"inregions":["Work"]`), "away", nil},
		{"a last will changes nothing", located, "away", "owntracks/alice/phone",
			[]byte(`{"_type":"lwt","tst":1700000000}`), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newRigWith(t, tc.o)
			g.send(hearth.KindCommand, "home/alice", []byte(`{"presence":"`+tc.before+`"}`)) // as the House publishes it
			e, _ := g.send(hearth.KindMessage, tc.topic, tc.payload)
			if e.Device != "alice" {
				t.Errorf("the message names %q, want alice", e.Device)
			}
			d, _ := g.r.Device("alice")
			want := tc.presence
			if want == nil {
				want = tc.before
			}
			if d.State["presence"] != want {
				t.Errorf("presence = %v, want %v (state %v)", d.State["presence"], want, d.State)
			}
			for k, v := range tc.check {
				if fmt.Sprint(d.State[k]) != fmt.Sprint(v) {
					t.Errorf("%s = %v, want %v", k, d.State[k], v)
				}
			}
		})
	}
}

func TestOwnTracksPeople(t *testing.T) {
	g := newRigWith(t, Options{BaseTopic: "home", Adapters: Adapters(), Presence: Presence{
		Latitude: homeLat, Longitude: homeLon,
		People: []Person{{ID: "alice", OwnTracks: []string{"alice/phone"}}, {ID: "carol", OwnTracks: []string{"carol"}}},
	}})
	for _, tc := range []struct {
		name, topic, device string
	}{
		{"a user no person names is person_<user>", "owntracks/bob/pixel", "person_bob"},
		{"a person named by user takes any of the user's devices", "owntracks/carol/tablet", "carol"},
		{"a device of a user named with another device is ignored", "owntracks/alice/tablet", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := g.send(hearth.KindMessage, tc.topic, location(homeLat, ""))
			if e.Device != tc.device {
				t.Fatalf("device = %q, want %q", e.Device, tc.device)
			}
			if tc.device == "" {
				return
			}
			if d, _ := g.r.Device(tc.device); d.State["presence"] != "home" {
				t.Errorf("state = %v", d.State)
			}
		})
	}
	t.Run("a person a phone made known takes presence commands", func(t *testing.T) {
		in, _ := g.r.Info("person_bob")
		if in.Adapter != adapterOwnTracks || in.Kind != "device_tracker" {
			t.Errorf("info = %+v", in)
		}
		cmds, err := g.r.CommandFor("person_bob", []byte(`{"presence":"away"}`))
		if err != nil || len(cmds) != 1 || cmds[0].Topic != "home/person_bob/set" {
			t.Errorf("CommandFor = %v, %v", cmds, err)
		}
	})
}

func TestOwnTracksThroughMQTT(t *testing.T) {
	g := newHubRig(t, Options{BaseTopic: "home", Adapters: Adapters(), Presence: Presence{Latitude: homeLat, Longitude: homeLon}})
	phone := g.client(t, "alice_phone")
	publish(t, phone, "owntracks/alice/phone", location(north(30), `,"acc":12,"batt":91`), true)
	g.await(t, "alice at home", g.stateIs("person_alice", map[string]any{"presence": "home", "battery": 91}))
	publish(t, phone, "owntracks/alice/phone/event", []byte(`{"_type":"transition","event":"leave","desc":"Home","lat":52.2,"lon":5.1,"acc":30}`), false)
	g.await(t, "alice away", g.stateIs("person_alice", map[string]any{"presence": "away", "latitude": 52.2}))
}

// TestAPhonesPresenceIsPublishedOnThePersonsTopic: presence a phone
// changed reaches home/person_<id>, retained, as presence set by hand does,
// so that a dashboard sees it and a value retained there before goes.
func TestAPhonesPresenceIsPublishedOnThePersonsTopic(t *testing.T) {
	g := newHubRig(t, Options{BaseTopic: "home", Adapters: Adapters(), Presence: Presence{Latitude: homeLat, Longitude: homeLon}})
	g.startHouse(t, HouseConfig{})
	phone := g.client(t, "alice_phone")
	publish(t, phone, "owntracks/alice/phone", location(north(30), `,"acc":12`), true)
	published := func(presence string) func(hearth.Event) bool {
		return func(e hearth.Event) bool {
			return e.Kind == hearth.KindCommand && e.Topic == "home/person_alice" && e.Retain && string(e.Payload) == `{"presence":"`+presence+`"}`
		}
	}
	g.awaitEvent(t, "home published", published("home"))
	publish(t, phone, "owntracks/alice/phone", location(north(5000), `,"acc":12`), true)
	g.awaitEvent(t, "away published", published("away"))
	g.await(t, "alice away", g.stateIs("person_alice", map[string]any{"presence": "away"}))
}

func TestHaversine(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want, tolerance        float64
	}{
		{"the same point is 0 m away", homeLat, homeLon, homeLat, homeLon, 0, 0},
		{"Paris to London is about 343.5 km", 48.8566, 2.3522, 51.5074, -0.1278, 343_560, 500},
		{"a degree of latitude is about 111.2 km", 0, 0, 1, 0, 111_195, 1},
		{"antipodes are half the Earth round", 0, 0, 0, 180, math.Pi * earthRadius, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := haversine(tc.lat1, tc.lon1, tc.lat2, tc.lon2); math.Abs(got-tc.want) > tc.tolerance {
				t.Errorf("haversine = %.0f m, want %.0f ± %.0f", got, tc.want, tc.tolerance)
			}
		})
	}
}

func TestPresenceConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Presence
	}{
		{"a person without an id", Presence{People: []Person{{Name: "x"}}}},
		{"a person id given twice", Presence{People: []Person{{ID: "a"}, {ID: "a"}}}},
		{"a person called house", Presence{People: []Person{{ID: "house"}}}},
		{"a phone given to two people", Presence{People: []Person{{ID: "a", OwnTracks: []string{"u/p"}}, {ID: "b", OwnTracks: []string{"u/p"}}}}},
		{"a phone with a wildcard", Presence{People: []Person{{ID: "a", OwnTracks: []string{"u/#"}}}}},
		{"a latitude past the pole", Presence{Latitude: 91}},
		{"a negative radius", Presence{Radius: -1}},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			if _, err := NewRegistry(Options{Presence: tc.p}); err == nil {
				t.Error("no error")
			}
		})
	}
}
