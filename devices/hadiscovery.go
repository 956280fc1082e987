package devices

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Reading a Home Assistant MQTT discovery config: the keys may be
// abbreviated (stat_t for state_topic) and topics may start or end with "~",
// the config's base topic. Unknown keys are ignored, as Home Assistant does.

// haAbbrev maps the abbreviations of the keys the adapter reads (and of a
// few it shows) to their full names; Home Assistant's list is longer.
var haAbbrev = map[string]string{
	"avty":          "availability",
	"avty_mode":     "availability_mode",
	"avty_t":        "availability_topic",
	"avty_tpl":      "availability_template",
	"bri_cmd_t":     "brightness_command_topic",
	"bri_cmd_tpl":   "brightness_command_template",
	"bri_scl":       "brightness_scale",
	"bri_stat_t":    "brightness_state_topic",
	"bri_val_tpl":   "brightness_value_template",
	"clrm":          "color_mode",
	"cmd_t":         "command_topic",
	"cmd_tpl":       "command_template",
	"dev":           "device",
	"dev_cla":       "device_class",
	"json_attr_t":   "json_attributes_topic",
	"json_attr_tpl": "json_attributes_template",
	"obj_id":        "object_id",
	"on_cmd_type":   "on_command_type",
	"pl_avail":      "payload_available",
	"pl_not_avail":  "payload_not_available",
	"pl_off":        "payload_off",
	"pl_on":         "payload_on",
	"pl_prs":        "payload_press",
	"ret":           "retain",
	"stat_cla":      "state_class",
	"stat_off":      "state_off",
	"stat_on":       "state_on",
	"stat_t":        "state_topic",
	"stat_tpl":      "state_template",
	"stat_val_tpl":  "state_value_template",
	"sup_clrm":      "supported_color_modes",
	"t":             "topic",
	"uniq_id":       "unique_id",
	"unit_of_meas":  "unit_of_measurement",
	"val_tpl":       "value_template",
	"pos_t":         "position_topic",
	"cmd_on_tpl":    "command_on_template",
	"cmd_off_tpl":   "command_off_template",
}

// haDeviceAbbrev maps the abbreviations of the device block's keys.
var haDeviceAbbrev = map[string]string{
	"ids":    "identifiers",
	"cns":    "connections",
	"mf":     "manufacturer",
	"mdl":    "model",
	"mdl_id": "model_id",
	"hw":     "hw_version",
	"sw":     "sw_version",
	"sa":     "suggested_area",
	"cu":     "configuration_url",
	"sn":     "serial_number",
}

// haConfig is a discovery config with its keys expanded and "~" replaced.
type haConfig map[string]any

// maxConfigLen bounds a discovery config; real ones are a few kilobytes.
const maxConfigLen = 64 << 10

// parseHAConfig decodes a discovery config payload.
func parseHAConfig(payload []byte) (haConfig, error) {
	if len(payload) > maxConfigLen {
		return nil, fmt.Errorf("config of %d bytes: at most %d", len(payload), maxConfigLen)
	}
	var raw map[string]any
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, fmt.Errorf("config is not a JSON object: %w", err)
	}
	if raw == nil {
		return nil, errors.New("config is not a JSON object")
	}
	c := expand(raw, haAbbrev)
	base, _ := c["~"].(string)
	if dev, ok := c["device"].(map[string]any); ok {
		c["device"] = expand(dev, haDeviceAbbrev)
	}
	if list, ok := c["availability"].([]any); ok {
		out := make([]any, 0, len(list))
		for _, a := range list {
			if m, ok := a.(map[string]any); ok {
				m = expand(m, haAbbrev)
				if t, ok := m["topic"].(string); ok {
					m["topic"] = tilde(t, base)
				}
				out = append(out, m)
			}
		}
		c["availability"] = out
	}
	for k, v := range c {
		if s, ok := v.(string); ok && strings.HasSuffix(k, "_topic") {
			c[k] = tilde(s, base)
		}
	}
	return c, nil
}

