// Package examples holds the demo house's automations, embedded in the hub so
// that `hub --demo` works from any folder. Read demo.yaml to learn the format.
package examples

import _ "embed"

// DemoName is the name errors use for the demo automations.
const DemoName = "examples/demo.yaml"

// Demo is the YAML of the demo house's automations.
//
//go:embed demo.yaml
var Demo []byte
