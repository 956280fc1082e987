package sim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// startBroker runs a throwaway mochi broker on a random loopback port and
// returns its URL. It is a plain broker, not the hub's.
func startBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.AddListener(listeners.NewNet("test", ln)); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return "tcp://" + ln.Addr().String()
}

// testLog logs to stderr when the test runs with -v.
func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startHouse starts the devices of specs on brokerURL, ticking every
// millisecond, and closes them when the test ends.
func startHouse(t *testing.T, brokerURL string, specs []Spec) *House {
	t.Helper()
	h, err := NewHouse(specs, Options{Rand: rand.New(rand.NewPCG(7, 11)), Tick: time.Millisecond, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Start(ctx, brokerURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// msg is a message a watcher received.
type msg struct {
	topic, payload string
	retained       bool
}

// watcher is a plain MQTT client that records what it receives.
type watcher struct {
	c  mqtt.Client
	ch chan msg
}

// clientSeq numbers test clients so their ids differ.
var clientSeq atomic.Int64

// connectClient connects a plain paho client for the test.
func connectClient(t *testing.T, brokerURL string) mqtt.Client {
	t.Helper()
	id := fmt.Sprintf("test-%d", clientSeq.Add(1))
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(id).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect test client: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// watch subscribes to filters and records every message.
func watch(t *testing.T, brokerURL string, filters ...string) *watcher {
	t.Helper()
	w := &watcher{c: connectClient(t, brokerURL), ch: make(chan msg, 4096)}
	subs := map[string]byte{}
	for _, f := range filters {
		subs[f] = 1
	}
	tok := w.c.SubscribeMultiple(subs, func(_ mqtt.Client, m mqtt.Message) {
		w.ch <- msg{topic: m.Topic(), payload: string(m.Payload()), retained: m.Retained()}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %v: %v", filters, tok.Error())
	}
	return w
}

// availability is the availability topic of each device in ids. Tests
// watch these exact topics rather than home/+/availability: mochi v2.7.9
// reads a retained message's place in its topic tree without a lock while
// scanning a wildcard subscription, and a device's will being retained at
// that moment is a data race inside mochi (see docs/reliability.md).
func availability(ids []string) []string {
	topics := make([]string, len(ids))
	for i, id := range ids {
		topics[i] = "home/" + id + "/availability"
	}
	return topics
}

// next returns the next message that satisfies ok, skipping others, and
// fails the test if none comes within ten seconds.
func (w *watcher) next(t *testing.T, what string, ok func(msg) bool) msg {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-w.ch:
			if ok(m) {
				return m
			}
		case <-deadline:
			t.Fatalf("no message: %s", what)
		}
	}
}

// each waits for an availability message saying want from each device of
// ids (on <base>/<id>/availability) and returns the message per device.
func (w *watcher) each(t *testing.T, want string, ids []string) map[string]msg {
	t.Helper()
	got := map[string]msg{}
	for len(got) < len(ids) {
		m := w.next(t, fmt.Sprintf("%s from each of %v (have %d)", want, ids, len(got)), func(m msg) bool {
			return m.payload == want && slices.Contains(ids, strings.Split(m.topic, "/")[1])
		})
		got[strings.Split(m.topic, "/")[1]] = m
	}
	return got
}

// publish sends a QoS 1 message from c and waits for the broker to take it.
func publish(t *testing.T, c mqtt.Client, topic, payload string) {
	t.Helper()
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// proxy relays TCP connections to a broker so that a test can cut them the
// way a device losing power would, without the client saying goodbye.
type proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  []net.Conn
	killed bool
}

func startProxy(t *testing.T, brokerURL string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: brokerURL[len("tcp://"):]}
	p.wg.Go(p.accept)
	t.Cleanup(p.kill)
	return p
}

func (p *proxy) url() string { return "tcp://" + p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			down.Close()
			continue
		}
		p.mu.Lock()
		if p.killed {
			p.mu.Unlock()
			down.Close()
			up.Close()
			return
		}
		p.conns = append(p.conns, down, up)
		p.mu.Unlock()
		p.wg.Go(func() { _, _ = io.Copy(up, down); up.Close() })
		p.wg.Go(func() { _, _ = io.Copy(down, up); down.Close() })
	}
}

// cut resets every relayed connection and keeps accepting new ones.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, not a goodbye
		}
		c.Close()
	}
	p.conns = nil
}

// kill stops accepting, resets every relayed connection and waits for the
// relaying goroutines.
func (p *proxy) kill() {
	p.ln.Close()
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	p.cut()
	p.wg.Wait()
}
