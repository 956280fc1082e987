package automations

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"hearth"
)

// webAutomations is web.Automations, copied: automations does not import
// web, and *Engine must satisfy it.
type webAutomations interface {
	List(ctx context.Context) (hearth.AutomationList, error)
	Get(ctx context.Context, id string) (hearth.AutomationInfo, error)
	Enable(ctx context.Context, id string) error
	Disable(ctx context.Context, id string) error
	Run(ctx context.Context, id string) (string, error)
	Traces(ctx context.Context, id string, limit int) ([]hearth.Trace, error)
}

var _ webAutomations = (*Engine)(nil)

func TestEveryRunIsTracedThroughTheEventLog(t *testing.T) {
	l := liveStart(t, `
- id: hall
  description: Hall light
  triggers: [{device: motion, when: "occupancy == true"}]
  conditions: ["states.lux.illuminance < 30"]
  actions:
    - set: hall_light
      state: {state: "ON"}
    - delay: 1m
    - if: "states.lux.illuminance > 100"
      then: [{stop: "bright"}]
`, nil)
	l.state("lux", `{"illuminance":10}`)
	ev := l.state("motion", `{"occupancy":true}`)
	l.advance(time.Minute)

	var runs []hearth.Event
	for _, e := range l.log.all() {
		if e.Kind == hearth.KindRun {
			runs = append(runs, e)
		}
	}
	if len(runs) != 1 || runs[0].Topic != "$hearth/automations/hall" || runs[0].Cause != (hearth.Cause{Seq: ev.Seq, Run: "hall#1", Source: "automation"}) {
		t.Fatalf("run events: %+v", runs)
	}
	var tr hearth.Trace
	if err := json.Unmarshal(runs[0].Payload, &tr); err != nil {
		t.Fatal(err)
	}
	trs := l.traces("hall")
	if len(trs) != 1 || trs[0].Run != tr.Run {
		t.Fatalf("Traces: %+v", trs)
	}
	var cmdSeq uint64
	for _, e := range l.log.all() {
		if e.Kind == hearth.KindCommand {
			cmdSeq = e.Seq
		}
	}
	wantSteps := []hearth.TraceStep{
		{Kind: "trigger", Text: "device motion when occupancy == true", Result: "fired"},
		{Kind: "condition", Text: "states.lux.illuminance < 30", Result: "true"},
		{Kind: "command", Text: `set hall_light {"state":"ON"}`, Result: "sent", Seq: cmdSeq},
		{Kind: "action", Text: "delay 1m", Result: "done"},
		{Kind: "condition", Text: "if states.lux.illuminance > 100", Result: "false"},
	}
	if tr.Outcome != "done" || tr.Automation != "hall" || tr.Trigger != ev.Seq || len(tr.Steps) != len(wantSteps) {
		t.Fatalf("trace %+v", tr)
	}
	for i, w := range wantSteps {
		s := tr.Steps[i]
		if s.Kind != w.Kind || s.Text != w.Text || s.Result != w.Result || s.Seq != w.Seq {
			t.Errorf("step %d: %+v, want %+v", i, s, w)
		}
	}
	if v := tr.Steps[4].Values["states.lux.illuminance"]; v != 10.0 {
		t.Errorf("the false condition's step saw %v, want 10", v)
	}
	info, _ := l.e.Get(context.Background(), "hall")
	if info.LastRun == nil || info.LastRun.Run != "hall#1" || info.LastRun.Outcome != "done" || info.Latency == nil || info.Latency.Count != 1 {
		t.Errorf("info %+v, last run %+v", info, info.LastRun)
	}
}

func TestRunNowSkipsTriggersAndConditionsAndNamesTheWeb(t *testing.T) {
	l := liveStart(t, `
- id: manual
  triggers: [{device: never}]
  conditions: ["false"]
  actions: [{publish: out, payload: "{{ trigger.kind }}"}, {delay: 1m}]
`, nil)
	run, err := l.e.Run(context.Background(), "manual")
	if err != nil || run != "manual#1" {
		t.Fatalf("Run: %q, %v", run, err)
	}
	l.settle()
	if _, err := l.e.Run(context.Background(), "manual"); err == nil {
		t.Error("a second run of a single automation that is running was accepted")
	}
	if trs := l.traces("manual"); len(trs) != 1 || trs[0].Outcome != "running" {
		t.Errorf("the running run's trace: %+v", trs)
	}
	l.advance(time.Minute)
	for _, e := range l.log.all() {
		if e.Kind == hearth.KindCommand && (e.Cause.Source != "web" || e.Cause.Run != "manual#1" || string(e.Payload) != "run") {
			t.Errorf("command %+v", e)
		}
	}
	if _, err := l.e.Run(context.Background(), "nope"); !errors.Is(err, hearth.ErrNoAutomation) {
		t.Errorf("Run of an unknown id: %v", err)
	}
	for _, err := range []error{
		l.e.Enable(context.Background(), "nope"), l.e.Disable(context.Background(), "nope"),
		func() error { _, err := l.e.Get(context.Background(), "nope"); return err }(),
		func() error { _, err := l.e.Traces(context.Background(), "nope", 1); return err }(),
	} {
		if !errors.Is(err, hearth.ErrNoAutomation) {
			t.Errorf("an unknown id gave %v", err)
		}
	}
}

func TestLatencyIsSummarisedFromAHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 100; i++ {
		h.record(time.Duration(i) * 100 * time.Microsecond)
	}
	s := h.summary()
	if s.Count != 100 || s.Max != 10*time.Millisecond {
		t.Fatalf("summary %+v", s)
	}
	near := func(got, want time.Duration) bool { return got >= want && float64(got) <= float64(want)*1.25 }
	if !near(s.P50, 5*time.Millisecond) || !near(s.P90, 9*time.Millisecond) || !near(s.P99, 9900*time.Microsecond) {
		t.Errorf("percentiles %v %v %v, want about 5ms, 9ms, 9.9ms", s.P50, s.P90, s.P99)
	}
	if (&histogram{}).summary() != nil {
		t.Error("an empty histogram has a summary")
	}
}

func TestRunOutcomesCountFinishedRuns(t *testing.T) {
	l := liveStart(t, `
- id: lamp
  triggers: [{mqtt: home/button}]
  conditions: ["states.lux.illuminance < 30"]
  actions: [{set: lamp, state: {state: "ON"}}]
`, nil)
	l.state("lux", `{"illuminance":10}`)
	l.message("home/button", `{}`)
	l.message("home/button", `{}`)
	l.settle()
	if got := l.e.RunOutcomes(); got["done"] != 2 || len(got) != 1 {
		t.Fatalf("run outcomes %v, want 2 done", got)
	}
}
