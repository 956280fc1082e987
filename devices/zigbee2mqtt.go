package devices

import (
	"bytes"
	"encoding/json"
	"strings"

	"hearth"
)

// zigbee2mqtt reads Zigbee2MQTT's topics under its base topic:
//
//	<base>/<friendly_name>               state, a JSON object (merged like the native state)
//	<base>/<friendly_name>/availability  "online"/"offline" or {"state":"online"}
//	<base>/<friendly_name>/set           commands; /set/<attr>, /get too: named, not folded
//	<base>/bridge/devices                the device list: names, models, exposes
//
// Other bridge/ topics are ignored. A friendly name may hold "/"
// (kitchen/floor_light); the device list tells such names from sub-topics,
// and its id is the name with "/" and spaces made "_" (deviceID).
type zigbee2mqtt struct {
	base string
	ids  map[string]string // friendly name -> device id, from bridge/devices
	last []byte            // the last bridge/devices payload read
}

func newZigbee2MQTT(base string) *zigbee2mqtt {
	return &zigbee2mqtt{base: base, ids: map[string]string{}}
}

func (z *zigbee2mqtt) name() string    { return adapterZigbee2MQTT }
func (z *zigbee2mqtt) bases() []string { return []string{z.base} }

func (z *zigbee2mqtt) isConfig(rest string) bool { return rest == "bridge/devices" }
func (z *zigbee2mqtt) configFilters() []string   { return []string{z.base + "/bridge/devices"} }

func (z *zigbee2mqtt) apply(r *Registry, e *hearth.Event, _, rest string, emit func(hearth.Event)) bool {
	if strings.HasPrefix(rest, "bridge/") || rest == "bridge" {
		if rest == "bridge/devices" && e.Kind == hearth.KindMessage {
			z.readDevices(r, e, emit)
		}
		return true
	}
	name, sub := z.split(rest)
	if name == "" || strings.ContainsAny(name, "+#") {
		return false
	}
	id, known := z.ids[name]
	if !known {
		id = deviceID(name)
	}
	e.Device = id
	if e.Kind != hearth.KindMessage {
		return true
	}
	switch sub {
	case "", subAvailability:
		z.bind(r, id, name)
		if !r.keptLocked(id, adapterZigbee2MQTT) {
			return true
		}
		if sub == "" {
			r.foldPayloadLocked(e, id, emit)
		} else {
			r.foldAvailabilityPayloadLocked(e, id, emit)
		}
	}
	return true
}

// bind makes sure the device is commanded through Zigbee2MQTT; the usual
// case, a device already bound, costs one map lookup.
func (z *zigbee2mqtt) bind(r *Registry, id, name string) {
	if m := r.meta[id]; m != nil && m.adapter == adapterZigbee2MQTT {
		return
	}
	r.bindLocked(id, adapterZigbee2MQTT, func() controller { return &z2mDevice{topic: z.base + "/" + name + "/set"} })
}

// split cuts what follows the base topic into the friendly name and the
// sub-topic ("", "availability", "set", "set/state", "get", or another).
func (z *zigbee2mqtt) split(rest string) (name, sub string) {
	if _, ok := z.ids[rest]; ok {
		return rest, ""
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return rest, ""
	}
	head, last := rest[:i], rest[i+1:]
	switch last {
	case subAvailability, subSet, "get":
		return head, last
	}
	if j := strings.LastIndexByte(head, '/'); j >= 0 {
		if s := head[j+1:]; s == subSet || s == "get" {
			return head[:j], head[j+1:] + "/" + last // set/state
		}
	}
	if _, ok := z.ids[head]; ok {
		return head, last // another message of a known device
	}
	return rest, "" // a friendly name with a "/" the device list has not told us of
}

// z2mBridgeDevice is one entry of bridge/devices.
type z2mBridgeDevice struct {
	FriendlyName string `json:"friendly_name"`
	IEEEAddress  string `json:"ieee_address"`
	Type         string `json:"type"`
	Definition   *struct {
		Model       string      `json:"model"`
		Vendor      string      `json:"vendor"`
		Description string      `json:"description"`
		Exposes     []z2mExpose `json:"exposes"`
	} `json:"definition"`
}

// z2mExpose is one capability of a device as Zigbee2MQTT describes it.
type z2mExpose struct {
	Type     string   `json:"type"`
	Name     string   `json:"name"`
	Property string   `json:"property"`
	Access   int      `json:"access"`
	Unit     string   `json:"unit"`
	Min      *float64 `json:"value_min"`
	Max      *float64 `json:"value_max"`
	Values   []any    `json:"values"`
	On       any      `json:"value_on"`
	Off      any      `json:"value_off"`
	Toggle   any      `json:"value_toggle"`
	Presets  []struct {
		Name string `json:"name"`
	} `json:"presets"`
	Features []z2mExpose `json:"features"`
}

// z2mAccessSet is the bit of access saying a /set command can change it.
const z2mAccessSet = 2

