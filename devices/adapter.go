package devices

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"unicode/utf8"

	"hearth"
)

// adapter reads one family of device topics into the device model. Each
// lives in its own file and is registered by name in adapterTable.
type adapter interface {
	// name is the name it is registered under ("zigbee2mqtt").
	name() string
	// bases are the topic prefixes it reads ("zigbee2mqtt"; Tasmota's
	// "tele", "stat" and "cmnd").
	bases() []string
	// apply reads a message or command on <base>/<rest>: it names the
	// event's device and folds what the message says. It runs under the
	// registry's lock and reports whether the topic was one of its own.
	apply(r *Registry, e *hearth.Event, base, rest string, emit func(hearth.Event)) bool
}

// configReader is an adapter that learns devices from configuration
// messages (discovery configs, device lists).
type configReader interface {
	// isConfig reports whether <base>/<rest> carries configuration.
	isConfig(rest string) bool
	// configFilters returns MQTT filters for its configuration topics.
	configFilters() []string
}

// controller translates a hub command for one device into the messages its
// adapter expects. It is called under the registry's read lock with the
// device's current state (nil when it has none).
type controller interface {
	command(id string, c hubCommand, state map[string]any) ([]hearth.Command, error)
}

var (
	_ adapter      = (*native)(nil)
	_ adapter      = (*zigbee2mqtt)(nil)
	_ adapter      = (*tasmota)(nil)
	_ adapter      = (*homeAssistant)(nil)
	_ adapter      = (*ownTracks)(nil)
	_ configReader = (*zigbee2mqtt)(nil)
	_ configReader = (*homeAssistant)(nil)
	_ controller   = (*z2mDevice)(nil)
	_ controller   = (*tasmotaDevice)(nil)
	_ controller   = (*haDevice)(nil)
	_ controller   = (*fileDevice)(nil)
)

// The adapters' names, as DeviceInfo.Adapter and AdapterConfig.Name spell them.
const (
	adapterNative        = "native"
	adapterZigbee2MQTT   = "zigbee2mqtt"
	adapterTasmota       = "tasmota"
	adapterHomeAssistant = "homeassistant"
	adapterFile          = "file"
)

// adapterKind is an adapter that can be turned on.
type adapterKind struct {
	name        string
	defaultBase string
	make        func(base string, o Options) adapter
}

// adapterTable lists the adapters that can be turned on, by name, with the
// base topic each uses when the configuration gives none.
var adapterTable = []adapterKind{
	{adapterZigbee2MQTT, "zigbee2mqtt", func(base string, _ Options) adapter { return newZigbee2MQTT(base) }},
	{adapterTasmota, "", func(string, Options) adapter { return newTasmota() }},
	{adapterHomeAssistant, "homeassistant", func(base string, _ Options) adapter { return newHomeAssistant(base) }},
	{adapterOwnTracks, "owntracks", func(base string, o Options) adapter { return newOwnTracks(base, o.Presence) }},
}

// Options configure a Registry.
type Options struct {
	// BaseTopic is the native convention's base topic; DefaultBaseTopic
	// when empty.
	BaseTopic string
	// Adapters turns on adapters besides the native one, which is always on.
	Adapters []AdapterConfig
	// File is a loaded devices file (names, rooms, hand-mapped devices), or nil.
	File *File
	// Logger logs what the registry could not make sense of; none when nil.
	Logger *slog.Logger
	// Presence lists the people kept as devices and says where home is
	// for the OwnTracks adapter.
	Presence Presence
	// MaxDevices bounds the devices the registry keeps, the hub's own
	// included; DefaultMaxDevices when 0. Past it a message from a new
	// device id is logged like any other but makes no device.
	MaxDevices int
}

// DefaultMaxDevices is the registry's bound on devices unless Options
// say otherwise: a large house has a few hundred. It keeps a client that
// puts a counter or a time in its topic (home/reading_1732000000) from
// growing the read model, the page's list and the automations' view of
// the house for ever.
const DefaultMaxDevices = 10_000

