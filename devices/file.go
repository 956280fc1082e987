package devices

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"hearth"
)

// File is a loaded devices file: a YAML list naming devices, placing them
// in rooms and mapping topic layouts no adapter knows by hand. It is
// immutable once loaded; Registry.SetFile puts one in force.
//
//   - id: garage_door              # required: the device id
//     name: Garage door            # shown on the page
//     room: Garage
//     kind: binary_sensor          # optional: light, switch, sensor, binary_sensor, ...
//     state:                       # where its state comes from
//   - topic: garage/door       # the payload as a value...
//     attr: contact
//     map: {OPEN: false, CLOSED: true}
//   - topic: garage/climate    # ...a value inside a JSON payload...
//     json: sensors.temp_c
//     attr: temperature
//   - topic: garage/extra      # ...or a JSON object merged whole
//     availability: {topic: garage/lwt, online: up, offline: down}
//     command:                     # where commands go
//     topic: garage/door/set
//     attr: state                # send this attribute's value as text...
//     map: {ON: open, OFF: close}  # ...mapped, or through template: "{{ value }}"
//
// docs/devices.md describes every key.
type File struct {
	name    string
	devices []*fileDevice
	byID    map[string]*fileDevice
}

// device returns the file's entry for id, nil when there is none (or no file).
func (f *File) device(id string) *fileDevice {
	if f == nil {
		return nil
	}
	return f.byID[id]
}

// IDs returns the ids of the file's devices in file order.
func (f *File) IDs() []string {
	out := make([]string, len(f.devices))
	for i, d := range f.devices {
		out[i] = d.id
	}
	return out
}

// fileDevice is one entry of a devices file, and the controller of a
// device whose commands it maps.
type fileDevice struct {
	id, name, room, kind string
	state                []*fileState
	avail                *fileAvail
	cmd                  *fileCommand
}

// mapped reports whether the entry maps topics (rather than only naming a
// device some adapter reads).
func (d *fileDevice) mapped() bool {
	return len(d.state) > 0 || d.avail != nil || d.cmd != nil
}

// fileState reads one topic into the state.
type fileState struct {
	topic string
	attr  string   // "" with no path: the payload is an object merged whole
	path  []string // into a JSON payload; nil: the payload itself is the value
	vmap  map[string]any
}

type fileAvail struct {
	topic, online, offline string
}

type fileCommand struct {
	topic  string
	attr   string // "": the hub command as JSON
	vmap   map[string]string
	tpl    *template
	qos    byte
	retain bool
}

// fileKinds are the kinds a devices file may give.
var fileKinds = []string{"light", "switch", "sensor", "binary_sensor", "cover", "lock", "fan", "climate", "button", "other"}

// LoadFile reads a devices file. On any problem it returns a *FileError
// listing all of them with their lines and columns.
func LoadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load devices: %w", err)
	}
	return ParseFile(path, data)
}

// ParseFile reads a devices file held in memory; name is used in problems
// as the file name.
func ParseFile(name string, data []byte) (*File, error) {
	f := &File{name: name, byID: map[string]*fileDevice{}}
	y := &yreader{file: name, budget: maxFileNodes}
	syntax, err := parseFileYAML(data)
	if err != nil {
		return nil, &FileError{Problems: []Problem{syntaxProblem(name, err)}}
	}
	anchors := yanchors{}
	for _, doc := range syntax.Docs {
		ast.Walk(anchors, doc)
	}
	y.anchors = anchors
	where := map[string]ast.Node{}
	for _, doc := range syntax.Docs {
		switch body := y.resolve(doc.Body).(type) {
		case nil, *ast.NullNode:
			// An empty file (or only comments) names no devices.
		case *ast.SequenceNode:
			for i, n := range body.Values {
				d := y.device(n, i)
				if d == nil {
					continue
				}
				if first, dup := where[d.id]; dup {
					line, col := nodePos(first)
					y.errorf(n, "duplicate id %q: also at line %d, column %d", d.id, line, col)
					continue
				}
				where[d.id] = n
				f.devices = append(f.devices, d)
				f.byID[d.id] = d
			}
		default:
			y.entry = ""
			y.errorf(body, "a devices file holds a list of devices (each starting with \"- id: ...\"), got %s", nodeKind(body))
		}
	}
	if len(y.problems) > 0 {
		slices.SortStableFunc(y.problems, func(a, b Problem) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Column - b.Column
		})
		return nil, &FileError{Problems: y.problems}
	}
	return f, nil
}

