package broker

import (
	"slices"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
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

func TestPlusHashFilingsThroughRefusalsExpiryAndTheHubsOwn(t *testing.T) {
	h := startHub(t, Config{MaximumSessionExpiryInterval: time.Second}, true)
	sensor := pahoClient(t, h.addr, "sensor", nil)

	t.Run("an unsubscribe mochi refuses leaves the filing", func(t *testing.T) {
		r := dialRaw(t, h.addr)
		r.connect(5, "keeper", 30)
		r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe}, PacketID: 1,
			Filters: packets.Subscriptions{{Filter: "home/+/#"}}})
		if ack, err := r.read(); err != nil || ack.FixedHeader.Type != packets.Suback {
			t.Fatalf("SUBACK: %+v, %v", ack.FixedHeader, err)
		}
		// An id the client sends while mochi still has a message of that
		// id in flight is refused: the client keeps the filter.
		cl, ok := h.server.Clients.Get("keeper")
		if !ok {
			t.Fatal("keeper is not connected")
		}
		cl.State.Inflight.Set(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 7})
		r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe}, PacketID: 7,
			Filters: packets.Subscriptions{{Filter: "home/+/#"}}})
		if ack, err := r.read(); err != nil || ack.FixedHeader.Type != packets.Unsuback || len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != packets.ErrPacketIdentifierInUse.Code {
			t.Fatalf("UNSUBACK: %+v %v, %v; want packet identifier in use", ack.FixedHeader, ack.ReasonCodes, err)
		}
		publish(t, sensor, "home/hall", 1, []byte("x"))
		if pk, err := r.read(); err != nil || pk.TopicName != "home/hall" {
			t.Fatalf("got %q, %v; want home/hall, still subscribed", pk.TopicName, err)
		}
	})

	t.Run("an expired session's filters are not sent to the next client of its id", func(t *testing.T) {
		kept := pahoClient(t, h.addr, "away", func(o *paho.ClientOptions) { o.SetCleanSession(false) })
		sub(t, kept, "home/+/#", "home/kitchen")
		kept.Disconnect(50)
		eventually(t, "the session expired", func() bool {
			_, ok := h.server.Clients.Get("away")
			return !ok
		})
		again, got := allMessages(t, h.addr, "away")
		sub(t, again, "marker")
		for _, topic := range []string{"home/hall", "home/hall/x", "home/kitchen", "marker"} {
			publish(t, sensor, topic, 1, []byte("x"))
		}
		if m := receive(t, got); m.topic != "marker" {
			t.Fatalf("the new client got %s, which only the expired session subscribed to", m.topic)
		}
	})

	t.Run("the hub's own subscriptions are not filed as a client's", func(t *testing.T) {
		if err := h.Subscribe("bridge/+/#", func(string, []byte) {}); err != nil {
			t.Fatal(err)
		}
		if subs := h.server.Topics.Subscribers("bridge/x").Subscriptions; len(subs) != 0 {
			t.Fatalf("clients subscribed to bridge/x: %v", subs)
		}
	})
}

func TestLevelAbove(t *testing.T) {
	for filter, want := range map[string]string{
		"home/+/#": "home/+", "+/#": "+", "a/+/+/#": "a/+/+", "a/+/b/+/#": "a/+/b/+",
		"a/#": "", "a/+/b/#": "", "#": "", "home/+": "", "$share/g/home/+/#": "", "$Share/g/home/+/#": "", "a+/#": "",
	} {
		if got := levelAbove(filter); got != want {
			t.Errorf("levelAbove(%q) = %q, want %q", filter, got, want)
		}
	}
}
