package automations

import (
	"context"
	"log/slog"

	"github.com/goccy/go-yaml/ast"
)

// logAction writes a line to the hub's log (and the run's trace); the
// message may be a template.
type logAction struct {
	msg   any // string or *tmpl
	level slog.Level
}

func (l *loader) logAction(fs fieldList) action {
	l.unknown(fs, "a log action", "log", "level")
	f, _ := fs.get("log")
	s, ok := l.str(f, "log")
	if !ok {
		return nil
	}
	a := &logAction{level: slog.LevelInfo}
	v, good := l.template(f.value, s)
	a.msg = v
	if lf, has := fs.get("level"); has {
		lv, ok := l.str(lf, "level")
		switch lv {
		case "debug":
			a.level = slog.LevelDebug
		case "info":
		case "warn", "warning":
			a.level = slog.LevelWarn
		case "error":
			a.level = slog.LevelError
		default:
			if ok {
				l.errorf(lf.value, "level must be debug, info, warn or error, got %q", lv)
			}
			good = false
		}
	}
	if !good {
		return nil
	}
	return a
}

func (a *logAction) describe() string { return "log" }

func (a *logAction) do(ctx context.Context, t *task) error {
	msg, err := t.text(a.msg)
	if err != nil {
		t.fail("log", err)
		return err
	}
	t.r.eng.log.Log(ctx, a.level, msg, "automation", t.r.auto.ID, "run", t.r.id)
	t.step("action", "log "+msg, "done", nil, 0, "")
	return nil
}

// stopAction ends the run; the trace says why.
type stopAction struct {
	reason string
}

func (l *loader) stopAction(fs fieldList) action {
	l.unknown(fs, "a stop action", "stop")
	f, _ := fs.get("stop")
	if _, null := f.value.(*ast.NullNode); null {
		return &stopAction{reason: "stop"}
	}
	s, ok := l.str(f, "stop")
	if !ok {
		return nil
	}
	return &stopAction{reason: s}
}

func (a *stopAction) describe() string { return "stop: " + a.reason }

func (a *stopAction) do(ctx context.Context, t *task) error {
	t.step("action", a.describe(), "stopped", nil, 0, "")
	return &errStopped{reason: a.reason}
}
