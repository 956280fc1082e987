package automations

import (
	"context"

	"github.com/goccy/go-yaml/ast"
)

// action is one step of a run. Each kind lives in its own file: it reads
// itself from YAML (a loader method) and does its work on the run's context,
// returning early with the context's error when the run is cancelled.
type action interface {
	do(ctx context.Context, r *run) error
}

// actionKinds are the keys that say what kind an action is.
var actionKinds = []string{"set", "publish", "delay"}

// action reads one item of an automation's actions.
func (l *loader) action(n ast.Node) action {
	fs, ok := l.fields(n, "an action")
	if !ok {
		return nil
	}
	kind, ok := l.kind(n, fs, "an action", actionKinds)
	if !ok {
		return nil
	}
	switch kind {
	case "set":
		return l.setAction(n, fs)
	case "publish":
		return l.publishAction(n, fs)
	case "delay":
		return l.delayAction(fs)
	}
	return nil
}