// AdapterConfig turns on one adapter.
type AdapterConfig struct {
	// Name is "zigbee2mqtt", "tasmota", "homeassistant" or "owntracks".
	Name string
	// BaseTopic is Zigbee2MQTT's base topic, Home Assistant's discovery
	// prefix or OwnTracks' topic prefix; the adapter's default
	// ("zigbee2mqtt", "homeassistant", "owntracks") when empty. Tasmota
	// takes none: it reads tele/, stat/ and cmnd/.
	BaseTopic string
}

// Adapters returns every adapter NewRegistry can turn on, with its default
// base topic: passing it as Options.Adapters turns them all on.
func Adapters() []AdapterConfig {
	out := make([]AdapterConfig, len(adapterTable))
	for i, a := range adapterTable {
		out[i] = AdapterConfig{Name: a.name, BaseTopic: a.defaultBase}
	}
	return out
}

// NewRegistry makes an empty registry reading the native topics and the
// adapters o turns on. It fails on an unknown adapter, an adapter given
// twice, a base topic with wildcards, or two adapters sharing a base topic.
func NewRegistry(o Options) (*Registry, error) {
	base := strings.Trim(o.BaseTopic, "/")
	if err := checkBase(base); err != nil && base != "" {
		return nil, fmt.Errorf("base topic %q: %w", o.BaseTopic, err)
	}
	if err := o.Presence.check(); err != nil {
		return nil, err
	}
	if o.MaxDevices < 0 {
		return nil, fmt.Errorf("max devices %d: want 0 (the default, %d) or more", o.MaxDevices, DefaultMaxDevices)
	}
	r := newRegistry(base, o.Logger)
	if o.MaxDevices > 0 {
		r.max = o.MaxDevices
	}
	r.addAdapter(&native{base: r.base})
	r.addPeopleLocked(o.Presence) // nothing else holds r yet
	owner := map[string]string{r.base: adapterNative}
	for _, c := range o.Adapters {
		i := slices.IndexFunc(adapterTable, func(a adapterKind) bool { return a.name == c.Name })
		if i < 0 {
			return nil, fmt.Errorf("unknown adapter %q (known: %s)", c.Name, strings.Join(adapterNames(), ", "))
		}
		if slices.ContainsFunc(r.adapters, func(a adapter) bool { return a.name() == c.Name }) {
			return nil, fmt.Errorf("adapter %s is turned on twice", c.Name)
		}
		t := adapterTable[i]
		b := strings.Trim(c.BaseTopic, "/")
		if b == "" {
			b = t.defaultBase
		}
		if t.defaultBase == "" && c.BaseTopic != "" {
			return nil, fmt.Errorf("adapter %s takes no base topic (got %q)", c.Name, c.BaseTopic)
		}
		if t.defaultBase != "" {
			if err := checkBase(b); err != nil {
				return nil, fmt.Errorf("adapter %s: base topic %q: %w", c.Name, c.BaseTopic, err)
			}
		}
		a := t.make(b, o)
		for _, ab := range a.bases() {
			if other, dup := owner[ab]; dup {
				return nil, fmt.Errorf("adapter %s: base topic %q is also %s's", c.Name, ab, other)
			}
			owner[ab] = c.Name
		}
		r.addAdapter(a)
	}
	if o.File != nil {
		r.SetFile(o.File)
	}
	return r, nil
}

func adapterNames() []string {
	names := make([]string, len(adapterTable))
	for i, a := range adapterTable {
		names[i] = a.name
	}
	return names
}

// checkBase accepts a base topic of one or more non-empty levels without
// wildcards.
func checkBase(b string) error {
	if b == "" {
		return errors.New("is empty")
	}
	if strings.ContainsAny(b, "+#") {
		return errors.New("has a wildcard")
	}
	if slices.Contains(strings.Split(b, "/"), "") {
		return errors.New("has an empty level")
	}
	return nil
}

