package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hearth"
)

func TestBadAutomationsStopTheHubFromStarting(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string // each must appear in what the hub prints
	}{
		{
			name: "a YAML syntax error names the line",
			yaml: "- id: a\n  triggers: [\n",
			want: []string{"automations.yaml:"},
		},
		{
			name: "an unknown key names the key, the line and the automation",
			yaml: "- id: hall\n  triggers:\n    - device: m\n  actions:\n    - set: l\n      state: {state: ON}\n  colour: red\n",
			want: []string{"automations.yaml:7:", "hall", "colour"},
		},
		{
			name: "a duplicate id names both automations",
			yaml: "- id: twice\n  triggers: [{device: m}]\n  actions: [{set: l, state: {state: ON}}]\n- id: twice\n  triggers: [{device: m}]\n  actions: [{set: l, state: {state: ON}}]\n",
			want: []string{"automations.yaml:4:", "twice", "duplicate"},
		},
		{
			name: "an expression that does not compile names its line",
			yaml: "- id: broken\n  triggers:\n    - device: m\n      when: occupancy ==\n  actions: [{set: l, state: {state: ON}}]\n",
			want: []string{"automations.yaml:4:", "broken"},
		},
		{
			name: "every mistake is reported at once",
			yaml: "- id: one\n  triggers: [{device: m}]\n  actions: [{delay: soon}]\n- id: two\n  triggers: [{mqtt: 'home/#/x'}]\n  actions: [{set: l, state: {state: ON}}]\n",
			want: []string{"automations.yaml:3:", "one", "automations.yaml:5:", "two"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "automations.yaml")
			if err := os.WriteFile(file, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run([]string{"--mqtt", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--automations", file}, &stdout, &stderr)
			if code != 1 {
				t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr.String())
			}
			if strings.Contains(stdout.String(), "listening") {
				t.Fatalf("the hub listened despite a bad file:\n%s", stdout.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr does not mention %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"--mqtt", "nonsense"},
		{"--base-topic", "home/#"},
		{"--log-level", "loud"},
		{"stray"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "hub:") {
				t.Fatalf("exit %d, stderr %q", code, stderr.String())
			}
		})
	}
}

func TestBadPayloadsKeepTheHubRunning(t *testing.T) {
	app, _ := startHub(t, `
- id: echo
  triggers: [{device: lamp, when: 'state == "ON"'}]
  actions: [{publish: home/echo, payload: {seen: true}}]
`)
	mqttAddr, httpAddr := app.MQTTAddr().String(), app.HTTPAddr().String()
	watcher := connect(t, mqttAddr, "watcher")
	echoes := subscribe(t, watcher, "home/echo")
	c := connect(t, mqttAddr, "messy")

	publish(t, c, "home/lamp", 1, "not json at all")
	publish(t, c, "home/lamp", 1, `{"broken":`)
	publish(t, c, "home/lamp", 1, "\xff\xfe invalid utf-8")
	publish(t, c, "home/lamp", 1, "42")
	publish(t, c, "somewhere/else/entirely", 1, `{"x":1}`)
	publish(t, c, "home/lamp/availability", 1, "maybe")

	t.Run("a payload that is not a JSON object is kept as value", func(t *testing.T) {
		var d hearth.DeviceState
		getJSON(t, "http://"+httpAddr+"/api/devices/lamp", &d)
		if d.State["value"] != 42.0 {
			t.Fatalf("lamp state %v, want value 42 from the last payload", d.State)
		}
	})
	t.Run("a message on an unknown topic is logged without a device", func(t *testing.T) {
		evs := events(t, httpAddr, "topic=somewhere/else/entirely")
		if len(evs) != 1 || evs[0].Device != "" {
			t.Fatalf("events %+v", evs)
		}
	})
	t.Run("an oversized payload cuts off only its sender", func(t *testing.T) {
		big := connect(t, mqttAddr, "big")
		tok := big.Publish("home/lamp", 1, false, bytes.Repeat([]byte("x"), 300<<10))
		tok.WaitTimeout(5 * time.Second)
		eventually(t, "the oversized sender is disconnected", func() bool { return !big.IsConnectionOpen() })
	})
	t.Run("the hub still works afterwards", func(t *testing.T) {
		publish(t, c, "home/lamp", 1, `{"state":"ON"}`)
		if got := receive(t, echoes); got["seen"] != true {
			t.Fatalf("echo %v", got)
		}
		conn, err := net.Dial("tcp", mqttAddr)
		if err != nil {
			t.Fatalf("broker stopped accepting: %v", err)
		}
		conn.Close()
	})
}