// expand gives every abbreviated key its full name; a full name given too wins.
func expand(m map[string]any, abbrev map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if full, ok := abbrev[k]; ok {
			if _, both := m[full]; both {
				continue
			}
			k = full
		}
		out[k] = v
	}
	return out
}

// tilde replaces a "~" at the start or the end of a topic with the base.
func tilde(topic, base string) string {
	switch {
	case base == "":
		return topic
	case strings.HasPrefix(topic, "~"):
		return base + topic[1:]
	case strings.HasSuffix(topic, "~"):
		return topic[:len(topic)-1] + base
	}
	return topic
}

// str reads a string key; a number or a boolean is read as its text, as
// Home Assistant coerces payload_on: 1 to "1".
func (c haConfig) str(key string) string {
	switch v := c[key].(type) {
	case string:
		return v
	case float64:
		return formatNumber(v)
	case bool:
		if v {
			return "True"
		}
		return "False"
	}
	return ""
}

// strOr reads a string key, def when it is absent.
func (c haConfig) strOr(key, def string) string {
	if _, ok := c[key]; !ok {
		return def
	}
	return c.str(key)
}

func (c haConfig) boolean(key string) bool {
	b, _ := c[key].(bool)
	return b
}

func (c haConfig) number(key string, def float64) float64 {
	if f, ok := c[key].(float64); ok && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return f
	}
	if s, ok := c[key].(string); ok {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	}
	return def
}

// haEntity is one discovered entity: one attribute (a light: two) of a
// device, with the topics it is read from and commanded on.
type haEntity struct {
	key       string // component/[node/]object, from the discovery topic
	raw       []byte // the config as received, to skip a retained repeat
	component string
	node      string
	object    string
	device    string // the device id: the node id, else the object id

	name       string // the entity's own name
	devName    string // the device block's name
	model      string
	vendor     string
	class      string // device_class
	unit       string
	stateClass string

	attr    string // the state attribute it fills, set by haDevice.assign
	briAttr string // a light's brightness attribute
	invert  bool   // a door-like binary sensor reported as contact (true when closed)

	stateTopic string
	valTpl     *template
	cmdTopic   string
	cmdTpl     *template
	payloadOn  string
	payloadOff string
	stateOn    string
	stateOff   string

	jsonSchema    bool // a light taking and reporting JSON objects
	briStateTopic string
	briValTpl     *template
	briCmdTopic   string
	briCmdTpl     *template
	briScale      float64
	onCmdType     string
	brightness    bool // the light dims

	attrTopic string
	attrTpl   *template

	avail []haAvail

	qos    byte
	retain bool

	warnings []string
}

// haAvail is one availability topic of an entity.
type haAvail struct {
	topic string
	tpl   *template
	on    string
	off   string
}

