package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hearth"

	"hearth/internal/mosquittotest"
)

// bridgeConfig is a bridge config for a test: quick back-off and drain.
func bridgeConfig(url string, topics ...BridgeTopic) BridgeConfig {
	return BridgeConfig{
		Name: "cloud",
		Endpoint: Endpoint{
			URL:            url,
			ClientID:       "house-bridge",
			KeepAlive:      10 * time.Second,
			ConnectTimeout: 5 * time.Second,
			ReconnectMin:   20 * time.Millisecond,
			ReconnectMax:   200 * time.Millisecond,
		},
		Topics:       topics,
		DrainTimeout: 500 * time.Millisecond,
	}
}

// startBridge starts a bridge on h and closes it (before h) when the test ends.
func startBridge(t *testing.T, h *hub, cfg BridgeConfig) *Bridge {
	t.Helper()
	if cfg.Logger == nil {
		_, cfg.Logger = newTestLog(t)
	}
	br, err := NewBridge(h.Broker, cfg)
	if err != nil {
		t.Fatalf("NewBridge: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := br.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = br.Close() })
	return br
}

// nextMessage returns the next message event, skipping others.
func (r *reader) nextMessage() hearth.Event {
	r.t.Helper()
	for {
		if ev := r.next(); ev.Kind == hearth.KindMessage {
			return ev
		}
	}
}

func TestBridge(t *testing.T) {
	for _, mode := range []struct {
		name  string
		plain bool
	}{
		{"announced as a bridge", false},
		{"as a plain client", true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			m := mosquittotest.Start(t, "")
			h := startHub(t, Config{}, true)
			r := newReader(t, h.bus)
			cfg := bridgeConfig(m.URL(),
				BridgeTopic{Topic: "home/#", Direction: Out, QoS: 1, RemotePrefix: "house/"},
				BridgeTopic{Topic: "cmd/#", Direction: In, QoS: 1, LocalPrefix: "home/", RemotePrefix: "house/"},
				BridgeTopic{Topic: "shared/#", Direction: Both, QoS: 1},
			)
			cfg.PlainClient = mode.plain
			startBridge(t, h, cfg)

			local := pahoClient(t, h.addr, "local", nil)
			remote := pahoClient(t, m.Addr, "remote", nil)
			watch := pahoClient(t, m.Addr, "watch", nil)
			remoteGot := subscribe(t, watch, "#", 1)

			t.Run("a local message goes out under the remote prefix", func(t *testing.T) {
				publish(t, local, "home/lamp", 1, []byte(`{"state":"ON"}`))
				checkMessage(t, r.nextMessage(), "home/lamp", `{"state":"ON"}`, 1, "local")
				if msg := receive(t, remoteGot); msg != (message{"house/home/lamp", `{"state":"ON"}`}) {
					t.Fatalf("remote broker got %+v", msg)
				}
			})

			t.Run("a hub command goes out", func(t *testing.T) {
				if _, err := h.Command(context.Background(), hearth.Command{Topic: "home/lamp/set", Payload: []byte("OFF"), QoS: 1}); err != nil {
					t.Fatalf("Command: %v", err)
				}
				if ev := r.next(); ev.Kind != hearth.KindCommand {
					t.Fatalf("logged %s, want the command", ev.Kind)
				}
				if msg := receive(t, remoteGot); msg != (message{"house/home/lamp/set", "OFF"}) {
					t.Fatalf("remote broker got %+v", msg)
				}
			})

			t.Run("a remote message comes in, is logged as the bridge's and is not sent back", func(t *testing.T) {
				localGot := subscribe(t, local, "home/cmd/#", 1)
				publish(t, remote, "house/cmd/lamp", 1, []byte("ON"))
				checkMessage(t, r.nextMessage(), "home/cmd/lamp", "ON", 1, "bridge:cloud")
				if msg := receive(t, localGot); msg != (message{"home/cmd/lamp", "ON"}) {
					t.Fatalf("local client got %+v", msg)
				}
				if msg := receive(t, remoteGot); msg != (message{"house/cmd/lamp", "ON"}) {
					t.Fatalf("remote watcher got %+v, want the remote publish itself", msg)
				}
				// Had it gone back out (home/# is forwarded out), it would
				// come before this marker, which goes out the same way.
				publish(t, local, "home/marker", 1, []byte("m1"))
				r.nextMessage()
				if msg := receive(t, remoteGot); msg.topic != "house/home/marker" {
					t.Fatalf("remote broker got %+v before the marker: the bridge sent back what it brought in", msg)
				}
			})

			t.Run("a topic bridged both ways does not loop", func(t *testing.T) {
				// From the remote side: in once, never back out.
				publish(t, remote, "shared/a", 1, []byte("from remote"))
				checkMessage(t, r.nextMessage(), "shared/a", "from remote", 1, "bridge:cloud")
				if msg := receive(t, remoteGot); msg != (message{"shared/a", "from remote"}) {
					t.Fatalf("remote watcher got %+v", msg)
				}
				publish(t, local, "shared/marker", 1, []byte("m2"))
				checkMessage(t, r.nextMessage(), "shared/marker", "m2", 1, "local")
				if msg := receive(t, remoteGot); msg != (message{"shared/marker", "m2"}) {
					t.Fatalf("remote watcher got %+v before the marker: shared/a went back out", msg)
				}

				// From the local side: out once, never back in.
				publish(t, local, "shared/b", 1, []byte("from local"))
				checkMessage(t, r.nextMessage(), "shared/b", "from local", 1, "local")
				if msg := receive(t, remoteGot); msg != (message{"shared/b", "from local"}) {
					t.Fatalf("remote watcher got %+v", msg)
				}
				publish(t, remote, "shared/marker", 1, []byte("m3"))
				if ev := r.nextMessage(); ev.Topic != "shared/marker" {
					t.Fatalf("logged %s from %s before the marker: shared/b came back in", ev.Topic, ev.Client)
				}
			})
		})
	}
}

func TestBridgeKeepsTheRetainFlag(t *testing.T) {
	m := mosquittotest.Start(t, "")
	h := startHub(t, Config{}, true)
	r := newReader(t, h.bus)
	startBridge(t, h, bridgeConfig(m.URL(), BridgeTopic{Topic: "cfg/#", Direction: In, QoS: 1}))

	remote := pahoClient(t, m.Addr, "remote", nil)
	tok := remote.Publish("cfg/mode", 1, true, "away")
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	if ev := r.nextMessage(); !ev.Retain || ev.Topic != "cfg/mode" {
		t.Fatalf("logged %+v, want the retained cfg/mode", ev)
	}
	// The embedded broker retained it: a client arriving later gets it.
	late := pahoClient(t, h.addr, "late", nil)
	if msg := receive(t, subscribe(t, late, "cfg/#", 1)); msg != (message{"cfg/mode", "away"}) {
		t.Fatalf("late local client got %+v, want the retained message", msg)
	}
}

func TestBridgeAcknowledgesOnlyWhatTheLogHolds(t *testing.T) {
	m := mosquittotest.Start(t, "")
	remote := pahoClient(t, m.Addr, "remote", nil)
	topics := BridgeTopic{Topic: "in/#", Direction: In, QoS: 1}

	h1 := startHub(t, Config{}, false) // nothing marks events durable
	r1 := newReader(t, h1.bus)
	br1 := startBridge(t, h1, bridgeConfig(m.URL(), topics))
	publish(t, remote, "in/x", 1, []byte("1"))
	checkMessage(t, r1.nextMessage(), "in/x", "1", 1, "bridge:cloud")
	_ = br1.Close()

	h2 := startHub(t, Config{}, true)
	r2 := newReader(t, h2.bus)
	startBridge(t, h2, bridgeConfig(m.URL(), topics))
	checkMessage(t, r2.nextMessage(), "in/x", "1", 1, "bridge:cloud") // again: it was never acknowledged
	publish(t, remote, "in/x", 1, []byte("2"))
	checkMessage(t, r2.nextMessage(), "in/x", "2", 1, "bridge:cloud")
}

func TestBridgeHoldsOutgoingMessagesWhileTheRemoteIsAway(t *testing.T) {
	m := mosquittotest.Start(t, "")
	h := startHub(t, Config{}, true)
	br := startBridge(t, h, bridgeConfig(m.URL(), BridgeTopic{Topic: "home/#", Direction: Out, QoS: 1}))
	local := pahoClient(t, h.addr, "local", nil)
	// A watcher with a persistent session: mosquitto keeps what arrives
	// for it while it is away, across its own restart.
	got := make(chan message, 16)
	persistent := func(o *paho.ClientOptions) {
		o.SetCleanSession(false).SetDefaultPublishHandler(func(_ paho.Client, msg paho.Message) {
			got <- message{msg.Topic(), string(msg.Payload())}
		})
	}
	watch := pahoClient(t, m.Addr, "watch", persistent)
	if tok := watch.Subscribe("home/#", 1, nil); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	m.Stop()
	eventually(t, "the bridge notices the broker is gone", func() bool { return !br.Connected() })
	publish(t, local, "home/while-away", 1, []byte("held"))
	m.Resume()
	eventually(t, "the bridge reconnects", br.Connected)

	pahoClient(t, m.Addr, "watch", persistent)
	if msg := receive(t, got); msg != (message{"home/while-away", "held"}) {
		t.Fatalf("remote broker got %+v, want the message held while it was away", msg)
	}
}

func TestBridgeConfig(t *testing.T) {
	h := startHub(t, Config{}, true)
	ok := BridgeTopic{Topic: "home/#"}
	for _, tc := range []struct {
		name string
		cfg  BridgeConfig
		want string
	}{
		{"a name with a space is refused", BridgeConfig{Name: "my cloud", Endpoint: Endpoint{URL: "mqtt://b"}, Topics: []BridgeTopic{ok}}, "name"},
		{"a bridge without topics is refused", BridgeConfig{Name: "c", Endpoint: Endpoint{URL: "mqtt://b"}}, "at least one"},
		{"an unknown direction is refused", BridgeConfig{Name: "c", Endpoint: Endpoint{URL: "mqtt://b"}, Topics: []BridgeTopic{{Topic: "a", Direction: "sideways"}}}, "direction"},
		{"QoS 3 is refused", BridgeConfig{Name: "c", Endpoint: Endpoint{URL: "mqtt://b"}, Topics: []BridgeTopic{{Topic: "a", QoS: 3}}}, "qos"},
		{"a wildcard in a prefix is refused", BridgeConfig{Name: "c", Endpoint: Endpoint{URL: "mqtt://b"}, Topics: []BridgeTopic{{Topic: "a", LocalPrefix: "+/"}}}, "prefixes"},
		{"a malformed topic is refused", BridgeConfig{Name: "c", Endpoint: Endpoint{URL: "mqtt://b"}, Topics: []BridgeTopic{{Topic: "a/#/b"}}}, "not a valid"},
		{"a bad URL is refused", BridgeConfig{Name: "c", Endpoint: Endpoint{URL: "ws://b"}, Topics: []BridgeTopic{ok}}, "mqtt://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewBridge(h.Broker, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewBridge: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}
