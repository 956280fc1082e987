package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
	busy    bool // Run answers that a run is going
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
	if f.busy {
		return "", fmt.Errorf("automation %q %w: trigger dropped: mode single and run %s#%d is going", id, hearth.ErrBusy, id, f.runs)
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
		var l struct {
			hearth.AutomationList
			CanReload bool `json:"can_reload"`
		}
		if code := get(t, url, &l); code != 200 || len(l.Automations) != 2 || len(l.Problems) != 1 || l.Problems[0].Line != 3 || l.CanReload {
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
	t.Run("run now on a running single automation is a conflict", func(t *testing.T) {
		f.mu.Lock()
		f.busy = true
		f.mu.Unlock()
		defer func() { f.mu.Lock(); f.busy = false; f.mu.Unlock() }()
		var e errorBody
		if code := call(t, "POST", url+"/night/run", "", &e); code != 409 || !strings.Contains(e.Error, "is going") {
			t.Fatalf("%d %+v", code, e)
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

// fakeReloader answers reloads with changes, or with the problems it is
// given.
type fakeReloader struct {
	mu       sync.Mutex
	problems []hearth.AutomationProblem
	calls    int
}

func (f *fakeReloader) Reload(context.Context) (ReloadChanges, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.problems != nil {
		return ReloadChanges{}, fmt.Errorf("reload a.yaml: %w", &ProblemsError{Problems: f.problems})
	}
	return ReloadChanges{Added: []string{"night"}, Unchanged: []string{"hall_light_on_motion"}}, nil
}

func TestReloadAPI(t *testing.T) {
	f := &fakeReloader{}
	s := newStack(t, stackOptions{noStore: true, reloader: f})
	url := s.http.URL + "/api/automations/reload"

	t.Run("a good file is swapped in and the answer says what changed", func(t *testing.T) {
		var body struct {
			ReloadChanges
			Summary string
		}
		if code := call(t, "POST", url, "", &body); code != 200 || body.Summary != "added night" || len(body.Unchanged) != 1 || body.Changed == nil {
			t.Fatalf("%d %+v", code, body)
		}
	})
	t.Run("a file with mistakes is a 422 with every problem", func(t *testing.T) {
		f.mu.Lock()
		f.problems = []hearth.AutomationProblem{
			{File: "a.yaml", Line: 3, Column: 5, Automation: "night", Message: "unknown field \"trigers\""},
			{File: "a.yaml", Line: 9, Column: 7, Automation: "night", Message: "unknown device"},
		}
		f.mu.Unlock()
		var body problemsBody
		if code := call(t, "POST", url, "", &body); code != 422 || len(body.Problems) != 2 || body.Problems[1].Line != 9 || !strings.Contains(body.Error, "2 mistakes") {
			t.Fatalf("%d %+v", code, body)
		}
	})
	t.Run("a GET is not a reload", func(t *testing.T) {
		f.mu.Lock()
		before := f.calls
		f.mu.Unlock()
		recorder(s.web.Handler(), "GET", "/api/automations/reload", "")
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.calls != before {
			t.Fatal("a GET reloaded the automations")
		}
	})
	t.Run("the list says the page may offer a reload", func(t *testing.T) {
		both := newStack(t, stackOptions{noStore: true, automations: newFakeAutomations(), reloader: f})
		var l struct {
			CanReload bool `json:"can_reload"`
		}
		if code := get(t, both.http.URL+"/api/automations", &l); code != 200 || !l.CanReload {
			t.Fatalf("%d %+v", code, l)
		}
	})
	t.Run("without a reloader it is a 503 that says why", func(t *testing.T) {
		bare := newStack(t, stackOptions{noStore: true})
		var e errorBody
		if code := call(t, "POST", bare.http.URL+"/api/automations/reload", "", &e); code != 503 || !strings.Contains(e.Error, "automations file") {
			t.Fatalf("%d %+v", code, e)
		}
	})
}

// fakeWhatIf answers what-ifs with what it was asked; YAML holding
// "broken" has a mistake, "huge" too many events, and "slow" waits until
// release is closed or the request ends.
type fakeWhatIf struct {
	release chan struct{}
	started chan struct{}
}

func (f *fakeWhatIf) WhatIf(ctx context.Context, yaml []byte, from, until time.Time) (WhatIfAnswer, error) {
	switch {
	case strings.Contains(string(yaml), "broken"):
		return WhatIfAnswer{}, &ProblemsError{Problems: []hearth.AutomationProblem{{File: "what-if.yaml", Line: 2, Column: 3, Message: "unknown field \"trigers\""}}}
	case strings.Contains(string(yaml), "huge"):
		return WhatIfAnswer{}, fmt.Errorf("read the log: %w (more than 200000)", ErrTooManyEvents)
	case strings.Contains(string(yaml), "slow"):
		f.started <- struct{}{}
		select {
		case <-f.release:
		case <-ctx.Done():
			return WhatIfAnswer{}, ctx.Err()
		}
	}
	if strings.Contains(string(yaml), "tru") {
		// A likely typo: the load warns, and nothing would have been sent.
		return WhatIfAnswer{Run: whatIfRun{From: from, To: until, Events: 3, Traces: []any{}}, Warnings: []hearth.AutomationProblem{{
			File: "what-if.yaml", Line: 4, Column: 13, Automation: "a",
			Message: `when "occupancy == tru" reads "tru", which hall_motion has not reported: did you mean true?`,
		}}}, nil
	}
	return WhatIfAnswer{Run: map[string]any{"from": from, "to": until, "events": 0, "commands": []any{}, "traces": []any{}}}, nil
}

// whatIfRun has the shape of automations.WhatIfResult, whose Commands is
// nil when the run would have sent none.
type whatIfRun struct {
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Events   int       `json:"events"`
	Commands []any     `json:"commands"`
	Traces   []any     `json:"traces"`

	NearMisses map[string][]hearth.NearMiss `json:"near_misses,omitempty"`
}

func TestWhatIfAPI(t *testing.T) {
	f := &fakeWhatIf{release: make(chan struct{}), started: make(chan struct{}, 1)}
	s := newStack(t, stackOptions{noStore: true, whatIf: f})
	url := s.http.URL + "/api/automations/whatif"

	t.Run("the automations are replayed over the time asked for", func(t *testing.T) {
		var res struct{ From, To time.Time }
		if code := call(t, "POST", url, `{"yaml":"- id: a\n","since":"2h"}`, &res); code != 200 || res.To.Sub(res.From) != 2*time.Hour {
			t.Fatalf("%d %+v", code, res)
		}
	})
	t.Run("without since the last day is replayed", func(t *testing.T) {
		var res struct{ From, To time.Time }
		if code := call(t, "POST", url, `{"yaml":"- id: a\n"}`, &res); code != 200 || res.To.Sub(res.From) != 24*time.Hour {
			t.Fatalf("%d %+v", code, res)
		}
	})
	t.Run("the load's warnings come with the answer, and no commands is an empty list", func(t *testing.T) {
		var res struct {
			Commands *[]any
			Events   int
			Warnings []hearth.AutomationProblem
		}
		if code := call(t, "POST", url, `{"yaml":"- id: a\n  when: occupancy == tru\n"}`, &res); code != 200 {
			t.Fatalf("status %d", code)
		}
		if res.Commands == nil || len(*res.Commands) != 0 || res.Events != 3 {
			t.Errorf("commands %v (want []), events %d", res.Commands, res.Events)
		}
		if len(res.Warnings) != 1 || res.Warnings[0].Line != 4 || !strings.Contains(res.Warnings[0].Message, "did you mean true?") {
			t.Errorf("warnings %+v", res.Warnings)
		}
	})
	t.Run("an answer without warnings says so with an empty list", func(t *testing.T) {
		var res map[string]json.RawMessage
		if code := call(t, "POST", url, `{"yaml":"- id: a\n"}`, &res); code != 200 || string(res["warnings"]) != "[]" {
			t.Fatalf("%d warnings %s", code, res["warnings"])
		}
	})
	t.Run("YAML with mistakes is a 422 with the problems", func(t *testing.T) {
		var body problemsBody
		if code := call(t, "POST", url, `{"yaml":"broken"}`, &body); code != 422 || len(body.Problems) != 1 || body.Problems[0].Line != 2 {
			t.Fatalf("%d %+v", code, body)
		}
	})
	t.Run("too many events to replay is a 422 that asks for less", func(t *testing.T) {
		var e errorBody
		if code := call(t, "POST", url, `{"yaml":"huge","since":"168h"}`, &e); code != 422 || !strings.Contains(e.Error, "shorter time than 168h") {
			t.Fatalf("%d %+v", code, e)
		}
	})
	for _, c := range []struct{ name, body, want string }{
		{"an empty yaml is a 400", `{"yaml":"  "}`, "yaml"},
		{"a since that is not a duration is a 400", `{"yaml":"a","since":"yesterday"}`, "since"},
		{"a since over a week is a 400", `{"yaml":"a","since":"169h"}`, "at most 168h"},
		{"a negative since is a 400", `{"yaml":"a","since":"-1h"}`, "since"},
		{"an unknown field is a 400", `{"yaml":"a","until":"now"}`, "unknown field"},
		{"a body that is not JSON is a 400", `yaml: a`, "not valid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var e errorBody
			if code := call(t, "POST", url, c.body, &e); code != 400 || !strings.Contains(e.Error, c.want) {
				t.Fatalf("%d %+v", code, e)
			}
		})
	}
	t.Run("a body over 256 KiB is a 413", func(t *testing.T) {
		big := `{"yaml":"` + strings.Repeat("#", 300<<10) + `"}`
		var e errorBody
		if code := call(t, "POST", url, big, &e); code != 413 {
			t.Fatalf("%d %+v", code, e)
		}
	})
	t.Run("a second what-if while one runs is a 429", func(t *testing.T) {
		done := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest("POST", url, strings.NewReader(`{"yaml":"slow"}`))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		<-f.started
		var e errorBody
		code := call(t, "POST", url, `{"yaml":"- id: a"}`, &e)
		close(f.release)
		if code != 429 {
			t.Errorf("second what-if: %d %+v", code, e)
		}
		if first := <-done; first != 200 {
			t.Errorf("first what-if: %d", first)
		}
	})
	t.Run("without a runner it is a 503", func(t *testing.T) {
		bare := newStack(t, stackOptions{noStore: true})
		var e errorBody
		if code := call(t, "POST", bare.http.URL+"/api/automations/whatif", `{"yaml":"a"}`, &e); code != 503 {
			t.Fatalf("%d %+v", code, e)
		}
	})
}
