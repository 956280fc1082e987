package broker

import (
	"strings"
	"testing"
)

// refMatch is topic matching as MQTT 4.7 words it, level by level, to check
// matchTopic against: "+" is any one level, "#" the level above it (when
// there is one) and any number of levels below.
func refMatch(filter, topic []string) bool {
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
	return refMatch(filter[1:], topic[1:])
}

// validTopic reports whether t can be a PUBLISH topic name.
func validTopic(t string) bool {
	return t != "" && !strings.ContainsAny(t, "+#\x00")
}

// FuzzMatchTopic checks matchTopic on any well-formed filter and topic name
// against the reference above, with MQTT's rule that a filter starting with
// a wildcard does not match a topic starting with "$".
func FuzzMatchTopic(f *testing.F) {
	for _, s := range [][2]string{
		{"home/+", "home/lamp"}, {"home/#", "home"}, {"#", "$SYS/x"}, {"+/+", "/x"}, {"a/+/#", "a/b"},
		{"$SYS/#", "$SYS"}, {"+", ""}, {"a//b", "a//b"}, {"/#", "/"}, {"home/+/set", "home//set"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		got := matchTopic(filter, topic) // any input: no panic
		if !validFilter(filter) || !validTopic(topic) {
			return
		}
		want := refMatch(strings.Split(filter, "/"), strings.Split(topic, "/"))
		if strings.HasPrefix(topic, "$") && strings.ContainsAny(filter[:1], "+#") {
			want = false
		}
		if got != want {
			t.Fatalf("matchTopic(%q, %q) = %v, want %v", filter, topic, got, want)
		}
	})
}
