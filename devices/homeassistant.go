package devices

import (
	"bytes"
	"slices"
	"strings"

	"hearth"
)

// homeAssistant reads Home Assistant MQTT discovery: a config on
// <prefix>/<component>/[<node_id>/]<object_id>/config creates an entity,
// an empty one removes it. The entities of one node (ESPHome's device, a
// gateway's device) make one hub device, whose id is the node id (the
// object id when there is none); each entity is one attribute of it (see
// haDevice.assign). The entities' state, availability and attribute
// topics become routes: exact topics the registry finds by one lookup. An
// entity whose state topic another adapter reads (Zigbee2MQTT publishes
// discovery for its devices too) is left to that adapter.
type homeAssistant struct {
	prefix   string
	entities map[string]*haEntity // by key (component/[node/]object)
	devices  map[string]*haDevice // by device id
}

func newHomeAssistant(prefix string) *homeAssistant {
	return &homeAssistant{prefix: prefix, entities: map[string]*haEntity{}, devices: map[string]*haDevice{}}
}

func (h *homeAssistant) name() string    { return adapterHomeAssistant }
func (h *homeAssistant) bases() []string { return []string{h.prefix} }

func (h *homeAssistant) isConfig(rest string) bool {
	_, _, _, ok := parseDiscoveryTopic(rest)
	return ok
}

func (h *homeAssistant) configFilters() []string {
	return []string{h.prefix + "/+/+/config", h.prefix + "/+/+/+/config"}
}

func (h *homeAssistant) apply(r *Registry, e *hearth.Event, _, rest string, emit func(hearth.Event)) bool {
	component, node, object, ok := parseDiscoveryTopic(rest)
	if !ok {
		return false // <prefix>/status and the like
	}
	if e.Kind == hearth.KindMessage {
		h.configure(r, e, component, node, object, emit)
	}
	return true
}

// configure adds, replaces or removes the entity of a discovery config.
func (h *homeAssistant) configure(r *Registry, e *hearth.Event, component, node, object string, emit func(hearth.Event)) {
	key := component + "/" + object
	if node != "" {
		key = component + "/" + node + "/" + object
	}
	old := h.entities[key]
	if len(bytes.TrimSpace(e.Payload)) == 0 {
		if old != nil {
			e.Device = old.device
			h.remove(r, e, old, true, emit)
		}
		return
	}
	if old != nil && bytes.Equal(old.raw, e.Payload) {
		e.Device = old.device // the retained config again
		return
	}
	ent, err := newHAEntity(component, node, object, e.Payload)
	if err != nil {
		r.log.Warn("discovery config ignored", "topic", e.Topic, "err", err)
		return
	}
	if t := ent.claimTopic(); t != "" && r.claimedLocked(t, h) {
		r.log.Debug("discovery config left to the adapter that reads its topic", "topic", e.Topic, "state_topic", t)
		if old != nil {
			h.remove(r, e, old, false, emit)
		}
		return
	}
	if len(ent.topics()) == 0 && len(ent.warnings) == 0 {
		r.log.Debug("discovery config with no state or command topic ignored", "topic", e.Topic)
		return
	}
	e.Device = ent.device
	if old != nil {
		h.remove(r, e, old, false, emit)
	}
	h.entities[ent.key] = ent
	d := h.devices[ent.device]
	if d == nil {
		d = &haDevice{id: ent.device}
		h.devices[ent.device] = d
	}
	i, _ := slices.BinarySearchFunc(d.entities, ent.key, func(x *haEntity, k string) int { return strings.Compare(x.key, k) })
	d.entities = slices.Insert(d.entities, i, ent)
	d.assign()
	for _, t := range ent.topics() {
		if err := r.addRouteLocked(t, &haRoute{ent: ent}); err != nil {
			ent.warnings = append(ent.warnings, err.Error())
			r.log.Warn("discovery topic shared by too many devices", "topic", t, "device", ent.device)
		}
	}
	h.describe(r, d)
}

// claimTopic is the topic that decides which adapter the entity belongs to.
func (e *haEntity) claimTopic() string {
	if e.stateTopic != "" {
		return e.stateTopic
	}
	return e.cmdTopic
}

// remove takes an entity away; when the config was deleted (clear), its
// attributes leave the device's state, which is a state change.
func (h *homeAssistant) remove(r *Registry, e *hearth.Event, ent *haEntity, clear bool, emit func(hearth.Event)) {
	delete(h.entities, ent.key)
	for _, t := range ent.topics() {
		r.removeRoutesLocked(t, func(rt route) bool {
			hr, ok := rt.(*haRoute)
			return ok && hr.ent == ent
		})
	}
	d := h.devices[ent.device]
	if d == nil {
		return
	}
	d.entities = slices.DeleteFunc(d.entities, func(x *haEntity) bool { return x == ent })
	if clear {
		u := &r.upd.attrs
		u.reset()
		for _, a := range []string{ent.attr, ent.briAttr} {
			if a != "" {
				u.set(a, nil)
			}
		}
		if _, known := r.devices[ent.device]; known && len(u.ms) > 0 && r.keptLocked(ent.device, adapterHomeAssistant) {
			r.foldLocked(e, ent.device, u.ms, emit)
		}
	}
	if len(d.entities) == 0 {
		delete(h.devices, ent.device)
		if m := r.meta[ent.device]; m != nil && m.adapter == adapterHomeAssistant {
			delete(r.meta, ent.device)
		}
		return
	}
	d.assign()
	h.describe(r, d)
}

