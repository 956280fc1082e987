package automations

import (
	"strings"
)

// index finds the triggers an event concerns without looking at the others:
// device triggers by device id, mqtt triggers in a trie of topic filters.
// Time triggers and start triggers are listed for the scheduler and Resume.
type index struct {
	devices map[string][]*deviceTrigger
	topics  topicTrie[*mqttTrigger]
	timed   []timedTrigger
	started []*eventTrigger
}

func newIndex() index {
	return index{devices: map[string][]*deviceTrigger{}}
}

// topicTrie holds values under MQTT topic filters, one trie level per topic
// level, and finds those whose filter matches a topic in time proportional to
// the topic's depth (times the wildcard branches), not the number of filters.
type topicTrie[T any] struct {
	root trieNode[T]
	size int
}

type trieNode[T any] struct {
	children map[string]*trieNode[T]
	plus     *trieNode[T] // the "+" level
	hash     []T          // values whose filter ends with "#" below this node
	values   []T          // values whose filter ends at this node
}

// insert adds v under filter, which must be well formed (hearth.FilterProblem).
func (t *topicTrie[T]) insert(filter string, v T) {
	n := &t.root
	for level := range strings.SplitSeq(filter, "/") {
		switch level {
		case "#":
			n.hash = append(n.hash, v)
			t.size++
			return
		case "+":
			if n.plus == nil {
				n.plus = &trieNode[T]{}
			}
			n = n.plus
		default:
			c := n.children[level]
			if c == nil {
				if n.children == nil {
					n.children = map[string]*trieNode[T]{}
				}
				c = &trieNode[T]{}
				n.children[level] = c
			}
			n = c
		}
	}
	n.values = append(n.values, v)
	t.size++
}

// match appends to dst the values of every filter matching topic. As MQTT
// says, wildcards at the first level do not match topics starting with "$",
// and "a/#" matches "a" itself.
func (t *topicTrie[T]) match(topic string, dst []T) []T {
	if t.size == 0 {
		return dst
	}
	return t.root.match(topic, false, strings.HasPrefix(topic, "$"), dst)
}

// match matches the levels left in rest (none if end) below n; noWild is
// set at the first level of a "$" topic.
func (n *trieNode[T]) match(rest string, end, noWild bool, dst []T) []T {
	if !noWild {
		dst = append(dst, n.hash...)
	}
	if end {
		return append(dst, n.values...)
	}
	level, rest, more := strings.Cut(rest, "/")
	if c := n.children[level]; c != nil {
		dst = c.match(rest, !more, false, dst)
	}
	if n.plus != nil && !noWild {
		dst = n.plus.match(rest, !more, false, dst)
	}
	return dst
}
