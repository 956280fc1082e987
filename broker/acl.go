package broker

import (
	"errors"
	"fmt"
	"strings"

	"hearth"
)

// Access is what a rule does to the topics its pattern matches.
type Access string

// The accesses a rule can give. Deny takes both directions away and wins
// over every rule that would allow.
const (
	AccessRead      Access = "read"
	AccessWrite     Access = "write"
	AccessReadWrite Access = "readwrite"
	AccessDeny      Access = "deny"
)

// Rule allows or denies access to the topics matching Pattern.
//
// Pattern is an MQTT topic filter: "+" stands for one level, a last "#" for
// any number of levels, and a level that is exactly "%u" stands for the
// client's user name, "%c" for its client id. A name or id that could not
// stand as one level (empty, or holding "/", "+" or "#") never satisfies a
// rule that allows, and satisfies every rule that denies, so that no name can
// widen a rule or slip past one.
//
// Reading is checked on SUBSCRIBE (the rule's pattern must cover the whole
// filter asked for) and again on every message delivered; writing is checked
// on every PUBLISH and on the will a client leaves at CONNECT.
type Rule struct {
	Pattern string `yaml:"pattern"`
	Access  Access `yaml:"access"`
}

// ParseRule reads a rule written as access:pattern, such as "read:home/#"
// or "readwrite:home/%u/#", as `hub user add --acl` takes it.
func ParseRule(s string) (Rule, error) {
	access, pattern, ok := strings.Cut(s, ":")
	if !ok {
		return Rule{}, fmt.Errorf("rule %q: want access:pattern, such as read:home/#", s)
	}
	r := Rule{Pattern: pattern, Access: Access(access)}
	if err := r.check(); err != nil {
		return Rule{}, err
	}
	return r, nil
}

// String writes the rule as ParseRule reads it.
func (r Rule) String() string { return string(r.Access) + ":" + r.Pattern }

// check reports what is wrong with a rule.
func (r Rule) check() error {
	switch r.Access {
	case AccessRead, AccessWrite, AccessReadWrite, AccessDeny:
	default:
		return fmt.Errorf("rule %q: access %q: want read, write, readwrite or deny", r.Pattern, r.Access)
	}
	if why := hearth.FilterProblem(r.Pattern); why != "" {
		return fmt.Errorf("rule %q: not a topic filter: it %s", r.Pattern, why)
	}
	for _, l := range strings.Split(r.Pattern, "/") {
		if l != "%u" && l != "%c" && (strings.Contains(l, "%u") || strings.Contains(l, "%c")) {
			return fmt.Errorf("rule %q: %%u and %%c stand alone as a level", r.Pattern)
		}
	}
	return nil
}

// aclRule is a Rule compiled for matching.
type aclRule struct {
	levels      []string // the pattern split on "/"
	read, write bool
	deny        bool
	wildFirst   bool // the pattern starts with a wildcard: it does not cover "$" topics
}

func compileRule(r Rule) (aclRule, error) {
	if err := r.check(); err != nil {
		return aclRule{}, err
	}
	c := aclRule{levels: strings.Split(r.Pattern, "/")}
	c.wildFirst = c.levels[0] == "+" || c.levels[0] == "#"
	switch r.Access {
	case AccessRead:
		c.read = true
	case AccessWrite:
		c.write = true
	case AccessReadWrite:
		c.read, c.write = true, true
	case AccessDeny:
		c.deny = true
	}
	return c, nil
}

// acl is a compiled list of rules.
type acl []aclRule

func compileACL(rules []Rule) (acl, error) {
	out := make(acl, 0, len(rules))
	var errs []error
	for _, r := range rules {
		c, err := compileRule(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

// who is what %u and %c stand for.
type who struct {
	user, client string
}

// decide returns whether the rules of lists allow w to read (write false) or
// write f, a topic name or, for a subscription, a topic filter: a rule that
// denies and covers f refuses it, whatever else allows; otherwise a rule that
// allows that direction and covers f is needed.
func decide(w who, f string, write bool, lists ...acl) bool {
	allowed := false
	for _, l := range lists {
		for i := range l {
			r := &l[i]
			switch {
			case r.deny:
				if r.covers(w, f) {
					return false
				}
			case allowed, write && !r.write, !write && !r.read:
			default:
				allowed = r.covers(w, f)
			}
		}
	}
	return allowed
}

// covers reports whether every topic that f matches is matched by the
// rule's pattern, with %u and %c standing for w's name and client id. For a
// topic name (no wildcards) this is whether the pattern matches it. The walk
// allocates nothing: it runs for every message delivered.
func (r *aclRule) covers(w who, f string) bool {
	if f == "" || (f[0] == '$' && r.wildFirst) {
		return false
	}
	rest, ended := f, false
	for i, pl := range r.levels {
		if pl == "#" {
			return true // the level above and everything below, "#" included
		}
		if ended {
			return false // the pattern asks for more levels than f has
		}
		var fl string
		var more bool
		fl, rest, more = strings.Cut(rest, "/")
		ended = !more
		if pl == "%u" || pl == "%c" {
			v := w.user
			if pl == "%c" {
				v = w.client
			}
			switch {
			case oneLevel(v):
				pl = v
			case r.deny:
				// A deny rule takes an unusable name as "+": it still
				// denies, and a name cannot be chosen to slip past it.
				if i == 0 && f[0] == '$' {
					return false // as "+" would not reach $SYS
				}
				pl = "+"
			default:
				return false
			}
		}
		if pl == "+" {
			if fl == "#" {
				// "+/#" at the top covers "#": both match every topic
				// (there is no parent level above the first).
				return i == 0 && len(r.levels) == 2 && r.levels[1] == "#"
			}
			continue
		}
		if fl != pl {
			return false
		}
	}
	return ended
}

// oneLevel reports whether s can stand for one topic level in a rule.
func oneLevel(s string) bool {
	return s != "" && !strings.ContainsAny(s, "/+#")
}

// sharedFilter strips a shared subscription's "$share/<group>/" prefix: the
// group takes turns over the messages of the filter after it.
func sharedFilter(f string) string {
	if rest, ok := strings.CutPrefix(f, "$share/"); ok {
		if _, filter, ok := strings.Cut(rest, "/"); ok {
			return filter
		}
	}
	return f
}
