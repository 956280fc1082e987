package automations

import (
	"strings"
	"testing"
	"time"
)

func TestALoopIsStopped(t *testing.T) {
	cases := []struct {
		name    string
		content string
		start   string // the topic that starts it
		who     []string
	}{
		{
			name: "an automation that triggers itself",
			content: `
- id: echo
  mode: parallel
  triggers: [{mqtt: "chat/#"}]
  actions: [{publish: chat/echo, payload: "again"}]
`,
			start: "chat/hello",
			who:   []string{"echo"},
		},
		{
			name: "two automations that trigger each other",
			content: `
- id: ping
  triggers: [{mqtt: ping}]
  actions: [{publish: pong, payload: "1"}]
- id: pong
  triggers: [{mqtt: pong}]
  actions: [{publish: ping, payload: "1"}]
`,
			start: "ping",
			who:   []string{"ping", "pong"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := liveStart(t, tc.content, nil)
			l.message(tc.start, "go")
			if n := len(l.commands()); n != 8 {
				t.Errorf("%d commands before the loop was stopped, want 8 (MaxChain): %q", n, l.commands())
			}
			stopped := 0
			for _, id := range tc.who {
				for _, tr := range l.traces(id) {
					if tr.Outcome == "stopped: loop" {
						stopped++
						if !strings.Contains(tr.Error, strings.Join(append(tc.who, tc.who...)[:2], " → ")) && len(tc.who) > 1 {
							t.Errorf("the trace does not name the chain: %s", tr.Error)
						}
					}
				}
			}
			if stopped != 1 {
				t.Errorf("%d traces stopped: loop, want 1", stopped)
			}
		})
	}
}

func TestAStormPausesTheAutomationForItsWindow(t *testing.T) {
	l := liveStart(t, `
- id: flappy
  mode: parallel
  triggers: [{device: light}]
  actions: [{publish: seen, payload: "{{ trigger.state.n }}"}]
`, func(o *Options) { o.StormRuns, o.StormWindow = 3, 10*time.Second })
	for i := range 6 {
		l.state("light", `{"n":`+string(rune('0'+i))+`}`)
	}
	l.advance(11 * time.Second)
	l.state("light", `{"n":9}`)
	want(t, "commands", l.commands(), []string{"20:00:00 seen 0 flappy#1", "20:00:00 seen 1 flappy#2", "20:00:00 seen 2 flappy#3", "20:00:11 seen 9 flappy#4"})
	storms := 0
	for _, tr := range l.traces("flappy") {
		if tr.Outcome == "stopped: storm" {
			storms++
		}
	}
	if storms != 1 {
		t.Errorf("%d storm traces, want 1", storms)
	}
}
