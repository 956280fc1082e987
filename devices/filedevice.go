package devices

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"hearth"
)

// SetFile puts a devices file in force (nil for none): its names and rooms
// show in Info, and its hand-mapped devices are read from their topics and
// commanded through their command mapping. It replaces the file in force
// before, so a reloaded file takes effect at once; the devices' states are
// kept. A hand-mapped device whose id another adapter also reads is the
// file's: what the file says is what the person wants.
func (r *Registry) SetFile(f *File) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for topic := range r.routes {
		r.removeRoutesLocked(topic, func(rt route) bool { return rt.owner() == adapterFile })
	}
	for id, m := range r.meta {
		if m.adapter == adapterFile {
			delete(r.meta, id)
		}
	}
	r.file = f
	if f == nil {
		return
	}
	for _, d := range f.devices {
		if !d.mapped() {
			continue
		}
		var in hearth.DeviceInfo
		add := func(topic string, rt route) {
			if err := r.addRouteLocked(topic, rt); err != nil {
				in.Warnings = append(in.Warnings, err.Error())
			}
		}
		for _, s := range d.state {
			add(s.topic, &fileRoute{dev: d, state: s})
		}
		if d.avail != nil {
			add(d.avail.topic, &fileRoute{dev: d, avail: d.avail})
		}
		if d.cmd != nil {
			add(d.cmd.topic, &fileRoute{dev: d})
		}
		if old := r.meta[d.id]; old != nil {
			in.Warnings = append(in.Warnings, "also read by the "+old.adapter+" adapter; the devices file's mapping wins")
		}
		if d.cmd != nil && d.cmd.attr != "" {
			in.Capabilities = []hearth.Capability{{Attr: d.cmd.attr, Type: "text", Set: true}}
		}
		r.setMetaLocked(d.id, &meta{adapter: adapterFile, info: in, ctl: d})
	}
}

// fileRoute is one topic of a hand-mapped device: a state mapping, its
// availability, or (neither) its command topic.
type fileRoute struct {
	dev   *fileDevice
	state *fileState
	avail *fileAvail
}

func (rt *fileRoute) device() string { return rt.dev.id }
func (rt *fileRoute) owner() string  { return adapterFile }

func (rt *fileRoute) read(r *Registry, e *hearth.Event, u *update) {
	switch {
	case rt.avail != nil:
		switch strings.TrimSpace(string(e.Payload)) {
		case rt.avail.online:
			u.avail = hearth.Online
		case rt.avail.offline:
			u.avail = hearth.Offline
		}
	case rt.state != nil:
		rt.state.read(r, e.Payload, &u.attrs)
	}
}

// read folds one message of a state mapping.
func (s *fileState) read(r *Registry, payload []byte, u *attrBuf) {
	if s.attr == "" { // a JSON object merged whole
		var m map[string]any
		if json.Unmarshal(payload, &m) != nil {
			r.log.Debug("devices file: payload is not a JSON object", "topic", s.topic)
			return
		}
		for _, k := range sortedKeys(m) {
			u.set(k, m[k])
		}
		return
	}
	var v any
	if s.path == nil {
		text := strings.TrimSpace(string(payload))
		if s.vmap != nil {
			mv, ok := s.vmap[text]
			if !ok {
				r.log.Debug("devices file: payload not in map", "topic", s.topic, "payload", text)
				return
			}
			u.set(s.attr, mv)
			return
		}
		v = plainValue(text)
	} else {
		var doc any
		if json.Unmarshal(payload, &doc) != nil {
			return
		}
		var ok bool
		if v, ok = walkPath(doc, s.path); !ok {
			return // this message does not carry it
		}
	}
	if s.vmap != nil {
		mv, ok := s.vmap[valueText(v)]
		if !ok {
			return
		}
		v = mv
	}
	u.set(s.attr, v)
}

// plainValue reads a payload that is one value: a JSON number, true/false
// or a quoted string as such, anything else as its text.
func plainValue(text string) any {
	switch text {
	case "true":
		return true
	case "false":
		return false
	case "null", "":
		return nil
	}
	if f, err := strconv.ParseFloat(text, 64); err == nil && strings.IndexFunc(text, func(c rune) bool { return c == 'x' || c == 'X' || c == '_' }) < 0 {
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	}
	if len(text) >= 2 && text[0] == '"' {
		var s string
		if json.Unmarshal([]byte(text), &s) == nil {
			return s
		}
	}
	return text
}

// walkPath follows a path of keys (and list indexes) into a decoded document.
func walkPath(doc any, path []string) (any, bool) {
	for _, p := range path {
		switch x := doc.(type) {
		case map[string]any:
			v, ok := x[p]
			if !ok {
				return nil, false
			}
			doc = v
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			doc = x[i]
		default:
			return nil, false
		}
	}
	return doc, true
}

// command translates a hub command with the file's command mapping: the
// command as JSON, or one attribute's value as text (mapped, or through a
// template).
func (d *fileDevice) command(id string, c hubCommand, _ map[string]any) ([]hearth.Command, error) {
	m := d.cmd
	if m == nil {
		return nil, badCommand("the devices file maps no command for it")
	}
	out := hearth.Command{Device: id, Topic: m.topic, QoS: m.qos, Retain: m.retain}
	if m.attr == "" {
		out.Payload = c.raw
		return []hearth.Command{out}, nil
	}
	v, ok := c.attrs[m.attr]
	if !ok || len(c.keys) != 1 {
		return nil, badCommand("it takes one attribute, %s: {%q: ...}", m.attr, m.attr)
	}
	text := valueText(v)
	switch {
	case m.vmap != nil:
		p, ok := m.vmap[text]
		if !ok {
			p, ok = m.vmap[strings.ToUpper(text)]
		}
		if !ok {
			keys := make([]string, 0, len(m.vmap))
			for k := range m.vmap {
				keys = append(keys, k)
			}
			return nil, badCommand("%s %s is not in its map (%s)", m.attr, jsonText(v), strings.Join(slices.Sorted(slices.Values(keys)), ", "))
		}
		text = p
	case m.tpl != nil:
		s, err := m.tpl.render(commandEnv(v))
		if err != nil {
			return nil, badCommand("template: %v", err)
		}
		text = s
	}
	out.Payload = []byte(text)
	return []hearth.Command{out}, nil
}
