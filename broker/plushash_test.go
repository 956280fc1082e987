package broker

import (
	"slices"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// allMessages connects a client that hands every message it gets to the
// channel, whichever filter (or none, since unsubscribed) brought it.
func allMessages(t *testing.T, addr, id string) (paho.Client, <-chan message) {
	t.Helper()
	got := make(chan message, 64)
	c := pahoClient(t, addr, id, func(o *paho.ClientOptions) {
		o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got <- message{m.Topic(), string(m.Payload())} })
	})
	return c, got
}

func sub(t *testing.T, c paho.Client, filters ...string) {
	t.Helper()
	for _, f := range filters {
		if tok := c.Subscribe(f, 1, nil); !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", f, tok.Error())
		}
	}
}

func unsub(t *testing.T, c paho.Client, filters ...string) {
	t.Helper()
	if tok := c.Unsubscribe(filters...); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("unsubscribe %v: %v", filters, tok.Error())
	}
}

func TestAFilterEndingInPlusHashAlsoMatchesTheLevelAbove(t *testing.T) {
	h := startHub(t, Config{}, true)
	sensor := pahoClient(t, h.addr, "sensor", nil)
	// send publishes each topic and then "marker", waiting for each to be
	// taken: a subscriber to marker gets what it gets of them before it.
	send := func(topics ...string) {
		t.Helper()
		for _, topic := range append(topics, "marker") {
			publish(t, sensor, topic, 1, []byte("x"))
		}
	}
	// upToMarker returns the topics got up to the marker.
	upToMarker := func(got <-chan message) []string {
		t.Helper()
		var topics []string
		for {
			m := receive(t, got)
			if m.topic == "marker" {
				return topics
			}
			topics = append(topics, m.topic)
		}
	}
	check := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("%s: got %q, want %q", what, got, want)
		}
	}

	t.Run("home/+/# gets a device's own topic and those below it, each once", func(t *testing.T) {
		c, got := allMessages(t, h.addr, "follower")
		sub(t, c, "home/+/#", "marker")
		send("home/hall", "home/hall/set", "home", "away/hall", "home/kitchen")
		check("subscribed", upToMarker(got), []string{"home/hall", "home/hall/set", "home/kitchen"})
		unsub(t, c, "home/+/#")
		send("home/hall", "home/hall/set")
		check("unsubscribed", upToMarker(got), nil)
	})

	t.Run("+/# gets a topic of one level", func(t *testing.T) {
		c, got := allMessages(t, h.addr, "everything")
		sub(t, c, "+/#")
		send("lone", "a/b")
		check("subscribed", upToMarker(got), []string{"lone", "a/b"})
	})

	t.Run("a filter of the client's own for the level above stays its own", func(t *testing.T) {
		c, got := allMessages(t, h.addr, "both")
		sub(t, c, "home/+", "home/+/#", "marker")
		unsub(t, c, "home/+/#")
		send("home/hall", "home/hall/set")
		check("home/+ alone", upToMarker(got), []string{"home/hall"})

		// And the other way round: home/+ goes, home/+/# still brings it.
		sub(t, c, "home/+/#")
		unsub(t, c, "home/+")
		send("home/hall", "home/hall/set")
		check("home/+/# alone", upToMarker(got), []string{"home/hall", "home/hall/set"})
	})

	t.Run("a clean session's filters go with it", func(t *testing.T) {
		first, _ := allMessages(t, h.addr, "returning")
		sub(t, first, "home/+/#")
		first.Disconnect(50)
		// The next connection asks to resume a session: there is none left
		// to resume, and it must get nothing of the last one's filters.
		got := make(chan message, 64)
		again := pahoClient(t, h.addr, "returning", func(o *paho.ClientOptions) {
			o.SetCleanSession(false)
			o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got <- message{m.Topic(), string(m.Payload())} })
		})
		sub(t, again, "marker")
		send("home/hall", "home/hall/set")
		check("the next session", upToMarker(got), nil)
	})
}

func TestLevelAbove(t *testing.T) {
	for filter, want := range map[string]string{
		"home/+/#": "home/+", "+/#": "+", "a/+/+/#": "a/+/+", "a/+/b/+/#": "a/+/b/+",
		"a/#": "", "a/+/b/#": "", "#": "", "home/+": "", "$share/g/home/+/#": "", "a+/#": "",
	} {
		if got := levelAbove(filter); got != want {
			t.Errorf("levelAbove(%q) = %q, want %q", filter, got, want)
		}
	}
}