// meta is what the registry knows of a device besides its state: who reads
// it and what it is. It is replaced, never changed, once Info handed it out:
// writers build a new one (see setMetaLocked).
type meta struct {
	adapter string
	info    hearth.DeviceInfo // ID, Adapter, Name and Room are filled in by Info
	ctl     controller        // nil: commanded the native way
}

// keptLocked reports whether adapter name may fold what it reads into
// device id: no other adapter keeps it. When another does (the first to
// bind it, a hand mapping, the hub's own devices), the clash is noted on the
// device once and the message stays in the log as a message alone: a
// client publishing zigbee2mqtt/alarm does not change the alarm's state.
// Native devices claim nothing, so an adapter reporting a native id takes
// it over.
func (r *Registry) keptLocked(id, name string) bool {
	m := r.meta[id]
	if m == nil || m.adapter == name {
		return true
	}
	r.bindLocked(id, name, nil) // notes the clash
	return false
}

// bindLocked makes sure device id is read by adapter name, creating its
// meta with the controller ctl makes when it has none. The first adapter
// to bind a device keeps it; another one reading the same id is noted as a
// warning on the device, once. It returns the device's meta.
func (r *Registry) bindLocked(id, name string, ctl func() controller) *meta {
	m := r.meta[id]
	if m != nil && m.adapter == name {
		return m
	}
	if m == nil {
		m = &meta{adapter: name}
		if ctl != nil {
			m.ctl = ctl()
		}
		r.setMetaLocked(id, m)
		return m
	}
	w := fmt.Sprintf("also reported by the %s adapter; %s keeps it", name, m.adapter)
	if !slices.Contains(m.info.Warnings, w) {
		n := *m
		n.info.Warnings = append(slices.Clip(m.info.Warnings), w)
		r.meta[id] = &n
		r.log.Warn("one device id read by two adapters", "device", id, "first", m.adapter, "also", name)
		return &n
	}
	return m
}

// setMetaLocked stores what an adapter says of device id; the caller
// carries over the warnings it wants kept. A new id is stored only while
// there is room under max (see admitLocked), so that a client inventing
// ids grows the adapters' records no more than the devices.
func (r *Registry) setMetaLocked(id string, m *meta) {
	if r.meta[id] == nil && r.devices[id] == nil && (len(r.devices) >= r.max || len(r.meta) >= r.max) {
		return
	}
	r.meta[strings.Clone(id)] = m
}

