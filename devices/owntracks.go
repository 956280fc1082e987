package devices

import (
	"encoding/json"
	"math"
	"strings"

	"hearth"
)

// adapterOwnTracks names the OwnTracks adapter.
const adapterOwnTracks = "owntracks"

// ownTracks reads the phones of the OwnTracks app (MQTT mode) into people's
// presence:
//
//	<base>/<user>/<device>        {"_type":"location","lat":..,"lon":..,"acc":..,"batt":..,"inregions":["Home"]}
//	<base>/<user>/<device>/event  {"_type":"transition","event":"enter"|"leave","desc":"Home",...}
//
// A person is at home when the phone is in the home region (its
// inregions, or a transition entering it), or, when home is located, when
// its position is within the home radius of it (haversine); a position
// less accurate than maxFixAccuracy says nothing about presence. Leaving
// the home region, or a position outside the radius, is away. Without a
// located home a position alone says nothing; a location listing other
// regions but not home says away.
//
// Other messages (lwt, cards, waypoints, commands) name the person and
// change nothing. Which person a phone reports for is configured
// (Presence.People); a user no person names becomes person_<user>.
type ownTracks struct {
	base    string
	home    homeArea
	people  map[string]string // "user/device" or "user" -> person id
	claimed map[string]bool   // users a person names with a device: their other devices are ignored
}

func newOwnTracks(base string, p Presence) *ownTracks {
	o := &ownTracks{base: base, home: newHomeArea(p), people: map[string]string{}, claimed: map[string]bool{}}
	for _, person := range p.People {
		for _, ot := range person.OwnTracks {
			o.people[ot] = person.ID
			if user, _, hasDevice := strings.Cut(ot, "/"); hasDevice {
				o.claimed[user] = true
			}
		}
	}
	return o
}

func (o *ownTracks) name() string    { return adapterOwnTracks }
func (o *ownTracks) bases() []string { return []string{o.base} }

// maxOwnTracksPayload bounds the payloads decoded under the bus lock; a
// location is a few hundred bytes.
const maxOwnTracksPayload = 16 << 10

// maxFixAccuracy is the accuracy, in metres, past which a position (a
// cell-tower fix) is not used to decide presence.
const maxFixAccuracy = 1000

func (o *ownTracks) apply(r *Registry, e *hearth.Event, _, rest string, emit func(hearth.Event)) bool {
	user, after, ok := strings.Cut(rest, "/")
	if !ok || user == "" {
		return true
	}
	device, sub, _ := strings.Cut(after, "/")
	if device == "" || strings.ContainsAny(user+device, "+#") {
		return true
	}
	id := o.person(user, device)
	if id == "" {
		return true
	}
	e.Device = id
	if e.Kind != hearth.KindMessage || sub != "" && sub != "event" || len(e.Payload) > maxOwnTracksPayload {
		return true
	}
	var m otMessage
	if json.Unmarshal(e.Payload, &m) != nil {
		r.log.Debug("OwnTracks payload is not JSON; ignored", "topic", e.Topic, "seq", e.Seq)
		return true
	}
	u := &r.upd.attrs
	u.reset()
	switch m.Type {
	case "location":
		if !o.location(u, &m) {
			return true
		}
	case "transition":
		o.transition(u, &m)
	default:
		return true
	}
	if len(u.ms) == 0 {
		return true
	}
	if r.hub[id] == nil {
		r.addHubLocked(id, adapterOwnTracks, &hubDevice{kind: hubPerson, check: checkPresence}, personInfo(user))
	}
	r.foldLocked(e, id, u.ms, emit)
	return true
}

// person is the device id of the person a phone reports for, "" when the
// phone is not one the configuration lets report.
func (o *ownTracks) person(user, device string) string {
	if id, ok := o.people[user+"/"+device]; ok {
		return id
	}
	if id, ok := o.people[user]; ok {
		return id
	}
	if o.claimed[user] {
		return ""
	}
	return deviceID("person_" + user)
}

// otMessage is the part of an OwnTracks message the adapter reads.
type otMessage struct {
	Type      string   `json:"_type"`
	Lat       *float64 `json:"lat"`
	Lon       *float64 `json:"lon"`
	Acc       *float64 `json:"acc"`
	Batt      *float64 `json:"batt"`
	InRegions []string `json:"inregions"`
	Event     string   `json:"event"`
	Desc      string   `json:"desc"`
}

// position reports whether the message holds a valid position.
func (m *otMessage) position() bool {
	return m.Lat != nil && m.Lon != nil && *m.Lat >= -90 && *m.Lat <= 90 && *m.Lon >= -180 && *m.Lon <= 180
}

// location reads a position report; it reports false for one without a
// valid position.
func (o *ownTracks) location(u *attrBuf, m *otMessage) bool {
	if !m.position() {
		return false
	}
	o.setPosition(u, m)
	if m.Batt != nil {
		u.set("battery", *m.Batt)
	}
	if m.InRegions != nil {
		regions := make([]any, len(m.InRegions))
		for i, s := range m.InRegions {
			regions[i] = s
		}
		u.set("regions", regions)
	} else {
		u.set("regions", nil)
	}
	accurate := m.Acc == nil || *m.Acc <= maxFixAccuracy
	switch {
	case o.home.inRegions(m.InRegions):
		u.set("presence", PresenceHome)
	case o.home.located && accurate:
		if haversine(*m.Lat, *m.Lon, o.home.lat, o.home.lon) <= o.home.radius {
			u.set("presence", PresenceHome)
		} else {
			u.set("presence", PresenceAway)
		}
	case len(m.InRegions) > 0:
		u.set("presence", PresenceAway)
	}
	return true
}

// transition reads entering or leaving a region: home's sets presence.
func (o *ownTracks) transition(u *attrBuf, m *otMessage) {
	if m.position() {
		o.setPosition(u, m)
	}
	if !o.home.isHome(m.Desc) {
		return
	}
	switch m.Event {
	case "enter":
		u.set("presence", PresenceHome)
	case "leave":
		u.set("presence", PresenceAway)
	}
}

func (o *ownTracks) setPosition(u *attrBuf, m *otMessage) {
	u.set("latitude", *m.Lat)
	u.set("longitude", *m.Lon)
	if m.Acc != nil {
		u.set("accuracy", *m.Acc)
	}
	if o.home.located {
		u.set("distance", math.Round(haversine(*m.Lat, *m.Lon, o.home.lat, o.home.lon)))
	}
}
