package devices

import (
	"slices"
	"strconv"
	"strings"

	"hearth"
)

// tasmota reads Tasmota's default topics (FullTopic %prefix%/%topic%/); the
// device id is the Tasmota topic (deviceID of it):
//
//	tele/<t>/SENSOR   sensors, flattened into attributes (see tasmotaSensor)
//	tele/<t>/STATE    POWER, Dimmer, CT and Wifi (see tasmotaState)
//	tele/<t>/LWT      Online / Offline: the availability
//	tele/<t>/INFO1    the module (the model) and the firmware version
//	stat/<t>/RESULT   the result of a command: read like STATE
//	stat/<t>/POWER    ON / OFF, and POWER<n> for relay n
//	cmnd/<t>/...      commands: named, never folded
//
// Other topics of a device are named and not folded. Commands are
// translated by tasmotaDevice.
type tasmota struct{}

func newTasmota() *tasmota { return &tasmota{} }

func (t *tasmota) name() string    { return adapterTasmota }
func (t *tasmota) bases() []string { return []string{"tele", "stat", "cmnd"} }

func (t *tasmota) apply(r *Registry, e *hearth.Event, base, rest string, emit func(hearth.Event)) bool {
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 || i == len(rest)-1 {
		return false
	}
	topic, cmd := rest[:i], rest[i+1:]
	if strings.ContainsAny(topic, "+#") {
		return false
	}
	id := deviceID(topic)
	e.Device = id
	if e.Kind != hearth.KindMessage || base == "cmnd" {
		return true
	}
	switch {
	case base == "tele" && cmd == "LWT":
		if _, ok := t.bind(r, id, topic); !ok {
			return true
		}
		switch strings.ToLower(strings.TrimSpace(string(e.Payload))) {
		case "online":
			r.foldAvailabilityLocked(e, id, hearth.Online, emit)
		case "offline":
			r.foldAvailabilityLocked(e, id, hearth.Offline, emit)
		}
	case base == "tele" && cmd == "SENSOR":
		obj, ok := r.tasmotaObject(e.Payload)
		if !ok {
			return true
		}
		d, ok := t.bind(r, id, topic)
		if !ok {
			return true
		}
		u := &r.upd.attrs
		u.reset()
		units := tasmotaSensor(obj, u)
		d.learn(r, id, u, units)
		r.foldLocked(e, id, u.ms, emit)
	case base == "tele" && cmd == "STATE" || base == "stat" && cmd == "RESULT":
		obj, ok := r.tasmotaObject(e.Payload)
		if !ok {
			return true
		}
		u := &r.upd.attrs
		u.reset()
		tasmotaState(obj, u)
		if len(u.ms) == 0 {
			return true // the result of another command ({"Command":"Unknown"})
		}
		d, ok := t.bind(r, id, topic)
		if !ok {
			return true
		}
		d.learn(r, id, u, nil)
		r.foldLocked(e, id, u.ms, emit)
	case base == "stat" && strings.HasPrefix(cmd, "POWER"):
		attr, ok := powerAttr(cmd)
		s := strings.ToUpper(strings.TrimSpace(string(e.Payload)))
		if !ok || s != "ON" && s != "OFF" {
			return true
		}
		d, ok := t.bind(r, id, topic)
		if !ok {
			return true
		}
		u := &r.upd.attrs
		u.reset()
		u.set(attr, s)
		d.learn(r, id, u, nil)
		r.foldLocked(e, id, u.ms, emit)
	case base == "tele" && cmd == "INFO1":
		obj, ok := r.tasmotaObject(e.Payload)
		if !ok {
			return true
		}
		if inner, ok := obj["Info1"].(map[string]any); ok { // Tasmota 12 and later nest it
			obj = inner
		}
		d, ok := t.bind(r, id, topic)
		if !ok {
			return true
		}
		module, _ := obj["Module"].(string)
		version, _ := obj["Version"].(string)
		d.describe(r, id, module, version)
	}
	return true
}

