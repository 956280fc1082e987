package automations

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"hearth"
)

// recordingNotifier logs each notification on the bus, as notify.Notifier
// does, and keeps what it was given; fail makes it refuse instead.
type recordingNotifier struct {
	bus  *hearth.Bus
	mu   sync.Mutex
	got  []hearth.Notification
	fail error
}

func (r *recordingNotifier) Notify(ctx context.Context, n hearth.Notification) (hearth.Event, error) {
	r.mu.Lock()
	r.got = append(r.got, n)
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		return hearth.Event{}, fail
	}
	return r.bus.Publish(hearth.Event{Kind: hearth.KindNotification, Topic: "$hearth/notify", Payload: []byte(`{}`), Cause: n.Cause})
}

func (r *recordingNotifier) all() []hearth.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func TestNotifyActionLoadProblems(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []problem
	}{
		{
			name: "an unknown channel is a problem when the channels are known",
			yaml: "- id: n\n  triggers: [{device: d}]\n  actions:\n    - notify: {message: hi, channels: [page, pager]}\n",
			want: []problem{{4, 46, "n", `unknown channel "pager" (channels: page, phone)`}},
		},
		{
			name: "a priority that does not exist",
			yaml: "- id: n\n  triggers: [{device: d}]\n  actions:\n    - notify: {message: hi, priority: loud}\n",
			want: []problem{{4, 39, "n", `priority must be low, normal, high or urgent, got "loud"`}},
		},
		{
			name: "a notification with neither title nor message",
			yaml: "- id: n\n  triggers: [{device: d}]\n  actions:\n    - notify: {priority: high}\n",
			want: []problem{{4, 15, "n", "notify needs a message (or a title)"}},
		},
		{
			name: "an unknown key and a template that does not compile",
			yaml: "- id: n\n  triggers: [{device: d}]\n  actions:\n    - notify: {message: \"{{ trigger.nope }}\", colour: red}\n",
			want: []problem{{4, 25, "n", "trigger has no field nope"}, {4, 47, "n", `unknown key "colour" in notify`}},
		},
		{
			name: "a notify that is a number",
			yaml: "- id: n\n  triggers: [{device: d}]\n  actions:\n    - notify: 12\n",
			want: []problem{{4, 15, "n", "notify must be a message (a string) or a map"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadOptions{Channels: []string{"page", "phone"}}.LoadBytes("f.yaml", []byte(tc.yaml))
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want a *LoadError", err)
			}
			if len(le.Problems) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(le.Problems), len(tc.want), err)
			}
			for i, w := range tc.want {
				p := le.Problems[i]
				if p.Line != w.line || p.Column != w.col || p.Automation != w.automation || !strings.Contains(p.Msg, w.msg) {
					t.Errorf("problem %d is\n  %s\nwant\n  f.yaml:%d:%d: automation %s: ...%s...", i+1, p, w.line, w.col, w.automation, w.msg)
				}
			}
		})
	}

	t.Run("any channel passes when the channels are not known", func(t *testing.T) {
		if _, err := LoadBytes("f.yaml", []byte("- id: n\n  triggers: [{device: d}]\n  actions: [{notify: {message: hi, channels: pager}}]\n")); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNotifyActionSendsTheRenderedNotification(t *testing.T) {
	const file = `
- id: hot
  triggers: [{device: living, when: temperature > 25}]
  actions:
    - notify:
        title: "Hot in {{ trigger.device }}"
        message: "It is {{ trigger.state.temperature }}°C"
        priority: high
        channels: [phone, page]
    - notify: "short form, {{ trigger.state.temperature }}"
    - set: fan
      state: {state: "ON"}
`
	rec := &recordingNotifier{}
	l := liveStart(t, "", func(o *Options) { o.Notifier = rec; o.Channels = []string{"page", "phone"} })
	rec.bus = l.bus
	set, err := l.e.LoadBytes("f.yaml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	l.e.Replace(set)
	trig := l.state("living", `{"temperature": 27}`)

	got := rec.all()
	if len(got) != 2 {
		t.Fatalf("notifications: %+v", got)
	}
	first := hearth.Notification{Title: "Hot in living", Message: "It is 27°C", Priority: hearth.PriorityHigh, Channels: []string{"phone", "page"},
		Automation: "hot", Cause: hearth.Cause{Seq: trig.Seq, Run: "hot#1", Source: "automation"}}
	if g := got[0]; g.Title != first.Title || g.Message != first.Message || g.Priority != first.Priority || !slices.Equal(g.Channels, first.Channels) || g.Automation != first.Automation || g.Cause != first.Cause {
		t.Errorf("first notification:\n got  %+v\n want %+v", g, first)
	}
	if g := got[1]; g.Message != "short form, 27" || g.Title != "" || g.Priority != hearth.PriorityNormal || len(g.Channels) != 0 {
		t.Errorf("short form: %+v", g)
	}
	want(t, "commands", l.commands(), []string{"20:00:00 home/fan/set {\"state\":\"ON\"} hot#1"})

	tr := l.traces("hot")[0]
	var steps []hearth.TraceStep
	for _, s := range tr.Steps {
		if strings.HasPrefix(s.Text, "notify") {
			steps = append(steps, s)
		}
	}
	if len(steps) != 2 || steps[0].Text != "notify phone, page: Hot in living: It is 27°C" || steps[0].Result != "sent" || steps[0].Seq == 0 {
		t.Fatalf("notify steps: %+v", steps)
	}
	var logged hearth.Event
	for _, ev := range l.log.all() {
		if ev.Seq == steps[0].Seq {
			logged = ev
		}
	}
	if logged.Kind != hearth.KindNotification || logged.Cause.Run != "hot#1" {
		t.Errorf("the trace step's seq %d points at %+v", steps[0].Seq, logged)
	}
}

func TestNotifyActionNeverEndsTheRun(t *testing.T) {
	cases := []struct {
		name     string
		notifier func(*hearth.Bus) Notifier
		result   string
		errText  string
	}{
		{"a notifier that refuses is traced as failed", func(b *hearth.Bus) Notifier {
			return &recordingNotifier{bus: b, fail: errors.New("notify: the bus is closed")}
		}, "failed", "the bus is closed"},
		{"without a notifier the notification is traced as not sent", func(*hearth.Bus) Notifier { return nil }, "not sent", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := liveStart(t, "", nil)
			l.e.notifier = tc.notifier(l.bus)
			set, err := l.e.LoadBytes("f.yaml", []byte("- id: n\n  triggers: [{mqtt: door}]\n  actions:\n    - notify: \"door {{ trigger.payload }}\"\n    - set: lamp\n      state: {state: \"ON\"}\n"))
			if err != nil {
				t.Fatal(err)
			}
			l.e.Replace(set)
			l.message("door", "open")
			want(t, "commands", l.commands(), []string{"20:00:00 home/lamp/set {\"state\":\"ON\"} n#1"})
			tr := l.traces("n")[0]
			if tr.Outcome != "done" {
				t.Errorf("outcome %q", tr.Outcome)
			}
			i := slices.IndexFunc(tr.Steps, func(s hearth.TraceStep) bool { return s.Text == "notify: door open" })
			if i < 0 || tr.Steps[i].Result != tc.result || !strings.Contains(tr.Steps[i].Error, tc.errText) {
				t.Errorf("steps: %+v", tr.Steps)
			}
		})
	}
}