// newHAEntity reads a config into an entity. Templates it cannot evaluate
// become warnings and leave the entity without that part.
func newHAEntity(component, node, object string, payload []byte) (*haEntity, error) {
	c, err := parseHAConfig(payload)
	if err != nil {
		return nil, err
	}
	id := node
	if id == "" {
		id = object
	}
	e := &haEntity{
		component: component, node: node, object: object, device: deviceID(id),
		raw:        slices.Clone(payload),
		name:       c.str("name"),
		class:      c.str("device_class"),
		unit:       c.str("unit_of_measurement"),
		stateClass: c.str("state_class"),
		stateTopic: c.str("state_topic"),
		cmdTopic:   c.str("command_topic"),
		payloadOn:  c.strOr("payload_on", "ON"),
		payloadOff: c.strOr("payload_off", "OFF"),
		attrTopic:  c.str("json_attributes_topic"),
		qos:        byte(min(max(c.number("qos", 0), 0), 2)),
		retain:     c.boolean("retain"),
	}
	e.key = component + "/" + object
	if node != "" {
		e.key = component + "/" + node + "/" + object
	}
	e.stateOn = c.strOr("state_on", e.payloadOn)
	e.stateOff = c.strOr("state_off", e.payloadOff)
	if dev, ok := c["device"].(map[string]any); ok {
		d := haConfig(dev)
		e.devName, e.model, e.vendor = d.str("name"), d.str("model"), d.str("manufacturer")
	}
	valueKey := "value_template"
	switch component {
	case "light":
		switch schema := c.strOr("schema", "basic"); schema {
		case "basic", "default":
			valueKey = "state_value_template"
			e.briStateTopic = c.str("brightness_state_topic")
			e.briCmdTopic = c.str("brightness_command_topic")
			e.briValTpl = e.template(c, "brightness_value_template", "value", "value_json")
			e.briCmdTpl = e.template(c, "brightness_command_template", "value")
			e.brightness = e.briStateTopic != "" || e.briCmdTopic != ""
			e.onCmdType = c.strOr("on_command_type", "last")
		case "json":
			e.jsonSchema = true
			e.brightness = c.boolean("brightness")
			if modes, ok := c["supported_color_modes"].([]any); ok {
				for _, m := range modes {
					if m != "onoff" {
						e.brightness = true
					}
				}
			}
		default:
			e.warnings = append(e.warnings, fmt.Sprintf("light schema %q is not supported (basic and json are); the light is not read", schema))
			e.stateTopic, e.cmdTopic = "", ""
		}
		e.briScale = c.number("brightness_scale", 255)
		if e.briScale <= 0 {
			e.briScale = 255
		}
	case "button":
		e.payloadOn = c.strOr("payload_press", "PRESS")
	}
	if !e.jsonSchema {
		e.valTpl = e.template(c, valueKey, "value", "value_json")
		e.cmdTpl = e.template(c, "command_template", "value")
	}
	e.attrTpl = e.template(c, "json_attributes_template", "value", "value_json")
	if e.valTpl == nil && c.str(valueKey) != "" {
		e.stateTopic = "" // the template that reads it is not supported: read nothing rather than the raw payload
	}
	e.readAvailability(c)
	return e, nil
}

// template compiles the template under key, or records a warning and
// returns nil when there is none or it cannot be evaluated.
func (e *haEntity) template(c haConfig, key string, vars ...string) *template {
	src := c.str(key)
	if src == "" {
		return nil
	}
	t, err := parseTemplate(src, vars...)
	if err != nil {
		e.warnings = append(e.warnings, fmt.Sprintf("%s %q: %v", key, src, err))
		return nil
	}
	return t
}

// readAvailability reads availability_topic or the availability list.
func (e *haEntity) readAvailability(c haConfig) {
	on := c.strOr("payload_available", "online")
	off := c.strOr("payload_not_available", "offline")
	if t := c.str("availability_topic"); t != "" {
		e.avail = append(e.avail, haAvail{topic: t, on: on, off: off, tpl: e.template(c, "availability_template", "value", "value_json")})
	}
	list, _ := c["availability"].([]any)
	for _, x := range list {
		a := haConfig(x.(map[string]any))
		t := a.str("topic")
		if t == "" {
			continue
		}
		e.avail = append(e.avail, haAvail{
			topic: t,
			on:    a.strOr("payload_available", "online"),
			off:   a.strOr("payload_not_available", "offline"),
			tpl:   e.template(a, "value_template", "value", "value_json"),
		})
	}
}

// topics lists every topic the entity is read from or commanded on.
func (e *haEntity) topics() []string {
	var out []string
	for _, t := range []string{e.stateTopic, e.cmdTopic, e.briStateTopic, e.briCmdTopic, e.attrTopic} {
		if t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	for _, a := range e.avail {
		if !slices.Contains(out, a.topic) {
			out = append(out, a.topic)
		}
	}
	return out
}

// parseDiscoveryTopic splits what follows the discovery prefix,
// <component>/[<node_id>/]<object_id>/config.
func parseDiscoveryTopic(rest string) (component, node, object string, ok bool) {
	parts := strings.Split(rest, "/")
	if len(parts) < 3 || len(parts) > 4 || parts[len(parts)-1] != "config" {
		return "", "", "", false
	}
	for _, p := range parts {
		if p == "" || strings.ContainsAny(p, "+#") {
			return "", "", "", false
		}
	}
	if len(parts) == 4 {
		return parts[0], parts[1], parts[2], true
	}
	return parts[0], "", parts[1], true
}
