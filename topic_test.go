package hearth

import (
	"strings"
	"testing"
)

func TestMatchTopic(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"home/lamp", "home/lamp", true},
		{"home/lamp", "home/lamp/set", false},
		{"home/+", "home/lamp", true},
		{"home/+", "home/lamp/set", false},
		{"home/+/set", "home/lamp/set", true},
		{"home/#", "home", true},
		{"home/#", "home/lamp/set", true},
		{"#", "home/lamp", true},
		{"#", "$SYS/broker/uptime", false},
		{"+/lamp", "$SYS/lamp", false},
		{"$SYS/#", "$SYS/broker/uptime", true},
		{"home/+", "home/", true},
		{"+", "/lamp", false},
		{"+/+", "/lamp", true},
		{"home", "house", false},
	} {
		if got := MatchTopic(tc.filter, tc.topic); got != tc.want {
			t.Errorf("MatchTopic(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func TestFilterProblemAndTopicProblem(t *testing.T) {
	cases := []struct {
		name   string
		s      string
		filter string // what FilterProblem says, "" for well formed
		topic  string // what TopicProblem says
	}{
		{"a plain topic is both", "home/hall/set", "", ""},
		{"+ alone in a level is a filter, not a topic", "home/+/set", "", "has a wildcard"},
		{"# at the end is a filter", "home/#", "", "has a wildcard"},
		{"# alone is a filter", "#", "", "has a wildcard"},
		{"+ at every level is a filter", "+/lamp/+", "", "has a wildcard"},
		{"# before the end is neither", "home/#/x", "before its last level", "has a wildcard"},
		{"# inside a level is neither", "home/a#", "inside a level", "has a wildcard"},
		{"+ inside a level is neither", "home/a+", "inside a level", "has a wildcard"},
		{"empty is neither", "", "is empty", "is empty"},
		{"a NUL is neither", "a\x00b", "NUL", "NUL"},
		{"invalid UTF-8 is neither", "a\xffb", "UTF-8", "UTF-8"},
		{"too long is neither", strings.Repeat("a", maxTopic+1), "longer", "longer"},
		{"$SYS is a filter, not a topic to publish to", "$SYS/broker/uptime", "", "under $SYS"},
		{"$SYS in any case", "$sys/x", "", "under $SYS"},
		{"another $ topic is both", "$hearth/x", "", ""},
		{"$share names subscriptions, not topics", "$share/group/home/x", "", "under $share"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := FilterProblem(tc.s); (tc.filter == "") != (got == "") || !strings.Contains(got, tc.filter) {
				t.Errorf("FilterProblem says %q, want %q", got, tc.filter)
			}
			if got := TopicProblem(tc.s); (tc.topic == "") != (got == "") || !strings.Contains(got, tc.topic) {
				t.Errorf("TopicProblem says %q, want %q", got, tc.topic)
			}
		})
	}
}

// matchLevels is topic matching as MQTT 4.7 words it, level by level, to
// check MatchTopic against: "+" is any one level, "#" the level above it
// (when there is one) and any number of levels below.
func matchLevels(filter, topic []string) bool {
	switch {
	case len(filter) == 0:
		return len(topic) == 0
	case filter[0] == "#":
		return true // also when the topic has no level left: "a/#" matches "a"
	case len(topic) == 0:
		return false
	case filter[0] != "+" && filter[0] != topic[0]:
		return false
	}
	return matchLevels(filter[1:], topic[1:])
}

// FuzzMatchTopic checks MatchTopic on any well-formed filter and topic
// against the reference above, with MQTT's rule that a filter starting with
// a wildcard does not match a topic starting with "$". The automations'
// trie is checked against MatchTopic in turn (FuzzTopicTrie).
func FuzzMatchTopic(f *testing.F) {
	for _, s := range [][2]string{
		{"home/+", "home/lamp"}, {"home/#", "home"}, {"#", "$SYS/x"}, {"+/+", "/x"}, {"a/+/#", "a/b"},
		{"$SYS/#", "$SYS"}, {"+", ""}, {"a//b", "a//b"}, {"/#", "/"}, {"home/+/set", "home//set"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		got := MatchTopic(filter, topic) // any input: no panic
		if FilterProblem(filter) != "" || textProblem(topic) != "" || strings.ContainsAny(topic, "+#") {
			return // $SYS topics are matched too, though nobody but the broker publishes them
		}
		want := matchLevels(strings.Split(filter, "/"), strings.Split(topic, "/"))
		if strings.HasPrefix(topic, "$") && strings.ContainsAny(filter[:1], "+#") {
			want = false
		}
		if got != want {
			t.Fatalf("MatchTopic(%q, %q) = %v, want %v", filter, topic, got, want)
		}
	})
}
