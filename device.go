package hearth

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Availability is what a device last said about being reachable.
type Availability string

// The availability values of the native topic convention.
const (
	AvailabilityUnknown Availability = ""
	Online              Availability = "online"
	Offline             Availability = "offline"
)

// DeviceState is what the hub knows of a device right now: the fold of every
// message it sent. The State map is never changed once the value is handed
// out; a change makes a new map.
type DeviceState struct {
	// ID is the device's id, the <id> of its topics.
	ID string `json:"id"`
	// State holds the device's attributes ("occupancy", "brightness", ...).
	State map[string]any `json:"state"`
	// Availability is online, offline or unknown ("").
	Availability Availability `json:"availability,omitempty"`
	// Updated is when the state last changed.
	Updated time.Time `json:"updated"`
	// Seq is the sequence number of the event that last changed the device.
	Seq uint64 `json:"seq"`
}

// DeviceMeta is what people say about a device, kept apart from what the
// device says about itself: the name shown on the page and its room.
type DeviceMeta struct {
	// Name is the display name; the page shows the id when it is empty.
	Name string `json:"name"`
	// Room groups devices on the page; empty when not set.
	Room string `json:"room"`
}

// Or returns m when people set a name or a room, else what the device
// says of itself (its devices file entry, its adapter): the name and room
// the page shows, and the alarm names a sensor by.
func (m DeviceMeta) Or(info DeviceInfo) DeviceMeta {
	if m == (DeviceMeta{}) {
		return DeviceMeta{Name: info.Name, Room: info.Room}
	}
	return m
}

// MaxDeviceID bounds a device id, in bytes.
const MaxDeviceID = 128

// DeviceIDProblem says what is wrong with a device id, in words to put
// after the id in an error, or "" when it is one: one topic level (it is
// one in <base>/<id>) of at most MaxDeviceID bytes of UTF-8, without
// wildcards, white space or control characters. The adapters make ids of
// what devices call themselves to fit it; the API and the devices file
// take no other.
func DeviceIDProblem(id string) string {
	switch {
	case id == "":
		return "is empty"
	case len(id) > MaxDeviceID:
		return "is longer than " + strconv.Itoa(MaxDeviceID) + " bytes"
	case !utf8.ValidString(id):
		return "is not valid UTF-8"
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c == '/' || c == '+' || c == '#' || c <= ' ' || c == 0x7f {
			return "is not one topic level without wildcards, spaces or control characters"
		}
	}
	return ""
}