// deviceID turns a name a device goes by (a Zigbee2MQTT friendly name, a
// Tasmota topic, a Home Assistant node id) into a device id: one topic level
// with no wildcards or white space, at most 128 bytes. Characters that do not
// fit become "_"; a name that fits is returned as it is, without copying.
func deviceID(name string) string {
	if validID(name) {
		return name
	}
	var b strings.Builder
	for _, c := range name {
		if c == utf8.RuneError || c < utf8.RuneSelf && badIDByte(byte(c)) {
			c = '_'
		}
		if b.Len()+utf8.RuneLen(c) > hearth.MaxDeviceID {
			break
		}
		b.WriteRune(c)
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// validID reports whether id is a device id as it is (hearth.DeviceIDProblem).
func validID(id string) bool { return hearth.DeviceIDProblem(id) == "" }

func badIDByte(c byte) bool {
	return c == '/' || c == '+' || c == '#' || c <= ' ' || c == 0x7f
}

// route binds an exact topic to a device: a Home Assistant entity's topics
// and the devices file's mappings are routes, found by one map lookup.
type route interface {
	// device is the id of the device the topic belongs to.
	device() string
	// owner is the adapter that added the route.
	owner() string
	// read adds what a message on the topic says to u. It runs under the
	// registry's lock.
	read(r *Registry, e *hearth.Event, u *update)
}

// update gathers what the routes of one topic say about one device, so that
// the device changes once per message however many routes it has there.
type update struct {
	attrs attrBuf
	avail hearth.Availability
}

// maxDevicesPerTopic bounds how many devices one topic's routes may
// change: each changed device is an event emitted for the one message, and
// the bus keeps room for 16 such events (hearth's reserve). A gateway whose
// availability topic more devices share is read for the first ones only,
// with a warning on the others.
const maxDevicesPerTopic = 12

// addRouteLocked adds rt for topic, keeping a topic's routes sorted by
// device so that applyRoutesLocked folds each device once. It refuses a
// route that would make the topic change more than maxDevicesPerTopic
// devices, and says why.
func (r *Registry) addRouteLocked(topic string, rt route) error {
	list := r.routes[topic]
	i, found := slices.BinarySearchFunc(list, rt.device(), func(x route, id string) int { return strings.Compare(x.device(), id) })
	if !found {
		devices := 0
		for j := range list {
			if j == 0 || list[j].device() != list[j-1].device() {
				devices++
			}
		}
		if devices >= maxDevicesPerTopic {
			return fmt.Errorf("topic %s already feeds %d devices: not read for this one (one message may change at most %d)", topic, devices, maxDevicesPerTopic)
		}
	}
	for i < len(list) && list[i].device() == rt.device() {
		i++
	}
	r.routes[topic] = slices.Insert(list, i, rt)
	return nil
}

// removeRoutesLocked removes the routes of topic for which drop holds.
func (r *Registry) removeRoutesLocked(topic string, drop func(route) bool) {
	list := slices.DeleteFunc(r.routes[topic], drop)
	if len(list) == 0 {
		delete(r.routes, topic)
	} else {
		r.routes[topic] = list
	}
}

// applyRoutesLocked names the event's device and, for a message, lets each
// route read it, folding each device's update once.
func (r *Registry) applyRoutesLocked(e *hearth.Event, rs []route, emit func(hearth.Event)) {
	e.Device = rs[0].device()
	if e.Kind != hearth.KindMessage {
		return
	}
	r.env = nil // the template environment of this message, made when a route first needs it
	for i := 0; i < len(rs); {
		id := rs[i].device()
		u := &r.upd
		u.attrs.reset()
		u.avail = hearth.AvailabilityUnknown
		owner := rs[i].owner()
		for ; i < len(rs) && rs[i].device() == id; i++ {
			rs[i].read(r, e, u)
		}
		if !r.keptLocked(id, owner) {
			continue
		}
		if len(u.attrs.ms) > 0 {
			r.foldLocked(e, id, u.attrs.ms, emit)
		}
		if u.avail != hearth.AvailabilityUnknown {
			r.foldAvailabilityLocked(e, id, u.avail, emit)
		}
	}
}

// attrBuf builds the members of a state change from Go values, for adapters
// that do not fold a payload as it is.
type attrBuf struct {
	ms    []member
	arena []byte
}

func (b *attrBuf) reset() {
	b.ms = b.ms[:0]
	b.arena = b.arena[:0]
}

// set adds attribute key with value v (nil removes the attribute). v is one
// of the types the parser produces (bool, float64, string, map[string]any,
// []any) or an int.
func (b *attrBuf) set(key string, v any) {
	b.arena = append(b.arena, key...)
	k := b.arena[len(b.arena)-len(key) : len(b.arena) : len(b.arena)]
	b.ms = append(b.ms, member{key: k, val: scalarOf(v)})
}

// scalarOf turns a decoded value into the form the merge compares.
func scalarOf(v any) scalar {
	switch v := v.(type) {
	case nil:
		return scalar{kind: valNull}
	case bool:
		return scalar{kind: valBool, b: v}
	case float64:
		return scalar{kind: valNum, f: v}
	case int:
		return scalar{kind: valNum, f: float64(v)}
	case string:
		return scalar{kind: valStr, s: []byte(validString([]byte(v)))}
	case map[string]any, []any:
		return scalar{kind: valAny, a: v}
	}
	return scalar{kind: valStr, s: []byte(fmt.Sprint(v))}
}
