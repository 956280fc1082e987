package automations

import (
	"context"
	"errors"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"hearth"
)

// notifyAction tells people: a notification with a title and a message
// (templates both), a priority and the channels to send it through (the
// default ones when it names none). It is logged as an event and handed to
// the channels; it never waits for a delivery, and a notification that
// cannot be sent is traced as failed without ending the run.
type notifyAction struct {
	title    any // string or *tmpl
	message  any // string or *tmpl
	priority hearth.Priority
	channels []string
}

var notifyKeys = []string{"title", "message", "priority", "channels"}

func (l *loader) notifyAction(fs fieldList) action {
	l.unknown(fs, "a notify action", "notify")
	f, _ := fs.get("notify")
	a := &notifyAction{priority: hearth.PriorityNormal}
	switch x := f.value.(type) {
	case nil:
		return nil
	case *ast.StringNode, *ast.LiteralNode:
		s, _ := scalarText(x)
		if strings.TrimSpace(s) == "" {
			l.errorf(x, "notify needs a message")
			return nil
		}
		v, ok := l.template(x, s)
		if !ok {
			return nil
		}
		a.message = v
		return a
	case *ast.MappingNode:
		return l.notifyMap(x, a)
	default:
		l.errorf(x, "notify must be a message (a string) or a map of %s, got %s", strings.Join(notifyKeys, ", "), kindOf(x))
		return nil
	}
}

// notifyMap reads notify: {title, message, priority, channels}.
func (l *loader) notifyMap(n *ast.MappingNode, a *notifyAction) action {
	fs, ok := l.fields(n, "notify")
	if !ok {
		return nil
	}
	l.unknown(fs, "notify", notifyKeys...)
	text := func(key string) (any, bool) {
		f, has := fs.get(key)
		if !has {
			return "", true
		}
		s, ok := l.str(f, key)
		if !ok {
			return nil, false
		}
		return l.template(f.value, s)
	}
	title, okT := text("title")
	message, okM := text("message")
	ok = okT && okM
	a.title, a.message = title, message
	if ok && isBlank(title) && isBlank(message) {
		l.errorf(n, "notify needs a message (or a title)")
		ok = false
	}
	if f, has := fs.get("priority"); has {
		if s, good := l.str(f, "priority"); good {
			a.priority = hearth.Priority(s)
			if !a.priority.Valid() {
				l.errorf(f.value, "priority must be low, normal, high or urgent, got %q", s)
				ok = false
			}
		} else {
			ok = false
		}
	}
	if f, has := fs.get("channels"); has {
		chans, good := l.channelList(f)
		a.channels = chans
		ok = ok && good
	}
	if !ok {
		return nil
	}
	return a
}

// channelList reads a list of channel names (or one name), each checked
// against the channels there are when the load knows them.
func (l *loader) channelList(f field) ([]string, bool) {
	var nodes []ast.Node
	switch x := f.value.(type) {
	case nil:
		return nil, false
	case *ast.SequenceNode:
		nodes = x.Values
	default:
		nodes = []ast.Node{x}
	}
	var out []string
	ok := true
	for _, n := range nodes {
		n = l.resolve(n)
		name, good := l.str(field{key: "channels", value: n}, "a channel")
		if !good {
			ok = false
			continue
		}
		known := l.c.opts.Channels
		if known != nil && !contains(known, name) {
			l.errorf(n, "unknown channel %q (channels: %s)", name, strings.Join(known, ", "))
			ok = false
			continue
		}
		if !contains(out, name) {
			out = append(out, name)
		}
	}
	return out, ok
}

func isBlank(v any) bool {
	s, isStr := v.(string)
	return isStr && strings.TrimSpace(s) == ""
}

func (a *notifyAction) describe() string {
	if len(a.channels) == 0 {
		return "notify"
	}
	return "notify " + strings.Join(a.channels, ", ")
}

func (a *notifyAction) do(ctx context.Context, t *task) error {
	desc := a.describe()
	title, err := t.text(a.title)
	var message string
	if err == nil {
		message, err = t.text(a.message)
	}
	if err != nil {
		t.fail(desc, err)
		return nil // a notification that cannot be written does not end the run
	}
	shown := desc + ": " + message
	if title != "" {
		shown = desc + ": " + title + ": " + message
	}
	if r := []rune(shown); len(r) > 200 {
		shown = string(r[:200]) + "…"
	}
	r, e := t.r, t.r.eng
	if e.notifier == nil {
		t.step("action", shown, "not sent", nil, 0, "")
		return nil
	}
	ev, err := e.notifier.Notify(ctx, hearth.Notification{
		Title:      title,
		Message:    message,
		Priority:   a.priority,
		Channels:   a.channels,
		Automation: r.auto.ID,
		Cause:      r.cause,
	})
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			t.step("action", shown, "cancelled", nil, 0, "")
			return ctx.Err()
		}
		t.step("action", shown, "failed", nil, 0, err.Error())
		e.log.Warn("notification not sent", "run", r.id, "err", err)
		return nil
	}
	t.step("action", shown, "sent", nil, ev.Seq, "")
	return nil
}
