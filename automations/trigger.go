package automations

import (
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// trigger is one way an automation starts. Each kind lives in its own file:
// it reads itself from YAML (a loader method), puts itself in the index
// (addTo), and decides on an event whether it fires. Kinds not driven by
// events (time of day, cron) will register with a scheduler the same way.
type trigger interface {
	addTo(ix *index)
}

// triggerKinds are the keys that say what kind a trigger is.
var triggerKinds = []string{"device", "mqtt"}

// trigger reads one item of an automation's triggers.
func (l *loader) trigger(a *Automation, n ast.Node) trigger {
	fs, ok := l.fields(n, "a trigger")
	if !ok {
		return nil
	}
	kind, ok := l.kind(n, fs, "a trigger", triggerKinds)
	if !ok {
		return nil
	}
	switch kind {
	case "device":
		return l.deviceTrigger(a, fs)
	case "mqtt":
		return l.mqttTrigger(a, fs)
	}
	return nil
}

// kind finds the one key of fs that says what an item is (the `set` of a
// set action, the `device` of a device trigger).
func (l *loader) kind(n ast.Node, fs fieldList, what string, kinds []string) (string, bool) {
	var found []field
	for _, f := range fs {
		if contains(kinds, f.key) {
			found = append(found, f)
		}
	}
	switch len(found) {
	case 0:
		l.errorf(n, "%s needs one of: %s", what, strings.Join(kinds, ", "))
		return "", false
	case 1:
		return found[0].key, true
	}
	l.errorf(found[1].keyNd, "%s has both %s and %s; write one per item", what, found[0].key, found[1].key)
	return "", false
}

// validDevice accepts a device id that is one topic level.
func validDevice(id string) string {
	switch {
	case id == "":
		return "is empty"
	case strings.ContainsAny(id, "/+#\x00"):
		return "must be one topic level (no /, + or #)"
	}
	return ""
}
