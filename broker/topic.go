package broker

import "strings"

// matchTopic reports whether topic matches the MQTT topic filter (MQTT
// 4.7): "+" matches one level, a trailing "#" matches the level above it and
// everything below, and a filter starting with a wildcard does not match a
// topic starting with "$" (such as $SYS).
func matchTopic(filter, topic string) bool {
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

// validFilter reports whether f is a well-formed topic filter: not empty,
// "#" only as the whole last level, "+" only as a whole level.
func validFilter(f string) bool {
	if f == "" || strings.ContainsRune(f, 0) {
		return false
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return false
		case l != "#" && l != "+" && strings.ContainsAny(l, "#+"):
			return false
		}
	}
	return true
}
