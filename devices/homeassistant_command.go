package devices

import (
	"encoding/json"
	"slices"
	"strings"

	"hearth"
)

// command translates a hub command: each attribute goes to the entity
// that fills it, each entity's part becomes its messages.
func (d *haDevice) command(id string, c hubCommand, st map[string]any) ([]hearth.Command, error) {
	type part struct {
		ent   *haEntity
		attrs map[string]any
	}
	var parts []*part
	for _, k := range c.keys {
		var owner *haEntity
		for _, e := range d.entities {
			if e.attr == k || e.briAttr != "" && e.briAttr == k || k == "color_temp" && e.jsonSchema {
				owner = e
				break
			}
		}
		if owner == nil {
			var names []string
			for _, e := range d.entities {
				if e.cmdTopic != "" {
					names = append(names, e.attr)
				}
			}
			return nil, badCommand("no attribute %q to set (it takes: %s)", k, strings.Join(names, ", "))
		}
		if owner.cmdTopic == "" && !(k == owner.briAttr && owner.briCmdTopic != "") {
			return nil, badCommand("%s is read-only: its %s entity has no command topic", k, owner.key)
		}
		i := slices.IndexFunc(parts, func(p *part) bool { return p.ent == owner })
		if i < 0 {
			parts = append(parts, &part{ent: owner, attrs: map[string]any{}})
			i = len(parts) - 1
		}
		parts[i].attrs[k] = c.attrs[k]
	}
	var out []hearth.Command
	for _, p := range parts {
		cmds, err := p.ent.commands(id, p.attrs, st)
		if err != nil {
			return nil, err
		}
		out = append(out, cmds...)
	}
	return out, nil
}

// commands builds an entity's messages for the attributes given to it.
func (ent *haEntity) commands(id string, attrs map[string]any, st map[string]any) ([]hearth.Command, error) {
	cmd := func(topic, payload string) hearth.Command {
		return hearth.Command{Device: id, Topic: topic, Payload: []byte(payload), QoS: ent.qos, Retain: ent.retain}
	}
	var state string
	if v, ok := attrs[ent.attr]; ok && (ent.component == "light" || ent.component == "switch") {
		s, err := onOff(ent.attr, v)
		if err != nil {
			return nil, err
		}
		if s == "TOGGLE" { // Home Assistant's entities have no toggle: flip the known state
			s = "ON"
			if cur, _ := st[ent.attr].(string); cur == "ON" {
				s = "OFF"
			}
		}
		state = s
	}
	if ent.jsonSchema {
		m := map[string]any{}
		if state != "" {
			m["state"] = state
		}
		if v, ok := attrs[ent.briAttr]; ok && ent.briAttr != "" {
			f, err := number(ent.briAttr, v)
			if err != nil {
				return nil, err
			}
			m["brightness"] = scale(f, 254, ent.briScale)
		}
		if v, ok := attrs["color_temp"]; ok {
			f, err := number("color_temp", v)
			if err != nil {
				return nil, err
			}
			m["color_temp"] = f
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, badCommand("%v", err)
		}
		return []hearth.Command{cmd(ent.cmdTopic, string(b))}, nil
	}
	switch ent.component {
	case "light", "switch":
		var out []hearth.Command
		if state != "" {
			payload := ent.payloadOn
			if state == "OFF" {
				payload = ent.payloadOff
			}
			if ent.cmdTpl != nil {
				var err error
				if payload, err = ent.cmdTpl.render(commandEnv(payload)); err != nil {
					return nil, badCommand("command_template: %v", err)
				}
			}
			out = append(out, cmd(ent.cmdTopic, payload))
		}
		if v, ok := attrs[ent.briAttr]; ok && ent.briAttr != "" {
			if ent.briCmdTopic == "" {
				return nil, badCommand("%s cannot be set: the light has no brightness command topic", ent.briAttr)
			}
			f, err := number(ent.briAttr, v)
			if err != nil {
				return nil, err
			}
			level := scale(f, 254, ent.briScale)
			payload := formatNumber(level)
			if ent.briCmdTpl != nil {
				if payload, err = ent.briCmdTpl.render(commandEnv(level)); err != nil {
					return nil, badCommand("brightness_command_template: %v", err)
				}
			}
			b := cmd(ent.briCmdTopic, payload)
			switch {
			case ent.onCmdType == "brightness" && state == "ON":
				out = []hearth.Command{b} // the brightness turns the light on
			case ent.onCmdType == "first":
				out = append(out, b)
			default: // "last": the brightness, then ON
				out = append([]hearth.Command{b}, out...)
			}
		}
		return out, nil
	}
	v := attrs[ent.attr]
	payload := valueText(v)
	if ent.cmdTpl != nil {
		var err error
		if payload, err = ent.cmdTpl.render(commandEnv(v)); err != nil {
			return nil, badCommand("command_template: %v", err)
		}
	}
	return []hearth.Command{cmd(ent.cmdTopic, payload)}, nil
}
