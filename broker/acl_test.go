package broker

import (
	"strings"
	"testing"

	"hearth"
)

func mustACL(t testing.TB, rules ...string) acl {
	t.Helper()
	var rs []Rule
	for _, s := range rules {
		r, err := ParseRule(s)
		if err != nil {
			t.Fatalf("ParseRule(%q): %v", s, err)
		}
		rs = append(rs, r)
	}
	a, err := compileACL(rs)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDecide(t *testing.T) {
	device := mustACL(t, "write:home/%u", "readwrite:home/%u/#", "deny:home/%u/secret")
	dashboard := mustACL(t, "read:home/#", "read:$SYS/#")
	byClient := mustACL(t, "write:home/%c/availability")
	lamp := who{user: "lamp", client: "lamp-1"}
	for _, tc := range []struct {
		name  string
		rules acl
		who   who
		f     string
		write bool
		want  bool
	}{
		{"a device may write its own state", device, lamp, "home/lamp", true, true},
		{"a device may write below its own topic", device, lamp, "home/lamp/availability", true, true},
		{"a device may not write another device's state", device, lamp, "home/door", true, false},
		{"a device may not read another device's state", device, lamp, "home/door", false, false},
		{"a device may read its commands", device, lamp, "home/lamp/set", false, true},
		{"a device may subscribe to everything below its own topic", device, lamp, "home/lamp/#", false, true},
		{"a device may not subscribe with a wildcard where its name goes", device, lamp, "home/+/set", false, false},
		{"a device may not subscribe to everything", device, lamp, "#", false, false},
		{"a deny rule wins over one that allows", device, lamp, "home/lamp/secret", true, false},
		{"a deny rule covering a subscription refuses it", device, lamp, "home/lamp/secret", false, false},
		{"a deny rule inside a subscription leaves it allowed (delivery is checked per message)", device, lamp, "home/lamp/+", false, true},
		{"a write rule does not let a device read", mustACL(t, "write:home/%u"), lamp, "home/lamp", false, false},
		{"a rule's # covers the level above it", device, lamp, "home/lamp", false, true},
		{"a dashboard may read everything under home", dashboard, lamp, "home/lamp", false, true},
		{"a dashboard may subscribe to home/#", dashboard, lamp, "home/#", false, true},
		{"a dashboard may not subscribe to #, which is wider than home/#", dashboard, lamp, "#", false, false},
		{"a dashboard may not write", dashboard, lamp, "home/lamp/set", true, false},
		{"a pattern starting with a wildcard does not reach $SYS", mustACL(t, "read:#"), lamp, "$SYS/broker/uptime", false, false},
		{"$SYS is reached by a rule naming it", dashboard, lamp, "$SYS/broker/uptime", false, true},
		{"%c stands for the client id", byClient, lamp, "home/lamp-1/availability", true, true},
		{"%c does not stand for the user name", byClient, lamp, "home/lamp/availability", true, false},
		{"a user name holding a slash never satisfies an allowing rule", device, who{user: "lamp/x", client: "c"}, "home/lamp/x", true, false},
		{"a user name holding a wildcard never satisfies an allowing rule", device, who{user: "+", client: "c"}, "home/+", true, false},
		{"an empty user name never satisfies an allowing rule", device, who{client: "c"}, "home/", true, false},
		{"a client id that cannot be substituted still meets a deny rule", mustACL(t, "readwrite:home/#", "deny:home/%c/#"), who{user: "u", client: "a/b"}, "home/x/y", true, false},
		{"no rule: nothing is allowed", nil, lamp, "home/lamp", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decide(tc.who, tc.f, tc.write, tc.rules); got != tc.want {
				t.Fatalf("decide(%+v, %q, write=%v) = %v, want %v", tc.who, tc.f, tc.write, got, tc.want)
			}
		})
	}
}

func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{"read:home/#", ""},
		{"readwrite:home/%u/#", ""},
		{"deny:home/lock:front", ""}, // a colon after the first belongs to the pattern
		{"home/#", "want access:pattern"},
		{"rw:home/#", "want read, write, readwrite or deny"},
		{"read:home/#/x", "not a topic filter"},
		{"read:home/x%u", "stand alone as a level"},
		{"read:", "not a topic filter"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseRule(tc.in)
			if tc.err == "" {
				if err != nil || r.String() != tc.in {
					t.Fatalf("ParseRule(%q) = %v, %v; want it back as it was", tc.in, r, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("ParseRule(%q) error %v, want one saying %q", tc.in, err, tc.err)
			}
		})
	}
}

// The reference for the fuzz target: substitute %u and %c into the pattern
// as strings, then check coverage by brute force, trying every topic over
// an alphabet that holds each level the pattern and filter can name plus a
// fresh one. Slow and plainly right.