// device reads the i-th entry; nil when it has problems.
func (y *yreader) device(n ast.Node, i int) *fileDevice {
	y.entry = fmt.Sprintf("#%d", i+1)
	if id := peekID(n); id != "" && deviceID(id) == id {
		y.entry = id // every problem of the entry names it, even those found before its id is read
	}
	start := len(y.problems)
	fs, ok := y.fields(n, "a device", "id", "name", "room", "kind", "state", "availability", "command")
	if !ok {
		return nil
	}
	d := &fileDevice{}
	if f, ok := fs.get("id"); ok {
		if id, ok := y.str(f, "id"); ok {
			if why := hearth.DeviceIDProblem(id); why != "" {
				y.errorf(f.value, "id %q %s", id, why)
			} else {
				d.id = id
				y.entry = id
			}
		}
	} else {
		y.errorf(n, "missing id (every device needs one)")
	}
	if f, ok := fs.get("name"); ok {
		d.name, _ = y.str(f, "name")
	}
	if f, ok := fs.get("room"); ok {
		d.room, _ = y.str(f, "room")
	}
	if f, ok := fs.get("kind"); ok {
		if k, ok := y.str(f, "kind"); ok {
			if !slices.Contains(fileKinds, k) {
				y.errorf(f.value, "kind %q is not one of %s", k, strings.Join(fileKinds, ", "))
			}
			d.kind = k
		}
	}
	if f, ok := fs.get("state"); ok {
		switch list := f.value.(type) {
		case *ast.SequenceNode:
			if len(list.Values) == 0 {
				y.errorf(list, "state is empty: give at least one topic, or leave state out")
			}
			for _, sn := range list.Values {
				if s := y.stateMapping(sn); s != nil {
					d.state = append(d.state, s)
				}
			}
		case nil:
		default:
			y.errorf(f.value, "state must be a list of topics (items starting with \"- topic: ...\"), got %s", nodeKind(f.value))
		}
	}
	if f, ok := fs.get("availability"); ok && f.value != nil {
		d.avail = y.availability(f.value)
	}
	if f, ok := fs.get("command"); ok && f.value != nil {
		d.cmd = y.command(f.value)
	}
	if len(y.problems) > start || d.id == "" {
		return nil
	}
	return d
}

// peekID returns the id an entry gives as a plain string, if any.
func peekID(n ast.Node) string {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		return ""
	}
	for _, mv := range m.Values {
		if k, ok := mv.Key.(*ast.StringNode); ok && k.Value == "id" {
			if v, ok := mv.Value.(*ast.StringNode); ok {
				return v.Value
			}
		}
	}
	return ""
}

// topic reads an exact topic: no wildcards, no empty levels at the ends.
func (y *yreader) topic(fs yfields, n ast.Node, what string) (string, bool) {
	f, ok := fs.get("topic")
	if !ok {
		y.errorf(n, "%s needs a topic", what)
		return "", false
	}
	t, ok := y.str(f, "topic")
	if !ok {
		return "", false
	}
	if t == "" || strings.ContainsAny(t, "+#") || strings.HasPrefix(t, "/") || strings.HasSuffix(t, "/") {
		y.errorf(f.value, "topic %q must be an exact topic: no wildcards (+, #), no / at either end", t)
		return "", false
	}
	return t, true
}

