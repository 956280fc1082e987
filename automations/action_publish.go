package automations

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"hearth"
)

// publishAction publishes a payload to any topic.
type publishAction struct {
	topic   string
	payload []byte // a string as is; a map or list as JSON
	qos     byte
	retain  bool
}

func (l *loader) publishAction(n ast.Node, fs fieldList) action {
	l.unknown(fs, "a publish action", "publish", "payload", "qos", "retain")
	f, _ := fs.get("publish")
	a := &publishAction{}
	topic, ok := l.str(f, "publish")
	if ok {
		if why := validTopic(topic); why != "" {
			l.errorf(f.value, "topic %q %s", topic, why)
			ok = false
		}
	}
	a.topic = topic
	if pf, has := fs.get("payload"); !has {
		l.errorf(n, "publish needs a payload (a string, or a map sent as JSON)")
		ok = false
	} else {
		switch x := pf.value.(type) {
		case nil:
			ok = false
		case *ast.StringNode, *ast.LiteralNode:
			s, _ := scalarText(x)
			a.payload = []byte(s)
		case *ast.MappingNode, *ast.SequenceNode:
			v, good := l.value(x, 0)
			if !good {
				ok = false
				break
			}
			b, err := json.Marshal(v)
			if err != nil {
				l.errorf(x, "payload cannot be written as JSON: %v", err)
				ok = false
			}
			a.payload = b
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

func (a *publishAction) do(ctx context.Context, r *run) error {
	return r.command(ctx, hearth.Command{
		Device:  commandedDevice(r.eng.base, a.topic),
		Topic:   a.topic,
		Payload: a.payload,
		QoS:     a.qos,
		Retain:  a.retain,
	})
}

// commandedDevice returns <device> when topic is <base>/<device>/set, so a
// raw publish of a command is logged against its device like a set.
func commandedDevice(base, topic string) string {
	rest, ok := strings.CutPrefix(topic, base+"/")
	if !ok {
		return ""
	}
	device, ok := strings.CutSuffix(rest, "/set")
	if !ok || strings.Contains(device, "/") {
		return ""
	}
	return device
}
