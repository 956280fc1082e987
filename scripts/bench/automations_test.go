package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hearth/internal/benchhouse"
)

func TestGeneratedAutomationsLoadInTheHub(t *testing.T) {
	bin := hubBinary(t)
	tests := []struct {
		name    string
		yaml    []byte
		starts  bool
		mention string // in the hub's output when it refuses
	}{
		{name: "one automation loads", yaml: benchhouse.Automations(1), starts: true},
		{name: "a hundred automations load", yaml: benchhouse.Automations(100), starts: true},
		{
			// The control: the hub does validate the file at start-up, so a
			// start above means the generated YAML passed.
			name:    "a misspelt condition stops the hub",
			yaml:    []byte(strings.Replace(string(benchhouse.Automations(2)), "illuminance ?? 0) < 30", "illuminance ?? 0) <<< 30", 1)),
			mention: "motion_0_on",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "automations.yaml")
			if err := os.WriteFile(file, tt.yaml, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			h, err := startHub(ctx, bin, filepath.Join(dir, "data"), file)
			if !tt.starts {
				if err == nil {
					_ = h.stop(10 * time.Second)
					t.Fatal("the hub started, want it to refuse the file")
				}
				if !strings.Contains(err.Error(), tt.mention) {
					t.Errorf("error does not name %q:\n%v", tt.mention, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("the hub did not start with the generated file: %v", err)
			}
			if err := h.stop(10 * time.Second); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
	}
}

func TestAutomationsYAMLHasTwoEntriesPerAutomation(t *testing.T) {
	y := string(benchhouse.Automations(7))
	for _, want := range []string{"- id: motion_0_on", "- id: motion_6_off", "set: light_6", "states.lux_6.illuminance"} {
		if !strings.Contains(y, want) {
			t.Errorf("generated YAML lacks %q", want)
		}
	}
	if n := strings.Count(y, "- id: "); n != 14 {
		t.Errorf("%d entries, want 14 (on and off for each of 7)", n)
	}
}

func TestNodeREDFlowsAreWiredPerAutomation(t *testing.T) {
	b, err := noderedFlows(3, 1883)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []struct {
		ID    string     `json:"id"`
		Type  string     `json:"type"`
		Z     string     `json:"z"`
		Topic string     `json:"topic"`
		Wires [][]string `json:"wires"`
	}
	if err := json.Unmarshal(b, &nodes); err != nil {
		t.Fatalf("flows are not JSON: %v", err)
	}
	byID := map[string]string{}
	count := map[string]int{}
	for _, n := range nodes {
		byID[n.ID] = n.Type
		count[n.Type]++
	}
	want := map[string]int{"mqtt-broker": 1, "tab": 3, "mqtt in": 3, "json": 3, "switch": 3, "change": 6, "mqtt out": 3}
	for typ, n := range want {
		if count[typ] != n {
			t.Errorf("%d %q nodes, want %d", count[typ], typ, n)
		}
	}
	// Follow each flow from its mqtt in node: the path must be
	// mqtt in → json → switch → change → mqtt out, on that tab.
	next := map[string]string{"mqtt in": "json", "json": "switch", "switch": "change", "change": "mqtt out"}
	for _, n := range nodes {
		if n.Type == "tab" || n.Type == "mqtt-broker" {
			continue
		}
		if _, ok := byID[n.Z]; !ok {
			t.Errorf("node %s is on tab %q, which does not exist", n.ID, n.Z)
		}
		for _, out := range n.Wires {
			for _, to := range out {
				if byID[to] != next[n.Type] {
					t.Errorf("%s (%s) is wired to %s (%s), want a %s", n.ID, n.Type, to, byID[to], next[n.Type])
				}
			}
		}
	}
}

func TestAHouseBeyondTheDefaultBoundRaisesItsHubsMaxDevices(t *testing.T) {
	dir := t.TempDir()
	if args, err := writeHubConfig(dir, 1000); err != nil || args != nil {
		t.Fatalf("1,000 devices of each kind: hub arguments %q, %v; want none (the default holds)", args, err)
	}
	args, err := writeHubConfig(dir, 4000)
	if err != nil || len(args) != 2 || args[0] != "--config" {
		t.Fatalf("4,000 devices of each kind: hub arguments %q, %v", args, err)
	}
	out, err := exec.Command(hubBinary(t), append([]string{"config"}, args...)...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "max_devices: 12016") {
		t.Fatalf("hub config %v: %v\n%s", args, err, out)
	}
}
