package web

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth"
)

// fakeAutomations is an engine with two automations.
type fakeAutomations struct {
	mu      sync.Mutex
	enabled map[string]bool
	runs    int
	limit   int
}

func newFakeAutomations() *fakeAutomations {
	return &fakeAutomations{enabled: map[string]bool{"hall_light_on_motion": true, "night": false}}
}

func (f *fakeAutomations) info(id string) (hearth.AutomationInfo, error) {
	on, ok := f.enabled[id]
	if !ok {
		return hearth.AutomationInfo{}, fmt.Errorf("automation %q: %w", id, hearth.ErrNoAutomation)
	}
	return hearth.AutomationInfo{ID: id, Mode: "restart", Enabled: on, YAML: "- id: " + id + "\n"}, nil
}

func (f *fakeAutomations) List(context.Context) (hearth.AutomationList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var l hearth.AutomationList
	for _, id := range []string{"hall_light_on_motion", "night"} {
		a, _ := f.info(id)
		l.Automations = append(l.Automations, a)
	}
	l.Problems = []hearth.AutomationProblem{{File: "a.yaml", Line: 3, Column: 5, Automation: "broken", Message: "unknown field"}}
	return l, nil
}

func (f *fakeAutomations) Get(_ context.Context, id string) (hearth.AutomationInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.info(id)
}

func (f *fakeAutomations) set(id string, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.info(id); err != nil {
		return err
	}
	f.enabled[id] = on
	return nil
}

func (f *fakeAutomations) Enable(_ context.Context, id string) error  { return f.set(id, true) }
func (f *fakeAutomations) Disable(_ context.Context, id string) error { return f.set(id, false) }

func (f *fakeAutomations) Run(_ context.Context, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.info(id); err != nil {
		return "", err
	}
	f.runs++
	return fmt.Sprintf("%s#%d", id, f.runs), nil
}

func (f *fakeAutomations) Traces(_ context.Context, id string, limit int) ([]hearth.Trace, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.info(id); err != nil {
		return nil, err
	}
	f.limit = limit
	return []hearth.Trace{{
		RunSummary: hearth.RunSummary{Run: id + "#1", Started: time.Unix(100, 0), Outcome: "done"},
		Automation: id, Trigger: 7,
		Steps: []hearth.TraceStep{{Time: time.Unix(100, 0), Kind: "trigger", Text: "occupancy == true", Result: "true"}},
	}}, nil
}

func TestAutomationsAPI(t *testing.T) {
	f := newFakeAutomations()
	s := newStack(t, stackOptions{noStore: true, automations: f})
	url := s.http.URL + "/api/automations"

	t.Run("the list has the automations and the problems of the last load", func(t *testing.T) {
		var l hearth.AutomationList
		if code := get(t, url, &l); code != 200 || len(l.Automations) != 2 || len(l.Problems) != 1 || l.Problems[0].Line != 3 {
			t.Fatalf("%d %+v", code, l)
		}
	})
	t.Run("one automation has its YAML", func(t *testing.T) {
		var a hearth.AutomationInfo
		if code := get(t, url+"/night", &a); code != 200 || a.Enabled || !strings.Contains(a.YAML, "night") {
			t.Fatalf("%d %+v", code, a)
		}
	})
	t.Run("enable and disable switch it", func(t *testing.T) {
		var body map[string]any
		if code := call(t, "POST", url+"/night/enable", "", &body); code != 200 || body["enabled"] != true {
			t.Fatalf("%d %v", code, body)
		}
		var a hearth.AutomationInfo
		if get(t, url+"/night", &a); !a.Enabled {
			t.Fatal("not enabled")
		}
		if code := call(t, "POST", url+"/night/disable", "", &body); code != 200 || body["enabled"] != false {
			t.Fatalf("%d %v", code, body)
		}
	})
	t.Run("run now starts a run and names it", func(t *testing.T) {
		var body map[string]any
		if code := call(t, "POST", url+"/night/run", "", &body); code != 202 || body["run"] != "night#1" {
			t.Fatalf("%d %v", code, body)
		}
	})
	t.Run("traces come with their steps and a huge limit is clamped", func(t *testing.T) {
		var traces []hearth.Trace
		if code := get(t, url+"/night/traces?limit=1000000", &traces); code != 200 || len(traces) != 1 || traces[0].Steps[0].Kind != "trigger" || f.limit != maxTraces {
			t.Fatalf("%d %+v limit %d", code, traces, f.limit)
		}
	})
	for _, c := range []struct {
		name, method, path string
		status             int
	}{
		{"an unknown automation is a 404", "GET", "/nope", 404},
		{"enabling an unknown automation is a 404", "POST", "/nope/enable", 404},
		{"the traces of an unknown automation are a 404", "GET", "/nope/traces", 404},
		{"an unknown action is a 404", "POST", "/night/explode", 404},
		{"a bad traces limit is a 400", "GET", "/night/traces?limit=-1", 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			var e errorBody
			if code := call(t, c.method, url+c.path, "", &e); code != c.status || e.Error == "" {
				t.Fatalf("%d %+v", code, e)
			}
		})
	}
}
