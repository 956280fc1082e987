package devices

import "strings"

// topicKind says what a topic under the base topic means.
type topicKind uint8

const (
	topicNone         topicKind = iota // not a device topic
	topicState                         // <base>/<id>: the device's state
	topicSet                           // <base>/<id>/set: a command to the device
	topicAvailability                  // <base>/<id>/availability: online/offline
	topicOther                         // <base>/<id>/...: another message of the device
)

// The sub-topics of the native convention (the same as Zigbee2MQTT's).
const (
	subSet          = "set"
	subAvailability = "availability"
)

// parseTopic splits a topic of the native convention into the device id and
// what the topic carries. A device id is one non-empty topic level with no
// wildcard characters.
func parseTopic(base, topic string) (string, topicKind) {
	if len(topic) <= len(base)+1 || topic[len(base)] != '/' || topic[:len(base)] != base {
		return "", topicNone
	}
	return parseRest(topic[len(base)+1:])
}

// parseRest splits what follows the base topic into the device id and what
// the topic carries.
func parseRest(rest string) (string, topicKind) {
	id, sub, hasSub := strings.Cut(rest, "/")
	if id == "" || strings.ContainsAny(id, "+#") {
		return "", topicNone
	}
	switch {
	case !hasSub:
		return id, topicState
	case sub == subSet:
		return id, topicSet
	case sub == subAvailability:
		return id, topicAvailability
	}
	return id, topicOther
}
