package broker

import "testing"

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
		if got := matchTopic(tc.filter, tc.topic); got != tc.want {
			t.Errorf("matchTopic(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func TestValidFilter(t *testing.T) {
	for _, tc := range []struct {
		filter string
		want   bool
	}{
		{"home/#", true},
		{"#", true},
		{"+/lamp/+", true},
		{"home/lamp", true},
		{"", false},
		{"home/#/set", false},
		{"home/la#", false},
		{"home/la+", false},
		{"a\x00b", false},
	} {
		if got := validFilter(tc.filter); got != tc.want {
			t.Errorf("validFilter(%q) = %v, want %v", tc.filter, got, tc.want)
		}
	}
}