// tasmotaObject decodes a JSON object payload.
func (r *Registry) tasmotaObject(payload []byte) (map[string]any, bool) {
	v, ok := r.p.parseTop(payload)
	if !ok || v.kind != valAny {
		return nil, false
	}
	m, ok := v.a.(map[string]any)
	return m, ok
}

// bind makes sure the device is commanded through Tasmota and returns its
// controller, or false when another adapter keeps the device: then
// nothing of the message goes into it.
func (t *tasmota) bind(r *Registry, id, topic string) (*tasmotaDevice, bool) {
	m := r.meta[id]
	if m == nil || m.adapter != adapterTasmota {
		m = r.bindLocked(id, adapterTasmota, func() controller { return &tasmotaDevice{topic: strings.Clone(topic)} })
	}
	d, ok := m.ctl.(*tasmotaDevice)
	return d, ok && r.keptLocked(id, adapterTasmota)
}

// powerAttr names the attribute of POWER ("state") and POWER<n> ("state_<n>").
func powerAttr(key string) (string, bool) {
	return numbered(key, "POWER", "state")
}

// numbered maps key, prefix optionally followed by a number, to attr or
// attr_<number>.
func numbered(key, prefix, attr string) (string, bool) {
	n, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", false
	}
	if n == "" {
		return attr, true
	}
	if i, err := strconv.Atoi(n); err != nil || i < 1 || i > 32 {
		return "", false
	}
	return attr + "_" + n, true
}

// tasmotaState reads the keys of a STATE or RESULT object that describe
// what the device does: POWER and POWER<n> become state and state_<n>
// ("ON"/"OFF"), Dimmer (0-100) becomes brightness on the hub's 0-254 scale,
// CT becomes color_temp (mireds), and Wifi's RSSI (%) and Signal (dBm)
// become wifi_rssi and wifi_signal. The rest (uptime, heap, load) changes
// every report and says nothing about the device, so it is left out.
func tasmotaState(obj map[string]any, u *attrBuf) {
	for _, k := range sortedKeys(obj) {
		v := obj[k]
		if attr, ok := powerAttr(k); ok {
			if s, ok := v.(string); ok && (s == "ON" || s == "OFF") {
				u.set(attr, s)
			}
			continue
		}
		if attr, ok := numbered(k, "Dimmer", "brightness"); ok {
			if f, ok := v.(float64); ok {
				u.set(attr, scale(f, 100, 254))
			}
			continue
		}
		switch k {
		case "CT":
			if f, ok := v.(float64); ok {
				u.set("color_temp", f)
			}
		case "Wifi":
			if w, ok := v.(map[string]any); ok {
				if f, ok := w["RSSI"].(float64); ok {
					u.set("wifi_rssi", f)
				}
				if f, ok := w["Signal"].(float64); ok {
					u.set("wifi_signal", f)
				}
			}
		}
	}
}

// tasmotaSensor flattens a SENSOR object into attributes. Every value that
// is not an object is an attribute named after its key in snake case
// (AM2301.Temperature is temperature, BME280.DewPoint is dew_point,
// ENERGY.Total is total, Switch1 is switch1). When two values of one
// message would get the same name (a DS18B20 and an AM2301 both report a
// Temperature), each of them is named after its whole path instead
// (ds18b20_temperature, am2301_temperature). Time and the *Unit keys are
// left out: the units go to the capabilities. It returns the unit of each
// attribute that has one.
func tasmotaSensor(obj map[string]any, u *attrBuf) map[string]string {
	type leaf struct {
		path []string
		v    any
	}
	var leaves []leaf
	var walk func(path []string, m map[string]any, depth int)
	walk = func(path []string, m map[string]any, depth int) {
		for _, k := range sortedKeys(m) {
			v := m[k]
			if depth == 0 && (k == "Time" || strings.HasSuffix(k, "Unit")) {
				continue
			}
			p := append(slices.Clip(path), k)
			if sub, ok := v.(map[string]any); ok && depth < 4 {
				walk(p, sub, depth+1)
				continue
			}
			leaves = append(leaves, leaf{p, v})
		}
	}
	walk(nil, obj, 0)
	count := map[string]int{}
	for _, l := range leaves {
		count[snake(l.path[len(l.path)-1])]++
	}
	tempUnit, _ := obj["TempUnit"].(string)
	pressureUnit, _ := obj["PressureUnit"].(string)
	units := map[string]string{}
	for _, l := range leaves {
		short := snake(l.path[len(l.path)-1])
		name := short
		if count[short] > 1 {
			parts := make([]string, len(l.path))
			for i, p := range l.path {
				parts[i] = snake(p)
			}
			name = strings.Join(parts, "_")
		}
		u.set(name, l.v)
		if unit := tasmotaUnit(short, l.path[0], tempUnit, pressureUnit); unit != "" {
			units[name] = unit
		}
	}
	return units
}

