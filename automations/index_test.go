package automations

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"hearth"
)

func TestTopicTrieMatchesFiltersAsMQTTDoes(t *testing.T) {
	filters := []string{
		"home/hall/button",
		"home/+/button",
		"home/#",
		"#",
		"+/+",
		"home/+",
		"home/hall/#",
		"+/hall/+",
		"/leading",
		"trailing/",
		"$SYS/#",
		"$SYS/broker/+",
		"a//b",
		"a/+/b",
	}
	cases := []struct {
		name  string
		topic string
		want  []string
	}{
		{"an exact topic matches its filter and the wildcards over it", "home/hall/button",
			[]string{"home/hall/button", "home/+/button", "home/#", "#", "home/hall/#", "+/hall/+"}},
		{"+ matches one level only", "home/kitchen/button",
			[]string{"home/+/button", "home/#", "#"}},
		{"a filter ending in /# matches its parent level", "home/hall",
			[]string{"home/#", "#", "+/+", "home/+", "home/hall/#"}},
		{"+ does not match across levels", "home/hall/button/extra",
			[]string{"home/#", "#", "home/hall/#"}},
		{"a leading slash makes an empty first level", "/leading",
			[]string{"#", "+/+", "/leading"}},
		{"a trailing slash makes an empty last level", "trailing/",
			[]string{"#", "+/+", "trailing/"}},
		{"an empty level is matched by + and by itself", "a//b",
			[]string{"#", "a//b", "a/+/b"}},
		{"wildcards at the first level do not match $ topics", "$SYS/broker/uptime",
			[]string{"$SYS/#", "$SYS/broker/+"}},
		{"a topic nobody filters matches only #", "garden/soil",
			[]string{"#", "+/+"}},
	}
	var trie topicTrie[string]
	for _, f := range filters {
		if why := hearth.FilterProblem(f); why != "" {
			t.Fatalf("filter %q: %s", f, why)
		}
		trie.insert(f, f)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := trie.match(tc.topic, nil)
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s matched %v, want %v", tc.topic, got, want)
			}
		})
	}
}

func TestEmptyTopicTrieMatchesNothing(t *testing.T) {
	var trie topicTrie[int]
	if got := trie.match("a/b", nil); len(got) != 0 {
		t.Errorf("got %v", got)
	}
}

// manyAutomations writes n automations motion_i -> light_i, each with a
// `when` and a condition over lux_i, plus button_i mqtt triggers.
func manyAutomations(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `- id: light_%d
  mode: parallel
  triggers:
    - device: motion_%d
      when: occupancy == true
    - mqtt: home/button_%d/action
  conditions:
    - states.lux_%d.illuminance < 30
  actions:
    - set: light_%d
      state: {state: "ON"}
`, i, i, i, i, i)
	}
	b.WriteString("- id: any_button\n  mode: parallel\n  triggers: [{mqtt: home/+/action}]\n  actions: [{publish: log/button, payload: pressed}]\n")
	return b.String()
}

func TestTheIndexEvaluatesOnlyTheTriggersOfTheEventsDeviceOrTopic(t *testing.T) {
	f := start(t, manyAutomations(100))
	before := f.e.scope.evaluated
	f.e.Handle(f.house.set("motion_42", `{"occupancy":true}`))
	if got := f.e.scope.evaluated - before; got != 1 {
		t.Errorf("a state event of motion_42 evaluated %d triggers, want 1", got)
	}
	before = f.e.scope.evaluated
	f.e.Handle(f.house.message("home/button_7/action", `{"action":"single"}`))
	if got := f.e.scope.evaluated - before; got != 2 {
		t.Errorf("a message on home/button_7/action evaluated %d triggers, want 2 (its own and home/+/action)", got)
	}
	before = f.e.scope.evaluated
	f.e.Handle(f.house.set("thermometer", `{"temperature":21}`))
	if got := f.e.scope.evaluated - before; got != 0 {
		t.Errorf("a state event of a device no automation names evaluated %d triggers, want 0", got)
	}
}
