package devices

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"hearth"
)

// badCommand is the error of a command that does not fit its device; it
// wraps hearth.ErrBadCommand, so that the HTTP API answers it with 400.
func badCommand(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{hearth.ErrBadCommand}, args...)...)
}

// hubCommand is a command in the hub's shape, the same whatever the device:
// a JSON object of attributes to set ({"state":"ON","brightness":200}).
// Brightness runs from 0 to 254 and color_temp is in mireds, as Zigbee2MQTT
// has them; adapters scale to what their devices take.
type hubCommand struct {
	raw   []byte         // the object as given
	attrs map[string]any // decoded, numbers as float64
	keys  []string       // the attributes, sorted
}

func parseHubCommand(payload []byte) (hubCommand, error) {
	var attrs map[string]any
	if !bytes.HasPrefix(bytes.TrimLeft(payload, " \t\r\n"), []byte("{")) {
		return hubCommand{}, badCommand(`a command is a JSON object such as {"state":"ON"}, got %.40q`, payload)
	}
	if err := json.Unmarshal(payload, &attrs); err != nil {
		return hubCommand{}, badCommand("a command is a JSON object: %v", err)
	}
	if len(attrs) == 0 {
		return hubCommand{}, badCommand(`a command needs at least one attribute, such as {"state":"ON"}`)
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return hubCommand{raw: payload, attrs: attrs, keys: keys}, nil
}

// CommandFor translates a hub command for device id, a JSON object such as
// {"state":"ON","brightness":200}, into the messages the device's adapter
// expects: the same object to <base>/<id>/set for a native device (and for
// an id not known yet), to <z2m base>/<friendly name>/set for Zigbee2MQTT,
// cmnd/<topic>/POWER and cmnd/<topic>/Dimmer for Tasmota, the entities'
// command topics and templates for Home Assistant discovery, and the
// mapping of the devices file. The commands come back without a Cause; the
// caller sets it and publishes them in order through a hearth.Commander.
// Every error wraps hearth.ErrBadCommand.
func (r *Registry) CommandFor(id string, payload []byte) ([]hearth.Command, error) {
	if why := hearth.DeviceIDProblem(id); why != "" {
		return nil, badCommand("device id %q is not valid: it %s", id, why)
	}
	c, err := parseHubCommand(payload)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", id, err)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	var ctl controller
	if m := r.meta[id]; m != nil {
		ctl = m.ctl
	}
	if ctl == nil {
		if err := c.check(nativeCapabilities); err != nil {
			return nil, fmt.Errorf("device %s: %w", id, err)
		}
		return []hearth.Command{{Device: id, Topic: r.SetTopic(id), Payload: payload}}, nil
	}
	var st map[string]any
	if d := r.devices[id]; d != nil {
		st = d.st.State
	}
	cmds, err := ctl.command(id, c, st)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", id, err)
	}
	return cmds, nil
}

// nativeCapabilities are the attributes of the hub's own command shape,
// which a native device (and a device not heard of yet) is sent as it is.
// They say less than Zigbee2MQTT's exposes: a device of its own may have a
// state of "OPEN" or "LOCK", count its brightness to 255 or 100, or take a
// colour temperature by name ("warm").
var nativeCapabilities = []hearth.Capability{
	{Attr: "state", Type: "text", Set: true},
	{Attr: "brightness", Type: "numeric", Set: true},
}

