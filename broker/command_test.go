package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hearth"
)

type message struct {
	topic   string
	payload string
}

// subscribe subscribes a paho client and returns what it receives.
func subscribe(t *testing.T, c paho.Client, filter string, qos byte) <-chan message {
	t.Helper()
	got := make(chan message, 64)
	tok := c.Subscribe(filter, qos, func(_ paho.Client, m paho.Message) {
		got <- message{m.Topic(), string(m.Payload())}
	})
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return got
}

func receive(t *testing.T, got <-chan message) message {
	t.Helper()
	select {
	case m := <-got:
		return m
	case <-time.After(wait):
		t.Fatalf("no message within %v", wait)
		return message{}
	}
}

func TestCommand(t *testing.T) {
	h := startHub(t, Config{}, true)
	r := newReader(t, h.bus)
	light := pahoClient(t, h.addr, "hall_light", nil)
	got := subscribe(t, light, "home/hall_light/set", 1)

	cmd := hearth.Command{
		Device:  "hall_light",
		Topic:   "home/hall_light/set",
		Payload: []byte(`{"state":"ON"}`),
		QoS:     1,
		Cause:   hearth.Cause{Seq: 41, Run: "hall_light_on_motion#3", Source: "automation"},
	}
	ev, err := h.Command(context.Background(), cmd)
	if err != nil {
		t.Fatalf("Command: %v", err)
	}

	logged := r.next()
	if logged.Seq != ev.Seq || logged.Kind != hearth.KindCommand || logged.Topic != cmd.Topic ||
		logged.Device != "hall_light" || string(logged.Payload) != `{"state":"ON"}` ||
		logged.QoS != 1 || logged.Cause != cmd.Cause {
		t.Fatalf("logged %+v (payload %q), returned seq %d; want the command with its cause",
			logged, logged.Payload, ev.Seq)
	}
	if m := receive(t, got); m != (message{"home/hall_light/set", `{"state":"ON"}`}) {
		t.Fatalf("device received %+v", m)
	}

	// The inline publish must not come back through the hook as a message:
	// the next event after the command is a marker published afterwards.
	marker := pahoClient(t, h.addr, "marker", nil)
	publish(t, marker, "test/marker", 1, []byte("after"))
	if next := r.next(); next.Topic != "test/marker" {
		t.Fatalf("event after the command is %s on %s, want the marker: the command was logged twice",
			next.Kind, next.Topic)
	}
}

func TestCommandRefusals(t *testing.T) {
	h := startHub(t, Config{}, true)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		cmd  hearth.Command
	}{
		{"a wildcard topic is refused", context.Background(), hearth.Command{Topic: "home/+/set"}},
		{"an empty topic is refused", context.Background(), hearth.Command{}},
		{"a topic under $SYS is refused", context.Background(), hearth.Command{Topic: "$SYS/broker/uptime"}},
		{"a topic under $share is refused", context.Background(), hearth.Command{Topic: "$share/g"}},
		{"QoS 3 is refused", context.Background(), hearth.Command{Topic: "home/x/set", QoS: 3}},
		{"a cancelled context is refused", cancelled, hearth.Command{Topic: "home/x/set"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.bus.NextSeq()
			if _, err := h.Command(tc.ctx, tc.cmd); err == nil {
				t.Fatal("Command succeeded")
			}
			if h.bus.NextSeq() != before {
				t.Fatal("a refused command was logged")
			}
		})
	}

	t.Run("a closed broker refuses commands", func(t *testing.T) {
		_ = h.Close()
		_, err := h.Command(context.Background(), hearth.Command{Topic: "home/x/set"})
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Command after Close: %v, want ErrClosed", err)
		}
	})
}

func TestSubscribe(t *testing.T) {
	h := startHub(t, Config{}, true)
	got := make(chan message, 4)
	if err := h.Subscribe("home/+/set", func(topic string, payload []byte) {
		got <- message{topic, string(payload)}
	}); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	c := pahoClient(t, h.addr, "ui", nil)
	publish(t, c, "home/lamp/set", 1, []byte("on"))
	if m := receive(t, got); m != (message{"home/lamp/set", "on"}) {
		t.Fatalf("inline subscriber received %+v", m)
	}
	if err := h.Subscribe("home/#/bad", func(string, []byte) {}); err == nil {
		t.Fatal("an invalid filter was accepted")
	}
}