func (y *yreader) stateMapping(n ast.Node) *fileState {
	fs, ok := y.fields(n, "a state mapping", "topic", "attr", "json", "map")
	if !ok {
		return nil
	}
	s := &fileState{}
	good := true
	if s.topic, ok = y.topic(fs, n, "a state mapping"); !ok {
		good = false
	}
	if f, ok := fs.get("attr"); ok {
		if s.attr, ok = y.str(f, "attr"); ok && s.attr == "" {
			y.errorf(f.value, "attr is empty")
			good = false
		}
	}
	if f, ok := fs.get("json"); ok {
		if p, ok := y.str(f, "json"); ok {
			s.path = strings.Split(p, ".")
			if slices.Contains(s.path, "") {
				y.errorf(f.value, "json %q is not a path like sensors.temp_c or list.0.value", p)
				good = false
			} else if s.attr == "" {
				s.attr = s.path[len(s.path)-1]
			}
		}
	}
	if f, ok := fs.get("map"); ok {
		if s.attr == "" {
			y.errorf(f.keyNd, "map needs attr or json: a payload merged whole is not mapped")
			good = false
		}
		mfs, ok := y.fields(f.value, "map")
		if ok {
			s.vmap = map[string]any{}
			for _, mf := range mfs {
				if v, ok := y.scalarValue(mf.value, "a value of map"); ok {
					s.vmap[mf.key] = v
				} else {
					good = false
				}
			}
		}
	}
	if !good {
		return nil
	}
	return s
}

func (y *yreader) availability(n ast.Node) *fileAvail {
	fs, ok := y.fields(n, "availability", "topic", "online", "offline")
	if !ok {
		return nil
	}
	a := &fileAvail{online: string(hearth.Online), offline: string(hearth.Offline)}
	if a.topic, ok = y.topic(fs, n, "availability"); !ok {
		return nil
	}
	if f, ok := fs.get("online"); ok {
		a.online, _ = y.str(f, "online")
	}
	if f, ok := fs.get("offline"); ok {
		a.offline, _ = y.str(f, "offline")
	}
	if a.online == a.offline {
		y.errorf(n, "online and offline are both %q", a.online)
		return nil
	}
	return a
}

func (y *yreader) command(n ast.Node) *fileCommand {
	fs, ok := y.fields(n, "command", "topic", "attr", "map", "template", "qos", "retain")
	if !ok {
		return nil
	}
	c := &fileCommand{}
	good := true
	if c.topic, ok = y.topic(fs, n, "command"); !ok {
		good = false
	}
	if f, ok := fs.get("attr"); ok {
		c.attr, _ = y.str(f, "attr")
	}
	mf, hasMap := fs.get("map")
	tf, hasTpl := fs.get("template")
	switch {
	case hasMap && hasTpl:
		y.errorf(tf.keyNd, "give map or template, not both")
		good = false
	case (hasMap || hasTpl) && c.attr == "":
		k := mf.keyNd
		if hasTpl {
			k = tf.keyNd
		}
		y.errorf(k, "map and template apply to one attribute: give attr (such as attr: state)")
		good = false
	}
	if hasMap {
		if mfs, ok := y.fields(mf.value, "map"); ok {
			c.vmap = map[string]string{}
			for _, e := range mfs {
				if s, ok := y.str(e, "a payload of map"); ok {
					c.vmap[e.key] = s
				} else {
					good = false
				}
			}
		}
	}
	if hasTpl {
		if src, ok := y.str(tf, "template"); ok {
			t, err := parseTemplate(src, "value")
			if err != nil {
				y.errorf(tf.value, "template %q: %v", src, err)
				good = false
			}
			c.tpl = t
		}
	}
	if f, ok := fs.get("qos"); ok {
		if s, ok := y.str(f, "qos"); ok {
			q, err := strconv.Atoi(s)
			if err != nil || q < 0 || q > 2 {
				y.errorf(f.value, "qos must be 0, 1 or 2, got %q", s)
				good = false
			}
			c.qos = byte(q)
		}
	}
	if f, ok := fs.get("retain"); ok {
		if b, ok := f.value.(*ast.BoolNode); ok {
			c.retain = b.Value
		} else if f.value != nil {
			y.errorf(f.value, "retain must be true or false, got %s", nodeKind(f.value))
			good = false
		}
	}
	if !good {
		return nil
	}
	return c
}
