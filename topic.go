package hearth

import (
	"strings"
	"unicode/utf8"
)

// MQTT's topic rules (MQTT 3.1.1 and 5, section 4.7), in one place for the
// broker (ACLs, bridges, the remote mode's subscriptions) and the
// automations (mqtt triggers, publish actions).

// maxTopic is the longest topic MQTT can carry.
const maxTopic = 65535

// MatchTopic reports whether topic matches the MQTT topic filter: "+"
// matches one level, a trailing "#" matches the level above it and
// everything below, and a filter starting with a wildcard does not match a
// topic starting with "$" (such as $SYS).
func MatchTopic(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			return frest == "#" // "a/#" matches "a"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}

// FilterProblem says what is wrong with an MQTT topic filter, in words to
// put after the filter in an error, or "" when it is well formed.
func FilterProblem(f string) string {
	if why := textProblem(f); why != "" {
		return why
	}
	levels := strings.Split(f, "/")
	for i, level := range levels {
		switch {
		case level == "#" && i != len(levels)-1:
			return "has # before its last level (# matches everything below, so it comes last)"
		case level != "#" && strings.Contains(level, "#"):
			return "has # inside a level (it must stand alone: a/#)"
		case level != "+" && strings.Contains(level, "+"):
			return "has + inside a level (it must stand alone: a/+/b)"
		}
	}
	return ""
}

// TopicProblem says what is wrong with a topic to publish to, in words to
// put after the topic in an error, or "" when it is well formed.
func TopicProblem(t string) string {
	if why := textProblem(t); why != "" {
		return why
	}
	if strings.ContainsAny(t, "+#") {
		return "has a wildcard (+ or #); one can only publish to a plain topic"
	}
	// MQTT reserves $SYS for the broker's own figures; the broker refuses
	// a publish there from anyone else, in any case of the letters.
	if len(t) >= len(sysPrefix) && strings.EqualFold(t[:len(sysPrefix)], sysPrefix) {
		return "is under $SYS, where only the broker publishes"
	}
	if first, _, _ := strings.Cut(t, "/"); strings.EqualFold(first, sharePrefix) {
		return "is under $share, which names shared subscriptions, not topics"
	}
	return ""
}

const (
	sysPrefix   = "$SYS"
	sharePrefix = "$share"
)

// textProblem checks what filters and topics share: MQTT's UTF-8 string.
func textProblem(t string) string {
	switch {
	case t == "":
		return "is empty"
	case len(t) > maxTopic:
		return "is longer than MQTT allows"
	case !utf8.ValidString(t):
		return "is not valid UTF-8"
	case strings.ContainsRune(t, 0):
		return "holds a NUL character"
	}
	return ""
}
