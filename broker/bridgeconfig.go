package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"hearth"
)

// Direction says which way a bridge forwards a topic.
type Direction string

// The directions of a bridge topic, as Mosquitto's bridge names them.
const (
	// Out forwards what is published on the embedded broker to the remote one.
	Out Direction = "out"
	// In forwards what is published on the remote broker to the embedded one.
	In Direction = "in"
	// Both forwards either way.
	Both Direction = "both"
)

// DefaultBridgeQueue is how many outgoing messages a bridge holds while the
// remote broker is away.
const DefaultBridgeQueue = 1000

// BridgeTopic is one topic rule of a bridge, with Mosquitto's meaning: the
// local topic is LocalPrefix+Topic and the remote one RemotePrefix+Topic.
type BridgeTopic struct {
	// Topic is a topic filter ("home/#").
	Topic string `yaml:"topic"`
	// Direction is out (the default), in or both.
	Direction Direction `yaml:"direction,omitempty"`
	// QoS is the highest QoS forwarded (0 when unset, as in Mosquitto):
	// the QoS of the subscription on the side messages come from.
	QoS byte `yaml:"qos,omitempty"`
	// LocalPrefix and RemotePrefix are put in front of Topic on each side.
	LocalPrefix  string `yaml:"local_prefix,omitempty"`
	RemotePrefix string `yaml:"remote_prefix,omitempty"`
}

// BridgeConfig configures a bridge from the embedded broker to a remote one.
type BridgeConfig struct {
	// Name names the bridge: messages it brings in are logged with Client
	// "bridge:<name>". Letters, digits, - and _.
	Name string `yaml:"name"`
	// Endpoint is the remote broker; its client id defaults to
	// "hearth-<hostname>-<name>".
	Endpoint `yaml:",inline"`
	// Topics are the rules; at least one.
	Topics []BridgeTopic `yaml:"topics"`
	// PlainClient connects as an ordinary MQTT 3.1.1 client instead of
	// announcing a bridge (Mosquitto's try_private false), for a broker that
	// refuses the bridge protocol. The broker then sends the bridge back
	// what it forwards out, which is recognised by topic and payload, and
	// does not keep the retain flag of what it forwards in.
	PlainClient bool `yaml:"plain_client,omitempty"`
	// QueueSize is how many outgoing messages are held while the remote
	// broker is away (1,000 when zero); beyond, they are dropped and counted.
	QueueSize int `yaml:"queue_size,omitempty"`
	// DrainTimeout bounds how long Close waits to send what is queued and
	// to acknowledge what the log takes (2 s when zero).
	DrainTimeout time.Duration `yaml:"drain_timeout,omitempty"`
	// Logger receives the logs; nil discards them.
	Logger *slog.Logger `yaml:"-"`
	// Now tells the time of the echo filter; time.Now when nil.
	Now func() time.Time `yaml:"-"`
}

var bridgeName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// rule is a BridgeTopic with its filters worked out.
type rule struct {
	BridgeTopic
	local, remote string // the filters on each side
}

func (r *rule) in() bool  { return r.Direction == In || r.Direction == Both }
func (r *rule) out() bool { return r.Direction == Out || r.Direction == Both }

// rules checks the name and the topic rules.
func (c BridgeConfig) rules() ([]*rule, error) {
	var errs []error
	if !bridgeName.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("name %q: want letters, digits, - and _", c.Name))
	}
	if len(c.Topics) == 0 {
		errs = append(errs, errors.New("topics: want at least one"))
	}
	if c.QueueSize < 0 {
		errs = append(errs, fmt.Errorf("queue_size %d: want > 0", c.QueueSize))
	}
	var rules []*rule
	for i, t := range c.Topics {
		if t.Direction == "" {
			t.Direction = Out
		}
		r := &rule{BridgeTopic: t, local: t.LocalPrefix + t.Topic, remote: t.RemotePrefix + t.Topic}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("topics[%d] (%s): %s", i, t.Topic, fmt.Sprintf(format, args...)))
		}
		filterWhy := filterProblem(t.Topic, r.local, r.remote)
		switch {
		case t.Direction != Out && t.Direction != In && t.Direction != Both:
			bad("direction %q: want out, in or both", t.Direction)
		case t.QoS > 2:
			bad("qos %d: want 0, 1 or 2", t.QoS)
		case strings.ContainsAny(t.LocalPrefix+t.RemotePrefix, "+#\x00"):
			bad("prefixes may not hold wildcards")
		case filterWhy != "":
			bad("not a valid topic filter: %s", filterWhy)
		case strings.HasPrefix(r.local, "$share/") || strings.HasPrefix(r.remote, "$share/"):
			bad("a bridge does not take shared subscriptions")
		default:
			rules = append(rules, r)
		}
	}
	return rules, errors.Join(errs...)
}

// filterProblem says which of filters is not a topic filter and why, or "".
func filterProblem(filters ...string) string {
	for _, f := range filters {
		if why := hearth.FilterProblem(f); why != "" {
			return fmt.Sprintf("%q %s", f, why)
		}
	}
	return ""
}
