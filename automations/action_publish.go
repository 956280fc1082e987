package automations

import (
	"context"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"hearth"
)

// publishAction publishes a payload to any topic. The topic may be a
// template ("home/{{ trigger.device }}/set"), checked when it is rendered.
type publishAction struct {
	topic    string
	topicTpl *tmpl
	payload  *payload // a string as is; a map or list as JSON
	qos      byte
	retain   bool
	desc     string
}

func (l *loader) publishAction(n ast.Node, fs fieldList) action {
	l.unknown(fs, "a publish action", "publish", "payload", "qos", "retain")
	f, _ := fs.get("publish")
	a := &publishAction{}
	topic, ok := l.str(f, "publish")
	if ok && strings.Contains(topic, "{{") {
		v, good := l.template(f.value, topic)
		a.topicTpl, _ = v.(*tmpl)
		ok = good
	} else if ok {
		if why := hearth.TopicProblem(topic); why != "" {
			l.errorf(f.value, "topic %q %s", topic, why)
			ok = false
		}
	}
	a.topic = topic
	a.desc = "publish " + topic
	if pf, has := fs.get("payload"); !has {
		l.errorf(n, "publish needs a payload (a string, or a map sent as JSON)")
		ok = false
	} else {
		switch x := pf.value.(type) {
		case nil:
			ok = false
		case *ast.StringNode, *ast.LiteralNode, *ast.MappingNode, *ast.SequenceNode:
			p, good := l.readPayload(x, true)
			a.payload = p
			ok = ok && good
		default:
			l.errorf(x, "payload must be a string (quote it: \"%s\") or a map sent as JSON, got %s", x.GetToken().Value, kindOf(x))
			ok = false
		}
	}
	if qf, has := fs.get("qos"); has {
		q, good := l.integer(qf, "qos", 0, 1)
		a.qos = byte(q)
		ok = ok && good
	}
	if rf, has := fs.get("retain"); has {
		r, good := l.boolean(rf, "retain")
		a.retain = r
		ok = ok && good
	}
	if !ok {
		return nil
	}
	return a
}

func (a *publishAction) describe() string { return a.desc }

func (a *publishAction) do(ctx context.Context, t *task) error {
	topic := a.topic
	if a.topicTpl != nil {
		var err error
		topic, err = t.text(a.topicTpl)
		if err == nil {
			if why := hearth.TopicProblem(topic); why != "" {
				err = fmt.Errorf("topic %q (from %q) %s", topic, a.topic, why)
			}
		}
		if err != nil {
			t.fail(a.desc, err)
			return err
		}
	}
	b, err := t.render(a.payload)
	if err != nil {
		t.fail(a.desc, err)
		return err
	}
	// No Device: a publish goes out as it is, to the topic it names, even
	// home/<id>/set (a set action is the way to command a device through
	// its adapter, checked). The log still names the device of a device
	// topic: the read model fills it in.
	return t.command(ctx, "publish "+topic, false, hearth.Command{
		Topic:   topic,
		Payload: b,
		QoS:     a.qos,
		Retain:  a.retain,
	})
}
