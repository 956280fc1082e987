package automations

import (
	"context"
	"encoding/json"

	"github.com/goccy/go-yaml/ast"
	"hearth"
)

// setAction commands a device: its state map, as JSON, to <base>/<device>/set.
type setAction struct {
	device  string
	payload []byte // encoded once at load; shared read-only by every run
}

func (l *loader) setAction(n ast.Node, fs fieldList) action {
	l.unknown(fs, "a set action", "set", "state")
	f, _ := fs.get("set")
	device, ok := l.str(f, "set")
	if ok {
		if why := validDevice(device); why != "" {
			l.errorf(f.value, "device %q %s", device, why)
			ok = false
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
	v, good := l.value(sf.value, 0)
	if !ok || !good {
		return nil
	}
	payload, err := json.Marshal(v)
	if err != nil {
		l.errorf(sf.value, "state cannot be written as JSON: %v", err)
		return nil
	}
	return &setAction{device: device, payload: payload}
}

func (a *setAction) do(ctx context.Context, r *run) error {
	return r.command(ctx, hearth.Command{
		Device:  a.device,
		Topic:   r.eng.base + "/" + a.device + "/set",
		Payload: a.payload,
	})
}
