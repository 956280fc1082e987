package devices

import "hearth"

// native reads the hub's own convention, the shape of Zigbee2MQTT's:
// <base>/<id> state, <base>/<id>/availability, <base>/<id>/set commands. A
// native device has no controller: CommandFor publishes the hub command to
// <base>/<id>/set as it is.
type native struct {
	base string
}

func (n *native) name() string    { return adapterNative }
func (n *native) bases() []string { return []string{n.base} }

func (n *native) apply(r *Registry, e *hearth.Event, _, rest string, emit func(hearth.Event)) bool {
	id, kind := parseRest(rest)
	if kind == topicNone {
		return false
	}
	if !validID(id) {
		if e.Kind == hearth.KindMessage && kind != topicOther {
			r.noteLocked(e, "native id", "a message on a native device topic whose level is no device id (at most 128 bytes, no spaces or control characters): it is logged but makes no device",
				"level", clip([]byte(id)))
		}
		return true
	}
	e.Device = id
	if h := r.hub[id]; h != nil {
		r.applyHubLocked(e, id, kind, h, emit)
		return true
	}
	if id == AlarmID && kind == topicSet {
		// The alarm runs in another process (--role): its code stays out
		// of this one's log all the same.
		r.redactLocked(e, alarmSecret)
		return true
	}
	// A command to <id>/set is what someone asked for, not what the device
	// is. The hub's own publish on <id> or <id>/availability (an
	// automation's publish: home/counter) is what every subscriber now
	// reads as the device's state, so the read model takes it too.
	if kind == topicSet || kind == topicOther || e.Kind != hearth.KindMessage && e.Kind != hearth.KindCommand ||
		!r.keptLocked(id, adapterNative) {
		return true
	}
	switch kind {
	case topicState:
		r.foldPayloadLocked(e, id, emit)
	case topicAvailability:
		r.foldAvailabilityPayloadLocked(e, id, emit)
	}
	return true
}
