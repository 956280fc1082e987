package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"hearth"
)

// childArgsEnv makes the test binary run the hub itself, so the durability
// test can kill a real hub process with SIGKILL.
const childArgsEnv = "HEARTH_TEST_HUB_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childArgsEnv); args != "" {
		os.Exit(run(strings.Fields(args), os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

// startHub starts the whole hub in-process on random loopback ports.
func startHub(t testing.TB, automationsYAML string) (*App, Config) {
	t.Helper()
	return startHubWith(t, automationsYAML, func(*Config) {})
}

// startHubWith is startHub with a last say on the configuration.
func startHubWith(t testing.TB, automationsYAML string, configure func(*Config)) (*App, Config) {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{
		MQTTAddr:  "127.0.0.1:0",
		HTTPAddr:  "127.0.0.1:0",
		DataDir:   filepath.Join(dir, "data"),
		BaseTopic: "home",
	}
	if automationsYAML != "" {
		cfg.Automations = filepath.Join(dir, "automations.yaml")
		if err := os.WriteFile(cfg.Automations, []byte(automationsYAML), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	configure(&cfg)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	app, err := Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("start hub: %v", err)
	}
	t.Cleanup(func() {
		if err := app.Close(); err != nil {
			t.Errorf("close hub: %v", err)
		}
	})
	return app, cfg
}

// connect makes a paho client connected to addr, disconnected at cleanup.
func connect(t testing.TB, addr, id string) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).
		SetCleanSession(true)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s to %s: %v", id, addr, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// subscribe delivers every message on filter to the returned channel.
func subscribe(t testing.TB, c mqtt.Client, filter string) <-chan mqtt.Message {
	t.Helper()
	ch := make(chan mqtt.Message, 1024)
	tok := c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) { ch <- m })
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return ch
}

func publish(t testing.TB, c mqtt.Client, topic string, qos byte, payload string) {
	t.Helper()
	tok := c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// receive waits for the next message and decodes its JSON payload.
func receive(t testing.TB, ch <-chan mqtt.Message) map[string]any {
	t.Helper()
	select {
	case m := <-ch:
		var v map[string]any
		if err := json.Unmarshal(m.Payload(), &v); err != nil {
			t.Fatalf("message on %s is not a JSON object: %q", m.Topic(), m.Payload())
		}
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return nil
	}
}

// getJSON fetches url and decodes the JSON answer into v, returning the status.
func getJSON(t testing.TB, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
	return resp.StatusCode
}

// apiEvent is an event as the API returns it.
type apiEvent struct {
	Seq     uint64          `json:"seq"`
	Kind    hearth.Kind     `json:"kind"`
	Topic   string          `json:"topic"`
	Device  string          `json:"device"`
	Client  string          `json:"client"`
	Payload json.RawMessage `json:"payload"`
	Cause   hearth.Cause    `json:"cause"`
}

func events(t testing.TB, httpAddr, query string) []apiEvent {
	t.Helper()
	var evs []apiEvent
	if code := getJSON(t, fmt.Sprintf("http://%s/api/events?%s", httpAddr, query), &evs); code != 200 {
		t.Fatalf("GET /api/events?%s: status %d", query, code)
	}
	return evs
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestASecondHubOnTheSameDataFolderIsRefused starts a second hub on a data
// folder a running hub records to: it must not start, saying why. It used
// to start, and the first commit of one made the other stop on a duplicate
// sequence number.
func TestASecondHubOnTheSameDataFolderIsRefused(t *testing.T) {
	first, cfg := startHub(t, "")
	second, err := Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		second.Close()
		t.Fatal("a second hub started on the data folder of a running one")
	}
	if !strings.Contains(err.Error(), "another hub on the same data folder") {
		t.Fatalf("the second hub's error: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third, err := Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("once the first stopped: %v", err)
	}
	if err := third.Close(); err != nil {
		t.Fatal(err)
	}
}