// tasmotaUnit is the unit of a sensor value, when Tasmota's documentation
// gives one.
func tasmotaUnit(attr, sensor, tempUnit, pressureUnit string) string {
	switch attr {
	case "temperature", "dew_point":
		if tempUnit != "" {
			return "°" + tempUnit
		}
		return "°C"
	case "humidity":
		return "%"
	case "pressure", "sea_pressure":
		if pressureUnit != "" {
			return pressureUnit
		}
		return "hPa"
	case "illuminance":
		return "lx"
	}
	if sensor == "ENERGY" {
		switch attr {
		case "power":
			return "W"
		case "apparent_power":
			return "VA"
		case "reactive_power":
			return "var"
		case "voltage":
			return "V"
		case "current":
			return "A"
		case "total", "today", "yesterday":
			return "kWh"
		}
	}
	return ""
}

// snake writes a Tasmota key in snake case: DewPoint is dew_point,
// ApparentPower apparent_power, DS18B20-1 ds18b20_1, PM2.5 pm2_5.
func snake(s string) string {
	b := make([]byte, 0, len(s)+4)
	under := func() {
		if len(b) > 0 && b[len(b)-1] != '_' {
			b = append(b, '_')
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			prevLower := i > 0 && s[i-1] >= 'a' && s[i-1] <= 'z'
			nextLower := i+1 < len(s) && s[i+1] >= 'a' && s[i+1] <= 'z'
			prevUpper := i > 0 && s[i-1] >= 'A' && s[i-1] <= 'Z'
			if prevLower || prevUpper && nextLower {
				under()
			}
			b = append(b, c+'a'-'A')
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			b = append(b, c)
		default:
			under()
		}
	}
	return strings.Trim(string(b), "_")
}

// tasmotaDevice commands a Tasmota device and remembers what it has seen
// it report, for its capabilities.
type tasmotaDevice struct {
	topic string
	seen  map[string]bool
}

// learn adds the attributes of u the device had not reported before to its
// capabilities. Sensors report the same attributes every time, so this
// usually costs a map lookup per attribute.
func (d *tasmotaDevice) learn(r *Registry, id string, u *attrBuf, units map[string]string) {
	var fresh []member
	for _, m := range u.ms {
		if !d.seen[string(m.key)] {
			fresh = append(fresh, m)
		}
	}
	if len(fresh) == 0 {
		return
	}
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	m := r.meta[id]
	if m == nil || m.ctl != d {
		return
	}
	n := *m
	n.info.Capabilities = slices.Clone(m.info.Capabilities)
	for _, f := range fresh {
		attr := string(f.key)
		d.seen[attr] = true
		n.info.Capabilities = append(n.info.Capabilities, tasmotaCapability(attr, f.val.kind, units[attr]))
	}
	slices.SortFunc(n.info.Capabilities, func(a, b hearth.Capability) int { return strings.Compare(a.Attr, b.Attr) })
	n.info.Kind = "sensor"
	for _, c := range n.info.Capabilities {
		if strings.HasPrefix(c.Attr, "brightness") {
			n.info.Kind = "light"
			break
		}
		if strings.HasPrefix(c.Attr, "state") {
			n.info.Kind = "switch"
		}
	}
	r.setMetaLocked(id, &n)
}

