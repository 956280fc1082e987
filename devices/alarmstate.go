package devices

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"hearth"
)

// alarmStatus is the alarm's state, as published.
type alarmStatus struct {
	State       string
	Target      string // the armed state being armed, armed, or returned to; "" when disarmed
	ChangedBy   string
	User        string
	CodeOK      *bool // the last code given was right; nil when none was checked
	Attempts    int   // wrong codes in a row
	LockedUntil time.Time
	Until       time.Time // when the delay running ends
	Sensor      trip      // the sensor that tripped it
	Ref         string    // the ref of the command this publication answers
}

// trip is the sensor that tripped the alarm: its id, and its name as
// people read it (the id when it has none), for notifications to say.
type trip struct{ id, name string }

// payload is the state as published: every attribute, null when empty, so
// that the merge into the known state removes what no longer holds.
func (s alarmStatus) payload() []byte {
	str := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	when := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UTC().Format(time.RFC3339)
	}
	m := map[string]any{
		"state": s.State, "target": str(s.Target), "changed_by": str(s.ChangedBy), "user": str(s.User),
		"code_ok": s.CodeOK, "attempts": s.Attempts, "locked_until": when(s.LockedUntil),
		"until": when(s.Until), "sensor": str(s.Sensor.id), "sensor_name": str(s.Sensor.name),
		"ref": str(s.Ref),
	}
	b, _ := json.Marshal(m) // strings, numbers, a bool: always marshals
	return b
}

// parseAlarmStatus reads a state published earlier.
func parseAlarmStatus(m map[string]any) alarmStatus {
	str := func(k string) string { s, _ := m[k].(string); return s }
	when := func(k string) time.Time { t, _ := time.Parse(time.RFC3339, str(k)); return t }
	s := alarmStatus{
		State: str("state"), Target: str("target"), ChangedBy: str("changed_by"), User: str("user"),
		LockedUntil: when("locked_until"), Until: when("until"), Sensor: trip{str("sensor"), str("sensor_name")},
	}
	if n, ok := m["attempts"].(float64); ok && n > 0 {
		s.Attempts = int(n)
	}
	if b, ok := m["code_ok"].(bool); ok {
		s.CodeOK = &b
	}
	return s
}

// alarmSecret is the attribute of commands to the alarm kept out of the log.
const alarmSecret = "code"

// maxAlarmRef bounds the ref of a command to the alarm, in bytes.
const maxAlarmRef = 64

// alarmRef reads the ref of a command to the alarm: a string its answer
// carries back, so that the sender can tell its answer among the alarm's
// publications, even from another process (the page with --role web).
func alarmRef(attrs map[string]any) (string, error) {
	v, ok := attrs["ref"]
	if !ok {
		return "", nil
	}
	if s, isStr := v.(string); isStr && len(s) <= maxAlarmRef {
		return s, nil
	}
	return "", badCommand("the alarm's ref is a string of at most %d bytes, got %.40s", maxAlarmRef, jsonText(v))
}

// checkAlarmCommand accepts {"action": <an action>, "code": "1234", "ref": "..."}.
func checkAlarmCommand(c hubCommand) error {
	action, ok := c.attrs["action"].(string)
	if !ok || !slices.Contains(alarmActions, strings.ToLower(strings.TrimSpace(action))) {
		return badCommand(`the alarm takes {"action": one of %s, "code": "..."}`, strings.Join(alarmActions, ", "))
	}
	for k, v := range c.attrs {
		switch k {
		case "action":
		case "ref":
			if _, err := alarmRef(c.attrs); err != nil {
				return err
			}
		case "code":
			if _, isStr := v.(string); !isStr {
				if _, isNum := v.(float64); !isNum {
					return badCommand("the alarm code is a string")
				}
			}
		default:
			return badCommand("the alarm takes action, code and ref, not %q", k)
		}
	}
	return nil
}

// alarmInfo is what the page is told of the alarm.
func alarmInfo() hearth.DeviceInfo {
	states := append([]string{AlarmDisarmed, AlarmArming}, armedStates...)
	states = append(states, AlarmPending, AlarmTriggered)
	return hearth.DeviceInfo{
		Name: "Alarm", Kind: "alarm_control_panel", Description: "the alarm panel",
		Capabilities: []hearth.Capability{
			{Attr: "state", Type: "enum", Values: states},
			{Attr: "action", Type: "enum", Set: true, Values: alarmActions},
			{Attr: "code", Type: "text", Set: true},
			{Attr: "target", Type: "enum", Values: armedStates},
			{Attr: "changed_by", Type: "text"},
			{Attr: "code_ok", Type: "binary", On: true, Off: false},
			{Attr: "until", Type: "text"},
			{Attr: "sensor", Type: "text"},
			{Attr: "sensor_name", Type: "text"},
			{Attr: "ref", Type: "text"},
		},
	}
}