// readDevices learns names, models and capabilities from bridge/devices. It
// runs rarely (Zigbee2MQTT publishes the list, retained, when it starts and
// when a device joins or leaves) and skips a list it has already read. A
// device the list no longer holds (removed, or renamed: it comes back under
// its new name) goes offline, so the page and automations do not take the
// old id for a device that answers.
func (z *zigbee2mqtt) readDevices(r *Registry, e *hearth.Event, emit func(hearth.Event)) {
	payload := e.Payload
	if bytes.Equal(payload, z.last) {
		return
	}
	var list []z2mBridgeDevice
	if err := json.Unmarshal(payload, &list); err != nil {
		r.log.Warn("zigbee2mqtt device list is not a JSON list of devices; ignored", "topic", z.base+"/bridge/devices", "err", err)
		return
	}
	z.last = bytes.Clone(payload)
	seen := make(map[string]bool, len(list))
	for _, d := range list {
		if d.Type == "Coordinator" || d.FriendlyName == "" {
			continue
		}
		id := deviceID(d.FriendlyName)
		seen[id] = true
		z.ids[d.FriendlyName] = id
		info := hearth.DeviceInfo{Name: d.FriendlyName}
		if def := d.Definition; def != nil {
			info.Model, info.Vendor, info.Description = def.Model, def.Vendor, def.Description
			info.Capabilities = z2mCapabilities(def.Exposes)
			info.Kind, info.Class = z2mKind(def.Exposes)
		}
		m := r.meta[id]
		if m != nil && m.adapter != adapterZigbee2MQTT {
			r.bindLocked(id, adapterZigbee2MQTT, nil) // notes the clash
			continue
		}
		var warnings []string
		if m != nil {
			warnings = m.info.Warnings
		}
		info.Warnings = warnings
		r.setMetaLocked(id, &meta{adapter: adapterZigbee2MQTT, info: info, ctl: &z2mDevice{topic: z.base + "/" + d.FriendlyName + "/set", caps: info.Capabilities}})
	}
	for name, id := range z.ids {
		if seen[id] {
			continue
		}
		delete(z.ids, name)
		if m := r.meta[id]; m != nil && m.adapter == adapterZigbee2MQTT {
			delete(r.meta, id)
			if _, known := r.devices[id]; known {
				r.foldAvailabilityLocked(e, id, hearth.Offline, emit)
			}
		}
	}
}

// z2mCapabilities flattens exposes into one capability per state attribute.
func z2mCapabilities(exposes []z2mExpose) []hearth.Capability {
	var caps []hearth.Capability
	var walk func(list []z2mExpose)
	walk = func(list []z2mExpose) {
		for _, x := range list {
			var c hearth.Capability
			switch x.Type {
			case "binary":
				c = hearth.Capability{Type: "binary", On: x.On, Off: x.Off, Toggle: x.Toggle}
			case "numeric":
				c = hearth.Capability{Type: "numeric", Unit: x.Unit, Min: x.Min, Max: x.Max}
				for _, p := range x.Presets {
					c.Presets = append(c.Presets, p.Name)
				}
			case "enum":
				c = hearth.Capability{Type: "enum"}
				for _, v := range x.Values {
					c.Values = append(c.Values, valueText(v))
				}
			case "text":
				c = hearth.Capability{Type: "text"}
			case "composite", "list":
				if x.Property == "" {
					walk(x.Features) // a composite without a property lays its features out flat
					continue
				}
				c = hearth.Capability{Type: "object"}
				if x.Type == "composite" {
					x.Access = compositeAccess(x.Features)
				}
			default: // light, switch, cover, lock, fan, climate: their features are the attributes
				walk(x.Features)
				continue
			}
			if x.Property == "" {
				continue
			}
			c.Attr = x.Property
			c.Set = x.Access&z2mAccessSet != 0
			if !containsAttr(caps, c.Attr) {
				caps = append(caps, c)
			}
		}
	}
	walk(exposes)
	return caps
}

func compositeAccess(features []z2mExpose) int {
	a := 0
	for _, f := range features {
		a |= f.Access
	}
	return a
}

func containsAttr(caps []hearth.Capability, attr string) bool {
	for _, c := range caps {
		if c.Attr == attr {
			return true
		}
	}
	return false
}

// z2mKind names what a device is from its exposes: the first specific
// expose (light, switch, cover, lock, fan, climate), else a binary sensor
// for motion, contact, water leak or smoke, else a sensor.
func z2mKind(exposes []z2mExpose) (kind, class string) {
	for _, x := range exposes {
		switch x.Type {
		case "light", "switch", "cover", "lock", "fan", "climate":
			return x.Type, ""
		}
	}
	classes := map[string]string{"occupancy": "motion", "presence": "occupancy", "contact": "door", "water_leak": "moisture", "smoke": "smoke"}
	for _, x := range exposes {
		if c, ok := classes[x.Property]; ok && x.Type == "binary" {
			return "binary_sensor", c
		}
	}
	for _, x := range exposes {
		switch x.Property {
		case "temperature", "humidity", "illuminance", "pressure", "power", "co2":
			return "sensor", x.Property
		}
	}
	return "sensor", ""
}

// z2mDevice commands a Zigbee2MQTT device: the hub command is already in
// Zigbee2MQTT's shape, so it goes to <base>/<friendly_name>/set unchanged,
// once the attributes its exposes describe are checked against them.
type z2mDevice struct {
	topic string
	caps  []hearth.Capability
}

func (d *z2mDevice) command(id string, c hubCommand, _ map[string]any) ([]hearth.Command, error) {
	if err := c.check(d.caps); err != nil {
		return nil, err
	}
	payload, err := c.onOffWords(d.caps)
	if err != nil {
		return nil, err
	}
	return []hearth.Command{{Device: id, Topic: d.topic, Payload: payload}}, nil
}
