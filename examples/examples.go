// Package examples holds the demo house's automations, embedded in the hub so
// that `hub --demo` works from any folder. Read demo.yaml to learn the format,
// and alarm.yaml for the house mode, the alarm and notifications.
package examples

import _ "embed"

// The names problems and the page give the demo's files.
const (
	DemoName  = "examples/demo.yaml"
	AlarmName = "examples/alarm.yaml"
)

// Demo is the YAML of the demo house's automations: lights on motion,
// notifications.
//
//go:embed demo.yaml
var Demo []byte

// Alarm is the YAML of the demo's alarm story: the family leaves, the alarm
// arms, motion makes it pending then triggered, the lights flash and the
// page is told; the family comes home and it is disarmed.
//
//go:embed alarm.yaml
var Alarm []byte
