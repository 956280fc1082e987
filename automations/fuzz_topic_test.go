package automations

import (
	"slices"
	"strings"
	"testing"

	"hearth"
)

// FuzzTopicTrie puts up to eight filters (one a line) in a trie and matches
// a topic: the trie must find exactly the filters hearth.MatchTopic matches
// (itself fuzzed against MQTT's wording, FuzzMatchTopic), as many times as
// each was inserted.
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
			if hearth.FilterProblem(fl) != "" {
				continue
			}
			trie.insert(fl, i)
			inserted = append(inserted, fl)
		}
		got := trie.match(topic, nil) // any topic: no panic
		if hearth.TopicProblem(topic) != "" {
			return
		}
		var want []int
		for i, fl := range strings.SplitN(filters, "\n", 8) {
			if hearth.FilterProblem(fl) != "" {
				continue
			}
			if hearth.MatchTopic(fl, topic) {
				want = append(want, i)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("filters %q, topic %q: the trie matched %v, want %v", inserted, topic, got, want)
		}
	})
}