// describe stores what the device's entities say of it.
func (h *homeAssistant) describe(r *Registry, d *haDevice) {
	if m := r.meta[d.id]; m != nil && m.adapter != adapterHomeAssistant {
		r.bindLocked(d.id, adapterHomeAssistant, nil) // notes the clash; the other adapter keeps it
		return
	}
	r.setMetaLocked(d.id, &meta{adapter: adapterHomeAssistant, info: d.info(), ctl: d})
}

// haDevice is a hub device made of discovered entities, sorted by key.
type haDevice struct {
	id       string
	entities []*haEntity
}

// haBinaryAttr names the attribute of a binary sensor by its device class
// the way Zigbee2MQTT names the same thing, so that automations read the
// same attribute whichever adapter a sensor comes through. A door, window
// or opening sensor becomes contact, true when closed, as Zigbee2MQTT
// reports it (Home Assistant's is on when open).
var haBinaryAttr = map[string]struct {
	attr   string
	invert bool
}{
	"motion":      {"occupancy", false},
	"occupancy":   {"occupancy", false},
	"presence":    {"occupancy", false},
	"door":        {"contact", true},
	"window":      {"contact", true},
	"opening":     {"contact", true},
	"garage_door": {"contact", true},
	"moisture":    {"water_leak", false},
	"battery":     {"battery_low", false},
}

// assign names the attribute each entity fills. A light or a switch is
// state (a light's brightness, brightness), the hub's command shape; a
// binary sensor is named by its class (haBinaryAttr), a sensor by its
// class (temperature) and anything else by its object id. When two
// entities of the device would share a name, each of them takes its object
// id instead ("relay_1", "relay_1_brightness"), and if that clashes too,
// component_object. Names are stable for a given set of entities.
func (d *haDevice) assign() {
	names := make([]string, len(d.entities))
	for i, e := range d.entities {
		e.invert = false
		switch e.component {
		case "light", "switch":
			names[i] = "state"
		case "binary_sensor":
			if b, ok := haBinaryAttr[e.class]; ok {
				names[i], e.invert = b.attr, b.invert
			} else {
				names[i] = e.class
			}
		case "sensor":
			names[i] = e.class
		}
		if names[i] == "" {
			names[i] = attrName(e.object)
		}
	}
	for pass := 0; pass < 2; pass++ {
		count := map[string]int{}
		for _, n := range names {
			count[n]++
		}
		for i, e := range d.entities {
			if count[names[i]] > 1 {
				if pass == 0 {
					names[i] = attrName(e.object)
				} else {
					names[i] = e.component + "_" + attrName(e.object)
				}
			}
		}
	}
	for i, e := range d.entities {
		e.attr = names[i]
		e.briAttr = ""
		if e.component == "light" && e.brightness {
			e.briAttr = "brightness"
			if e.attr != "state" {
				e.briAttr = e.attr + "_brightness"
			}
		}
	}
}

// attrName makes an object id an attribute name: lower case, "-" as "_".
func attrName(object string) string {
	return strings.ReplaceAll(strings.ToLower(object), "-", "_")
}

// kindRank orders components for the device's kind: a node with a light
// and a few sensors is a light.
var kindRank = []string{"light", "switch", "cover", "lock", "fan", "climate", "valve", "binary_sensor", "sensor"}

// info builds what the hub shows of the device from its entities.
func (d *haDevice) info() hearth.DeviceInfo {
	var in hearth.DeviceInfo
	best := len(kindRank) + 1
	for _, e := range d.entities {
		if in.Name == "" {
			in.Name = e.devName
		}
		if in.Model == "" {
			in.Model = e.model
		}
		if in.Vendor == "" {
			in.Vendor = e.vendor
		}
		rank := slices.Index(kindRank, e.component)
		if rank < 0 {
			rank = len(kindRank)
		}
		if rank < best {
			best, in.Kind, in.Class = rank, e.component, e.class
		}
		in.Capabilities = append(in.Capabilities, e.capabilities()...)
		for _, w := range e.warnings {
			in.Warnings = append(in.Warnings, e.key+": "+w)
		}
	}
	if in.Name == "" && len(d.entities) > 0 {
		in.Name = d.entities[0].name
	}
	slices.SortStableFunc(in.Capabilities, func(a, b hearth.Capability) int { return strings.Compare(a.Attr, b.Attr) })
	return in
}

func (e *haEntity) capabilities() []hearth.Capability {
	set := e.cmdTopic != ""
	switch e.component {
	case "light", "switch":
		caps := []hearth.Capability{{Attr: e.attr, Type: "binary", Set: set, On: "ON", Off: "OFF"}}
		if e.briAttr != "" {
			lo, hi := 0.0, 254.0
			caps = append(caps, hearth.Capability{Attr: e.briAttr, Type: "numeric", Set: e.briCmdTopic != "" || e.jsonSchema && set, Min: &lo, Max: &hi})
		}
		return caps
	case "binary_sensor":
		return []hearth.Capability{{Attr: e.attr, Type: "binary", Class: e.class, On: true, Off: false}}
	}
	c := hearth.Capability{Attr: e.attr, Type: "text", Set: set, Class: e.class, Unit: e.unit}
	if e.unit != "" || e.stateClass != "" || e.class != "" && e.class != "enum" && e.class != "timestamp" && e.class != "date" {
		c.Type = "numeric"
	}
	return []hearth.Capability{c}
}