var (
	fuzzPatternLevels = []string{"a", "b", "+", "#", "%u", "%c", "u", "", "$s"}
	fuzzFilterLevels  = []string{"a", "b", "+", "#", "u", "c", "z", "", "$s"}
	fuzzTopicLevels   = []string{"a", "b", "u", "c", "z", "", "$s", "q"}
	fuzzNames         = []string{"u", "c", "", "x/y", "+", "a"}
)

// refSubstitute returns the pattern with %u and %c replaced, or false when
// the rule cannot apply (an allowing rule with a name that is not a level).
func refSubstitute(pattern string, w who, deny bool) (string, bool) {
	levels := strings.Split(pattern, "/")
	for i, l := range levels {
		var v string
		switch l {
		case "%u":
			v = w.user
		case "%c":
			v = w.client
		default:
			continue
		}
		switch {
		case oneLevel(v):
			levels[i] = v
		case deny:
			levels[i] = "+"
		default:
			return "", false
		}
	}
	return strings.Join(levels, "/"), true
}

// refCovers reports whether every topic matching filter matches pattern.
func refCovers(pattern, filter string, depth int) bool {
	ok := true
	var walk func(prefix string, n int)
	walk = func(prefix string, n int) {
		for _, l := range fuzzTopicLevels {
			if !ok {
				return
			}
			topic := l
			if n > 0 {
				topic = prefix + "/" + l
			}
			if hearth.MatchTopic(filter, topic) && !hearth.MatchTopic(pattern, topic) {
				ok = false
				return
			}
			if n+1 < depth {
				walk(topic, n+1)
			}
		}
	}
	walk("", 0)
	return ok
}

func refDecide(rules []Rule, w who, filter string, write bool, depth int) bool {
	allowed := false
	for _, r := range rules {
		p, ok := refSubstitute(r.Pattern, w, r.Access == AccessDeny)
		if !ok {
			continue
		}
		switch {
		case r.Access == AccessDeny:
			if refCovers(p, filter, depth) {
				return false
			}
		case write && r.Access == AccessRead, !write && r.Access == AccessWrite:
		default:
			allowed = allowed || refCovers(p, filter, depth)
		}
	}
	return allowed
}

// fuzzInput turns fuzz bytes into two rules, a filter (or topic) and who.
type fuzzInput struct {
	b []byte
}

func (in *fuzzInput) next() int {
	if len(in.b) == 0 {
		return 0
	}
	v := int(in.b[0])
	in.b = in.b[1:]
	return v
}

func (in *fuzzInput) levels(alphabet []string) string {
	n := in.next()%4 + 1
	ls := make([]string, n)
	for i := range ls {
		ls[i] = alphabet[in.next()%len(alphabet)]
	}
	return strings.Join(ls, "/")
}

// FuzzACL checks the ACL matcher (compiled patterns, %u and %c substitution,
// deny over allow, coverage of subscription filters) against the reference
// above.
func FuzzACL(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 4, 2, 1, 0, 3, 2, 0, 3})
	f.Add([]byte{9, 2, 0, 4, 3, 2, 0, 3, 1, 2, 0, 1, 1})
	f.Add([]byte{3, 1, 5, 3, 8, 2, 5, 2, 0, 2, 0, 0, 4, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{b: data}
		flags := in.next()
		w := who{user: fuzzNames[in.next()%len(fuzzNames)], client: fuzzNames[in.next()%len(fuzzNames)]}
		accesses := []Access{AccessRead, AccessWrite, AccessReadWrite, AccessDeny}
		var rules []Rule
		maxLevels := 0
		for range 2 {
			r := Rule{Access: accesses[in.next()%len(accesses)], Pattern: in.levels(fuzzPatternLevels)}
			if r.check() != nil {
				continue
			}
			rules = append(rules, r)
			maxLevels = max(maxLevels, strings.Count(r.Pattern, "/")+1)
		}
		filter := in.levels(fuzzFilterLevels)
		write := flags&1 == 1
		if hearth.FilterProblem(filter) != "" || (write && strings.ContainsAny(filter, "+#")) {
			return
		}
		maxLevels = max(maxLevels, strings.Count(filter, "/")+1)
		compiled, err := compileACL(rules)
		if err != nil {
			t.Fatalf("compile %v: %v", rules, err)
		}
		got := decide(w, filter, write, compiled)
		want := refDecide(rules, w, filter, write, maxLevels+1)
		if got != want {
			t.Fatalf("rules %v, who %+v, filter %q, write %v: decide = %v, reference = %v", rules, w, filter, write, got, want)
		}
	})
}

func BenchmarkDecide(b *testing.B) {
	rules := mustACL(b, "read:home/#", "write:home/%u", "readwrite:home/%u/#", "deny:home/lock/#", "write:home/%c/availability")
	w := who{user: "lamp", client: "lamp-1"}
	b.ReportAllocs()
	for b.Loop() {
		if !decide(w, "home/lamp/availability", true, rules) {
			b.Fatal("denied")
		}
	}
}
