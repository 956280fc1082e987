package devices

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"hearth"
)

// Presence is the presence: section of the hub's config file: the people
// kept as devices and where home is for their phones.
//
// A person is a device of the hub's own ({"presence":"home"} or "away",
// and from a phone latitude, longitude, accuracy, battery, regions and the
// distance from home). Automations and the page set presence with a
// command ({"presence":"away"} to <base>/<id>/set); phones running
// OwnTracks set it by what they report (owntracks.go).
type Presence struct {
	// Region is the name of the OwnTracks region that is home, compared
	// without regard to case; "home" when empty.
	Region string `yaml:"region,omitempty"`
	// Latitude and Longitude place home. When both are 0 (not set), a
	// phone's position alone says nothing; its regions still do.
	Latitude  float64 `yaml:"latitude,omitempty"`
	Longitude float64 `yaml:"longitude,omitempty"`
	// Radius is how far from home, in metres, a position still counts as
	// home; 100 when zero.
	Radius float64 `yaml:"radius,omitempty"`
	// People are the people known before any phone reports. A phone's user
	// no person names becomes the device person_<user> on its first report.
	People []Person `yaml:"people,omitempty"`
}

// Person is one person kept as a device.
type Person struct {
	// ID is the device id ("person_alice", or "alice").
	ID string `yaml:"id"`
	// Name is shown on the page.
	Name string `yaml:"name,omitempty"`
	// OwnTracks names the phones that report for the person: "user" (any
	// device of that OwnTracks user) or "user/device".
	OwnTracks []string `yaml:"owntracks,omitempty"`
}

// The presence values of a person.
const (
	PresenceHome = "home"
	PresenceAway = "away"
)

// defaultRadius is the home radius, in metres, when none is configured.
const defaultRadius = 100

// check reports every mistake in p at once.
func (p Presence) check() error {
	var errs []error
	if math.IsNaN(p.Latitude) || p.Latitude < -90 || p.Latitude > 90 || math.IsNaN(p.Longitude) || p.Longitude < -180 || p.Longitude > 180 {
		errs = append(errs, fmt.Errorf("home at %v, %v: latitude must be within ±90 and longitude within ±180", p.Latitude, p.Longitude))
	}
	if p.Radius < 0 || math.IsNaN(p.Radius) || math.IsInf(p.Radius, 0) {
		errs = append(errs, fmt.Errorf("radius %v: want metres, more than 0", p.Radius))
	}
	ids := map[string]bool{}
	phones := map[string]string{}
	for i, person := range p.People {
		where := fmt.Sprintf("people[%d]", i)
		switch {
		case person.ID == "":
			errs = append(errs, errors.New(where+": id is required"))
		case deviceID(person.ID) != person.ID || person.ID == HouseID || person.ID == AlarmID:
			errs = append(errs, fmt.Errorf("%s: id %q: want one topic level without wildcards or spaces, not house or alarm", where, person.ID))
		case ids[person.ID]:
			errs = append(errs, fmt.Errorf("%s: id %q is given twice", where, person.ID))
		}
		ids[person.ID] = true
		for _, ot := range person.OwnTracks {
			user, device, hasDevice := strings.Cut(ot, "/")
			if user == "" || hasDevice && (device == "" || strings.Contains(device, "/")) || strings.ContainsAny(ot, "+# ") {
				errs = append(errs, fmt.Errorf("%s (%s): owntracks %q: want user or user/device", where, person.ID, ot))
				continue
			}
			if other, dup := phones[ot]; dup {
				errs = append(errs, fmt.Errorf("%s (%s): owntracks %q is also %s's", where, person.ID, ot, other))
			}
			phones[ot] = person.ID
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("presence: %w", errors.Join(errs...))
	}
	return nil
}

// addPeopleLocked registers the configured people as the hub's devices.
func (r *Registry) addPeopleLocked(p Presence) {
	for _, person := range p.People {
		r.addHubLocked(person.ID, adapterHub, &hubDevice{kind: hubPerson, check: checkPresence}, personInfo(person.Name))
	}
}

// personInfo is what the page is told of a person.
func personInfo(name string) hearth.DeviceInfo {
	return hearth.DeviceInfo{
		Name: name, Kind: "device_tracker", Class: "presence", Description: "a person",
		Capabilities: []hearth.Capability{
			{Attr: "presence", Type: "enum", Set: true, Values: []string{PresenceHome, PresenceAway}},
			{Attr: "latitude", Type: "numeric", Unit: "°"},
			{Attr: "longitude", Type: "numeric", Unit: "°"},
			{Attr: "accuracy", Type: "numeric", Unit: "m"},
			{Attr: "distance", Type: "numeric", Unit: "m"},
			{Attr: "battery", Type: "numeric", Unit: "%"},
		},
	}
}

// checkPresence accepts {"presence":"home"} and {"presence":"away"}.
func checkPresence(c hubCommand) error {
	v, ok := c.attrs["presence"].(string)
	if !ok || len(c.attrs) != 1 || v != PresenceHome && v != PresenceAway {
		return badCommand(`a person takes {"presence": "home"} or {"presence": "away"}`)
	}
	return nil
}

// earthRadius is the mean radius of the Earth in metres (IUGG).
const earthRadius = 6371008.8

// haversine returns the distance in metres between two points on the
// Earth given in degrees, along the surface of a sphere.
func haversine(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadius * math.Asin(math.Sqrt(min(1, a)))
}

// homeArea is Presence compiled for the OwnTracks adapter.
type homeArea struct {
	region   string  // lower case
	lat, lon float64 // valid when located
	located  bool
	radius   float64
}

func newHomeArea(p Presence) homeArea {
	h := homeArea{region: strings.ToLower(strings.TrimSpace(p.Region)), lat: p.Latitude, lon: p.Longitude, radius: p.Radius}
	if h.region == "" {
		h.region = "home"
	}
	h.located = p.Latitude != 0 || p.Longitude != 0
	if h.radius == 0 {
		h.radius = defaultRadius
	}
	return h
}

// isHome reports whether an OwnTracks region name is home.
func (h homeArea) isHome(region string) bool {
	return strings.ToLower(strings.TrimSpace(region)) == h.region
}

// inRegions reports whether home is among a phone's current regions.
func (h homeArea) inRegions(regions []string) bool {
	return slices.ContainsFunc(regions, h.isHome)
}
