package automations

import (
	"slices"
	"strings"
	"testing"
)

// matchLevels is topic matching as MQTT 4.7 words it, level by level, to
// check the trie against: "+" is any one level, "#" the level above it
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

// FuzzTopicTrie puts up to eight filters (one a line) in a trie and matches
// a topic: the trie must find exactly the filters the reference matches, as
// many times as each was inserted, with MQTT's rule that a filter starting
// with a wildcard does not match a topic starting with "$".
func FuzzTopicTrie(f *testing.F) {
	f.Add("home/+/button\nhome/#\n#\n+/+", "home/hall/button")
	f.Add("a/#\na/+/#\n+/#\na", "a")
	f.Add("$SYS/#\n#\n+/x", "$SYS/x")
	f.Add("/+\n+/\n+/+\n//", "/")
	f.Add("home/+\nhome/+", "home/")
	f.Fuzz(func(t *testing.T, filters, topic string) {
		var trie topicTrie[int]
		var inserted []string
		for i, fl := range strings.SplitN(filters, "\n", 8) {
			if validFilter(fl) != "" {
				continue
			}
			trie.insert(fl, i)
			inserted = append(inserted, fl)
		}
		got := trie.match(topic, nil) // any topic: no panic
		if validTopic(topic) != "" {
			return
		}
		var want []int
		for i, fl := range strings.SplitN(filters, "\n", 8) {
			if validFilter(fl) != "" {
				continue
			}
			if strings.HasPrefix(topic, "$") && (fl[0] == '+' || fl[0] == '#') {
				continue
			}
			if matchLevels(strings.Split(fl, "/"), strings.Split(topic, "/")) {
				want = append(want, i)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("filters %q, topic %q: the trie matched %v, want %v", inserted, topic, got, want)
		}
	})
}