// check refuses a command that sets an attribute caps describe as
// read-only, or gives one a value the device would refuse too. It refuses
// no more than Zigbee2MQTT does: a number beyond an expose's range passes
// (Zigbee2MQTT clamps brightness and colour temperature), as does anything
// for a composite (a colour is an object or "#ff0000"). An attribute caps do
// not describe passes: Zigbee2MQTT takes options, such as transition or
// brightness_step, that no expose names, and a native device may have
// attributes of its own.
func (c hubCommand) check(caps []hearth.Capability) error {
	for _, k := range c.keys {
		if i := slices.IndexFunc(caps, func(x hearth.Capability) bool { return x.Attr == k }); i >= 0 {
			if err := checkValue(caps[i], c.attrs[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// onOffWords returns the command with true and false given for a binary
// attribute whose values are "ON" and "OFF" (which check lets pass) in
// those words: Zigbee2MQTT refuses a boolean state. Only those values are
// rewritten; the rest of the object keeps its bytes. The command is the
// same bytes when there is nothing to change.
func (c hubCommand) onOffWords(caps []hearth.Capability) ([]byte, error) {
	var words map[string]json.RawMessage
	for _, cp := range caps {
		b, isBool := c.attrs[cp.Attr].(bool)
		if !isBool || cp.Type != "binary" || !isOnOff(cp.On) || !isOnOff(cp.Off) {
			continue
		}
		if words == nil {
			if err := json.Unmarshal(c.raw, &words); err != nil {
				return nil, fmt.Errorf("command: %w", err)
			}
		}
		word := cp.Off
		if b {
			word = cp.On
		}
		words[cp.Attr], _ = json.Marshal(word) // a string always marshals
	}
	if words == nil {
		return c.raw, nil
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(words); err != nil {
		return nil, fmt.Errorf("command: %w", err)
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// checkValue says why v cannot be sent for the attribute cp describes.
func checkValue(cp hearth.Capability, v any) error {
	if !cp.Set {
		return badCommand("%s is read-only: the device reports it but takes no command for it", cp.Attr)
	}
	switch cp.Type {
	case "binary":
		text := valueText(v)
		for _, ok := range []any{cp.On, cp.Off, cp.Toggle} {
			if ok != nil && strings.EqualFold(text, valueText(ok)) {
				return nil
			}
		}
		if _, isBool := v.(bool); isBool && isOnOff(cp.On) && isOnOff(cp.Off) {
			return nil // true and false for "ON" and "OFF"
		}
		words := []string{jsonText(cp.On), jsonText(cp.Off)}
		if cp.Toggle != nil {
			words = append(words, jsonText(cp.Toggle))
		}
		return badCommand("%s must be %s, got %s", cp.Attr, strings.Join(words, " or "), jsonText(v))
	case "numeric":
		if s, ok := v.(string); ok && slices.ContainsFunc(cp.Presets, func(p string) bool { return strings.EqualFold(p, s) }) {
			return nil
		}
		if _, err := number(cp.Attr, v); err != nil {
			if len(cp.Presets) > 0 {
				return badCommand("%s must be a number or one of %s, got %s", cp.Attr, strings.Join(cp.Presets, ", "), jsonText(v))
			}
			return err
		}
	case "enum":
		text := valueText(v)
		if !slices.ContainsFunc(cp.Values, func(s string) bool { return strings.EqualFold(s, text) }) {
			return badCommand("%s must be one of %s, got %s", cp.Attr, strings.Join(cp.Values, ", "), jsonText(v))
		}
	case "text":
		switch v.(type) {
		case map[string]any, []any, nil:
			return badCommand("%s must be a word, a number or true/false, got %s", cp.Attr, jsonText(v))
		}
	}
	return nil
}

// isOnOff reports whether v is "ON" or "OFF" in any case.
func isOnOff(v any) bool {
	s, ok := v.(string)
	return ok && (strings.EqualFold(s, "ON") || strings.EqualFold(s, "OFF"))
}

// onOff reads the value of a state attribute in a command: "ON", "OFF" or
// "TOGGLE" in any case, or true/false. It returns the upper-case word.
func onOff(attr string, v any) (string, error) {
	switch v := v.(type) {
	case bool:
		if v {
			return "ON", nil
		}
		return "OFF", nil
	case string:
		switch s := strings.ToUpper(strings.TrimSpace(v)); s {
		case "ON", "OFF", "TOGGLE":
			return s, nil
		}
	}
	return "", badCommand(`%s must be "ON", "OFF" or "TOGGLE", got %s`, attr, jsonText(v))
}

// number reads a numeric command value: a JSON number, or a string holding one.
func number(attr string, v any) (float64, error) {
	switch v := v.(type) {
	case float64:
		return v, nil
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f, nil
		}
	}
	return 0, badCommand("%s must be a number, got %s", attr, jsonText(v))
}

// scale maps a level v from [0, from] onto [0, to], rounded and clamped. A
// level above zero stays above zero: brightness 1 of 254 is Dimmer 1 of
// 100, not 0, which would turn the light off.
func scale(v, from, to float64) float64 {
	if from <= 0 || v <= 0 {
		return 0
	}
	return max(math.Round(min(v, from)*to/from), 1)
}

// valueText writes a value as plain text: a string as it is, a number in
// its shortest form ("200", "21.5"), true/false; anything else as JSON.
func valueText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return formatNumber(v)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	}
	return jsonText(v)
}

// formatNumber writes a number without an exponent or a trailing ".0"
// when it is whole and not huge.
func formatNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// jsonText writes v as JSON for messages; what cannot be written says so.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}
