package automations

import (
	"context"
	"sync/atomic"

	"github.com/goccy/go-yaml/ast"
	"hearth"
)

// setAction commands a device: its state map, as JSON, to <base>/<device>/set.
type setAction struct {
	device  string
	payload *payload
	desc    string
	text    string                     // desc with the payload, when it is static
	topic   atomic.Pointer[topicUnder] // the last topic written, so that a run does not build it again
}

// topicUnder is a command topic under one base topic.
type topicUnder struct{ base, topic string }

// topicFor returns the action's topic under base. A Set may serve engines
// with different bases (a what-if run); each keeps the last one.
func (a *setAction) topicFor(base string) string {
	if t := a.topic.Load(); t != nil && t.base == base {
		return t.topic
	}
	t := &topicUnder{base: base, topic: base + "/" + a.device + "/set"}
	a.topic.Store(t)
	return t.topic
}

func (l *loader) setAction(n ast.Node, fs fieldList) action {
	l.unknown(fs, "a set action", "set", "state")
	f, _ := fs.get("set")
	device, ok := l.str(f, "set")
	if ok {
		if why := validDevice(device); why != "" {
			l.errorf(f.value, "device %q %s", device, why)
			ok = false
		} else {
			l.device(f.value, device)
		}
	}
	sf, has := fs.get("state")
	if !has {
		l.errorf(n, "set needs a state, such as state: {state: \"ON\"}")
		return nil
	}
	if _, isMap := sf.value.(*ast.MappingNode); !isMap {
		if sf.value == nil {
			return nil
		}
		l.errorf(sf.value, "state must be a map of attributes such as {state: \"ON\", brightness: 200}, got %s", kindOf(sf.value))
		return nil
	}
	p, good := l.readPayload(sf.value, false)
	if !ok || !good {
		return nil
	}
	a := &setAction{device: device, payload: p, desc: "set " + device}
	if !p.dynamic() {
		a.text = a.desc + " " + string(p.static)
	}
	return a
}

func (a *setAction) describe() string { return a.desc }

func (a *setAction) do(ctx context.Context, t *task) error {
	b, err := t.render(a.payload)
	if err != nil {
		t.fail(a.desc, err)
		return err
	}
	text := a.text
	if text == "" {
		text = a.desc
	}
	return t.command(ctx, text, a.text != "", hearth.Command{
		Device:  a.device,
		Topic:   a.topicFor(t.r.eng.base),
		Payload: b,
	})
}
