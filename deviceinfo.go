package hearth

// DeviceInfo is what the hub knows about a device besides its state: where
// it comes from, what it is and what it can do. The device read model keeps
// it; it is not folded from the log but learned from what adapters read
// (Zigbee2MQTT's device list, Home Assistant discovery, the devices file).
type DeviceInfo struct {
	// ID is the device's id, the same as its DeviceState's.
	ID string `json:"id"`
	// Name is the display name the devices file or the device itself gives.
	Name string `json:"name,omitempty"`
	// Room is the room the devices file places it in.
	Room string `json:"room,omitempty"`
	// Adapter names the topic convention it is read with: "native",
	// "zigbee2mqtt", "tasmota", "homeassistant" or "file".
	Adapter string `json:"adapter"`
	// Kind says what it is: "light", "switch", "sensor", "binary_sensor",
	// "cover", ... (Home Assistant's component names); empty when unknown.
	Kind string `json:"kind,omitempty"`
	// Class refines the kind ("motion", "temperature", "door"), as Home
	// Assistant's device_class does.
	Class string `json:"class,omitempty"`
	// Model, Vendor and Description are what the device says it is.
	Model       string `json:"model,omitempty"`
	Vendor      string `json:"vendor,omitempty"`
	Description string `json:"description,omitempty"`
	// Capabilities list the attributes it reports or takes, when known.
	Capabilities []Capability `json:"capabilities,omitempty"`
	// Warnings say what the hub could not make sense of (an unsupported
	// template, a second adapter reporting the same id).
	Warnings []string `json:"warnings,omitempty"`
}

// Capability is one attribute of a device's state: what it holds and
// whether a command can set it.
type Capability struct {
	// Attr is the attribute's name in the state ("brightness").
	Attr string `json:"attr"`
	// Type is "binary", "numeric", "enum", "text" or "object".
	Type string `json:"type"`
	// Set says a command can set it ({"brightness": 200}).
	Set bool `json:"set,omitempty"`
	// Class says what a sensor measures ("temperature", "motion").
	Class string `json:"class,omitempty"`
	// Unit is the unit of a numeric value ("°C", "W").
	Unit string `json:"unit,omitempty"`
	// Min and Max bound a numeric value, when known.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// Values are the values of an enum.
	Values []string `json:"values,omitempty"`
	// On and Off are the values of a binary attribute ("ON"/"OFF", true/false),
	// and Toggle the value that flips it ("TOGGLE"), when it has one.
	On     any `json:"on,omitempty"`
	Off    any `json:"off,omitempty"`
	Toggle any `json:"toggle,omitempty"`
	// Presets name values a numeric attribute also takes ("warmest" for a
	// colour temperature).
	Presets []string `json:"presets,omitempty"`
}
