package automations

import (
	"context"
	"fmt"

	"github.com/goccy/go-yaml/ast"
	"hearth"
)

// scene is a set of device states applied together by a `scene` action. A
// file holds scenes beside automations, as list items starting with
// `scene:`; their ids are unique across the files of a load.
type scene struct {
	id          string
	description string
	file        string
	line, col   int
	devices     []sceneDevice // in the order written
	fp          any
}

type sceneDevice struct {
	device  string
	payload *payload
}

var sceneKeys = []string{"scene", "description", "states"}

// scene reads a top-level scene item.
func (l *loader) scene(n ast.Node, fs fieldList, i int) {
	l.auto = fmt.Sprintf("#%d", i+1)
	fs, _ = l.fields(n, "a scene")
	sc := &scene{file: l.file}
	sc.line, sc.col = position(n)
	f, _ := fs.get("scene")
	id, ok := l.str(f, "scene")
	if ok {
		if err := validID(id); err != nil {
			l.errorf(f.value, "scene id %q %v", id, err)
			ok = false
		} else {
			l.auto = "scene " + id
			if first, dup := l.c.scenes[id]; dup {
				l.errorf(f.value, "duplicate scene %q: also defined at %s:%d:%d", id, first.file, first.line, first.col)
				ok = false
			}
		}
	}
	sc.id = id
	l.unknown(fs, "a scene", sceneKeys...)
	if df, has := fs.get("description"); has {
		sc.description, _ = l.str(df, "description")
	}
	sf, has := fs.get("states")
	if !has {
		l.errorf(n, "a scene needs states: a map of device: {attribute: value}")
		return
	}
	devs, good := l.fields(sf.value, "states")
	if !good {
		return
	}
	if len(devs) == 0 {
		l.errorf(sf.value, "states is empty: a scene sets at least one device")
		ok = false
	}
	for _, d := range devs {
		if why := validDevice(d.key); why != "" {
			l.errorf(d.keyNd, "device %q %s", d.key, why)
			ok = false
			continue
		}
		l.device(d.keyNd, d.key)
		if _, isMap := d.value.(*ast.MappingNode); !isMap {
			if d.value != nil {
				l.errorf(d.value, "the state of %s must be a map of attributes such as {state: \"ON\"}, got %s", d.key, kindOf(d.value))
			}
			ok = false
			continue
		}
		p, good := l.readPayload(d.value, false)
		ok = ok && good
		sc.devices = append(sc.devices, sceneDevice{device: d.key, payload: p})
	}
	if ok {
		sc.fp = l.normalised(n)
		l.c.scenes[id] = sc
	}
}

// sceneRef is a scene action's reference, checked once every file is read.
type sceneRef struct {
	id         string
	file       string
	line, col  int
	automation string
}

// checkScenes reports scene actions naming no scene.
func (c *collector) checkScenes() {
	for _, r := range c.sceneRefs {
		if _, ok := c.scenes[r.id]; !ok {
			c.problems = append(c.problems, Problem{File: r.file, Line: r.line, Column: r.col, Automation: r.automation,
				Msg: fmt.Sprintf("scene %q is not defined (define it as a list item: - scene: %s)", r.id, r.id)})
		}
	}
}

// sceneAction applies a scene: a set command per device, in the order the
// scene lists them. The scene is looked up in the run's Set.
type sceneAction struct {
	id string
}

func (l *loader) sceneAction(fs fieldList) action {
	l.unknown(fs, "a scene action", "scene")
	f, _ := fs.get("scene")
	id, ok := l.str(f, "scene")
	if !ok {
		return nil
	}
	line, col := position(f.value)
	l.c.sceneRefs = append(l.c.sceneRefs, sceneRef{id: id, file: l.file, line: line, col: col, automation: l.auto})
	if l.cur != nil {
		l.cur.scenes = append(l.cur.scenes, id)
	}
	return &sceneAction{id: id}
}

func (a *sceneAction) describe() string { return "scene " + a.id }

func (a *sceneAction) do(ctx context.Context, t *task) error {
	sc, ok := t.r.set.scenes[a.id]
	if !ok {
		err := fmt.Errorf("scene %q is not loaded", a.id)
		t.fail(a.describe(), err)
		return err
	}
	for _, d := range sc.devices {
		b, err := t.render(d.payload)
		if err != nil {
			t.fail(a.describe(), err)
			return err
		}
		err = t.command(ctx, "scene "+a.id+": set "+d.device, false, hearth.Command{
			Device:  d.device,
			Topic:   t.r.eng.base + "/" + d.device + "/set",
			Payload: b,
		})
		if err != nil {
			return err
		}
	}
	return nil
}