func tasmotaCapability(attr string, kind valKind, unit string) hearth.Capability {
	switch {
	case strings.HasPrefix(attr, "state"):
		return hearth.Capability{Attr: attr, Type: "binary", Set: true, On: "ON", Off: "OFF"}
	case strings.HasPrefix(attr, "brightness"):
		lo, hi := 0.0, 254.0
		return hearth.Capability{Attr: attr, Type: "numeric", Set: true, Min: &lo, Max: &hi}
	case attr == "color_temp":
		lo, hi := 153.0, 500.0
		return hearth.Capability{Attr: attr, Type: "numeric", Set: true, Unit: "mired", Min: &lo, Max: &hi}
	}
	c := hearth.Capability{Attr: attr, Type: "numeric", Unit: unit, Class: sensorClass(attr)}
	switch kind {
	case valStr:
		c.Type, c.Unit, c.Class = "text", "", ""
	case valBool:
		c.Type, c.Unit, c.Class, c.On, c.Off = "binary", "", "", true, false
	case valAny:
		c.Type, c.Unit, c.Class = "object", "", ""
	}
	return c
}

// sensorClass names what a sensor attribute measures, when its name says so.
func sensorClass(attr string) string {
	switch attr {
	case "temperature", "humidity", "pressure", "illuminance", "power", "voltage", "current", "energy":
		return attr
	case "total", "today", "yesterday":
		return "energy"
	}
	return ""
}

// describe records the module and firmware a device reported in INFO1.
func (d *tasmotaDevice) describe(r *Registry, id, module, version string) {
	m := r.meta[id]
	if m == nil || m.ctl != d {
		return
	}
	n := *m
	n.info.Model = module
	if version != "" {
		n.info.Description = "Tasmota " + version
	}
	r.setMetaLocked(id, &n)
}

// command translates a hub command: state and state_<n> become POWER and
// POWER<n> (ON, OFF, TOGGLE), brightness and brightness_<n> become Dimmer
// and Dimmer<n> (0-254 scaled to 0-100), color_temp becomes CT. The dimmer
// and CT commands come first: on Tasmota a dimmer change turns the light
// on, so {"state":"OFF","brightness":10} still ends off.
func (d *tasmotaDevice) command(id string, c hubCommand, _ map[string]any) ([]hearth.Command, error) {
	var first, last []hearth.Command
	cmd := func(name, payload string) hearth.Command {
		return hearth.Command{Device: id, Topic: "cmnd/" + d.topic + "/" + name, Payload: []byte(payload)}
	}
	for _, k := range c.keys {
		v := c.attrs[k]
		if n, ok := strings.CutPrefix(k, "state"); ok && (n == "" || n[0] == '_') {
			s, err := onOff(k, v)
			if err != nil {
				return nil, err
			}
			if _, ok := numbered("POWER"+strings.TrimPrefix(n, "_"), "POWER", "state"); !ok {
				return nil, badCommand("Tasmota has no relay %q", k)
			}
			last = append(last, cmd("POWER"+strings.TrimPrefix(n, "_"), s))
			continue
		}
		if n, ok := strings.CutPrefix(k, "brightness"); ok && (n == "" || n[0] == '_') {
			f, err := number(k, v)
			if err != nil {
				return nil, err
			}
			if _, ok := numbered("Dimmer"+strings.TrimPrefix(n, "_"), "Dimmer", "brightness"); !ok {
				return nil, badCommand("Tasmota has no dimmer %q", k)
			}
			first = append(first, cmd("Dimmer"+strings.TrimPrefix(n, "_"), formatNumber(scale(f, 254, 100))))
			continue
		}
		if k == "color_temp" {
			f, err := number(k, v)
			if err != nil {
				return nil, err
			}
			first = append(first, cmd("CT", formatNumber(min(max(f, 153), 500))))
			continue
		}
		return nil, badCommand("a Tasmota device takes state, brightness and color_temp, not %q", k)
	}
	return append(first, last...), nil
}
