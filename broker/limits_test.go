package broker

import (
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// lost returns a channel closed when the client's connection is lost.
func lost() (chan struct{}, func(*paho.ClientOptions)) {
	ch := make(chan struct{})
	return ch, func(o *paho.ClientOptions) {
		o.SetConnectionLostHandler(func(paho.Client, error) { close(ch) })
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wait):
		t.Fatalf("%s: still connected after %v", what, wait)
	}
}

// countLines counts the log lines holding every one of parts.
func countLines(logs string, parts ...string) int {
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all && line != "" {
			n++
		}
	}
	return n
}

func TestSubscriptionLimit(t *testing.T) {
	h := startHub(t, Config{Limits: Limits{MaxSubscriptions: 3}}, true)
	url := "tcp://" + h.addr
	other := mustDial(t, url, "other")
	otherGot := collect(t, other, "home/#")

	cutOff, onLost := lost()
	greedy := mustDial(t, url, "greedy", onLost)
	for _, f := range []string{"home/a", "home/b", "home/c", "home/a"} { // the second home/a is not a new one
		collect(t, greedy, f)
	}
	tok := greedy.Subscribe("home/d", 1, nil)
	tok.WaitTimeout(wait)
	waitClosed(t, cutOff, "a client subscribing past the limit")

	publish(t, other, "home/x", 1, []byte("still here"))
	if m := nextMessage(t, otherGot); m.Topic() != "home/x" {
		t.Fatalf("the other client got %s", m.Topic())
	}
	if n := countLines(h.logs.String(), "too many subscriptions", "client=greedy"); n != 1 {
		t.Fatalf("%d lines say greedy had too many subscriptions, want 1:\n%s", n, h.logs.String())
	}
}

func TestRetainedLimit(t *testing.T) {
	h := startHub(t, Config{Limits: Limits{MaxRetained: 2}}, true)
	url := "tcp://" + h.addr
	other := mustDial(t, url, "other")
	cutOff, onLost := lost()
	hoarder := mustDial(t, url, "hoarder", onLost)
	r := newReader(t, h.bus)

	retain := func(c paho.Client, topic, payload string) paho.Token {
		return c.Publish(topic, 1, true, []byte(payload))
	}
	for _, p := range [][2]string{{"kept/1", "a"}, {"kept/2", "b"}, {"kept/1", "again"}, {"kept/2", ""}, {"kept/3", "c"}} {
		if tok := retain(hoarder, p[0], p[1]); !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("retain %v: %v", p, tok.Error())
		}
		if ev := r.next(); ev.Topic != p[0] {
			t.Fatalf("bus got %s, want %s", ev.Topic, p[0])
		}
	}
	retain(hoarder, "kept/4", "one too many") // its token never completes: the client is cut off
	waitClosed(t, cutOff, "a client retaining past the limit")

	// The marker is outside kept/#: mochi may still be delivering it when
	// the reader below subscribes, which must then not see it.
	publish(t, other, "marker", 1, []byte("marker"))
	if ev := r.next(); ev.Topic != "marker" {
		t.Fatalf("bus got %s (%q): the refused message was logged", ev.Topic, ev.Payload)
	}
	// A new subscriber finds what was kept, and not what was refused.
	got := collect(t, mustDial(t, url, "reader"), "kept/#")
	var topics []string
	for len(topics) < 2 {
		topics = append(topics, nextMessage(t, got).Topic())
	}
	slices.Sort(topics)
	if !slices.Equal(topics, []string{"kept/1", "kept/3"}) {
		t.Fatalf("retained %v, want kept/1 and kept/3", topics)
	}
	publish(t, other, "kept/after", 0, []byte("x"))
	if m := nextMessage(t, got); m.Topic() != "kept/after" {
		t.Fatalf("got %s: a refused retained message was kept", m.Topic())
	}
}

func TestConnectionRate(t *testing.T) {
	cfg := Config{AllowAnonymous: true, Limits: Limits{ConnectionRate: 0.001, ConnectionBurst: 3}}
	h := startHubWith(t, cfg, true, beyondLoopback)
	url := "tcp://" + h.addr
	first := mustDial(t, url, "first")
	got := collect(t, first, "home/#")
	mustDial(t, url, "second")
	mustDial(t, url, "third")
	for _, id := range []string{"fourth", "fifth"} {
		if _, err := dialPaho(t, url, id); err == nil {
			t.Fatalf("%s connected past the burst", id)
		}
	}

	t.Run("the connected client keeps its session", func(t *testing.T) {
		publish(t, first, "home/still", 1, []byte("here"))
		if m := nextMessage(t, got); m.Topic() != "home/still" {
			t.Fatalf("got %s", m.Topic())
		}
	})
	t.Run("another address is not held back", func(t *testing.T) {
		mustDial(t, url, "elsewhere", func(o *paho.ClientOptions) {
			o.SetDialer(&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: wait})
		})
	})
	t.Run("the address is logged once", func(t *testing.T) {
		if n := countLines(h.logs.String(), "opening too many", "remote=127.0.0.1"); n != 1 {
			t.Fatalf("%d lines about 127.0.0.1, want 1:\n%s", n, h.logs.String())
		}
	})
}

func TestGate(t *testing.T) {
	now := time.Unix(0, 0)
	clock := func() time.Time { return now }
	cfg := Config{Limits: Limits{Clients: 5, ConnectionRate: 1, ConnectionBurst: 2}}.withDefaults()
	g := newGate(&cfg, clock, netip.Addr.IsLoopback, slog.New(slog.DiscardHandler), newNotes(clock))
	addr := func(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }

	steps := []struct {
		name    string
		advance time.Duration
		remote  string
		want    bool
	}{
		{"a new address may open its burst", 0, "192.0.2.1:1000", true},
		{"a new address may open its burst, second", 0, "192.0.2.1:1001", true},
		{"past the burst it is refused", 0, "192.0.2.1:1002", false},
		{"another address has its own bucket", 0, "192.0.2.7:1000", true},
		{"a second later one more is allowed", time.Second, "192.0.2.1:1003", true},
		{"and only one", 0, "192.0.2.1:1004", false},
		{"an IPv6 host counts per /64", 0, "[2001:db8::1]:1", true},
		{"its neighbour in the /64 shares the bucket", 0, "[2001:db8::2]:1", false},
		{"loopback is not limited, but the socket cap holds", 0, "127.0.0.1:1", false},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		if got := g.admit(addr(s.remote)); got != s.want {
			t.Fatalf("%s: admit(%s) = %v, want %v", s.name, s.remote, got, s.want)
		}
	}
	g.release()
	if !g.admit(addr("127.0.0.1:2")) {
		t.Fatal("a freed slot was not given to a loopback client")
	}
}
