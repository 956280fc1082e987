package automations

import (
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// trigger is one way an automation starts. Each kind lives in its own file:
// it reads itself from YAML (a loader method) and puts itself in the index
// (addTo): event triggers under their device or topic filter, time triggers
// in the list the scheduler arms, `event: started` in the list fired when
// the engine starts.
type trigger interface {
	addTo(ix *index)
	base() *triggerBase
}

// triggerBase is what every trigger kind has.
type triggerBase struct {
	auto *Automation
	idx  int    // position among the automation's triggers
	id   string // its `id:`, or its position
	kind string // device, mqtt, at, cron, sun, event
	desc string // how traces and near misses name it
}

func (b *triggerBase) base() *triggerBase { return b }

// vars starts the trigger variables of a run it starts.
func (b *triggerBase) vars() triggerVars { return triggerVars{ID: b.id, Kind: b.kind} }

// timedTrigger fires at times of its own (at, cron, sun).
type timedTrigger interface {
	trigger
	// next returns the first time strictly after t it fires; zero if never.
	next(t time.Time, w *where) time.Time
}

// where is the engine's place on Earth: time zone and coordinates.
type where struct {
	loc      *time.Location
	lat, lon float64
	known    bool // coordinates were given
}

// triggerKinds are the keys that say what kind a trigger is.
var triggerKinds = []string{"device", "mqtt", "at", "cron", "sun", "event"}

// trigger reads one item of an automation's triggers.
func (l *loader) trigger(a *Automation, n ast.Node, idx int) trigger {
	fs, ok := l.fields(n, "a trigger")
	if !ok {
		return nil
	}
	kind, ok := l.kind(n, fs, "a trigger", triggerKinds)
	if !ok {
		return nil
	}
	b := triggerBase{auto: a, idx: idx, id: strconv.Itoa(idx), kind: kind}
	if f, has := fs.get("id"); has {
		if id, ok := l.str(f, "a trigger's id"); ok {
			b.id = id
		}
	}
	var t trigger
	switch kind {
	case "device":
		t = l.deviceTrigger(b, fs)
	case "mqtt":
		t = l.mqttTrigger(b, fs)
	case "at":
		t = l.atTrigger(b, fs)
	case "cron":
		t = l.cronTrigger(b, fs)
	case "sun":
		t = l.sunTrigger(b, fs)
	case "event":
		t = l.eventTrigger(b, fs)
	}
	return t
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
