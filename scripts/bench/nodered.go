package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// noderedPackage is what `npm install` fetches: Node-RED 4, as a user
// installing it today gets.
const noderedPackage = "node-red@4"

// installNodeRED installs Node-RED with npm into prefix unless it is there
// already, and returns the path of its red.js.
func installNodeRED(ctx context.Context, prefix string) (string, error) {
	red := filepath.Join(prefix, "node_modules", "node-red", "red.js")
	if _, err := os.Stat(red); err == nil {
		return red, nil
	}
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return "", fmt.Errorf("install node-red: %w", err)
	}
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", prefix, "--no-audit", "--no-fund", "--loglevel=error", noderedPackage)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install %s: %w\n%s", noderedPackage, err, out)
	}
	if _, err := os.Stat(red); err != nil {
		return "", fmt.Errorf("npm install %s: %w", noderedPackage, err)
	}
	return red, nil
}

// noderedFlows builds the flow file: the broker config node and, for each
// automation i, one tab holding mqtt in → json → switch → change → mqtt out,
// which is how a Node-RED user writes "motion i turns light i on and off".
// The in node subscribes at QoS 1 and the out node takes the message's QoS,
// so the whole path runs at the QoS the sensor published with, as in the
// hub. There is no condition on the lux sensor: Node-RED would need a
// context store for that, so it does a little less work than the hub.
func noderedFlows(n, brokerPort int) ([]byte, error) {
	const broker = "bench_broker"
	nodes := []map[string]any{{
		"id": broker, "type": "mqtt-broker", "name": "mosquitto",
		"broker": "127.0.0.1", "port": strconv.Itoa(brokerPort), "clientid": "nodered-bench",
		"autoConnect": true, "usetls": false, "protocolVersion": "4", "keepalive": "60",
		"cleansession": true, "autoUnsubscribe": true,
		"birthTopic": "", "closeTopic": "", "willTopic": "",
	}}
	for i := 0; i < n; i++ {
		id := func(s string) string { return fmt.Sprintf("a%d_%s", i, s) }
		tab := id("tab")
		nodes = append(nodes,
			map[string]any{"id": tab, "type": "tab", "label": fmt.Sprintf("motion %d → light %d", i, i), "disabled": false},
			map[string]any{
				"id": id("in"), "type": "mqtt in", "z": tab, "name": "", "topic": sensorTopic(i),
				"qos": "1", "datatype": "utf8", "broker": broker, "nl": false, "rap": true, "rh": 0, "inputs": 0,
				"x": 100, "y": 100, "wires": [][]string{{id("json")}},
			},
			map[string]any{
				"id": id("json"), "type": "json", "z": tab, "name": "", "property": "payload",
				"action": "obj", "pretty": false, "x": 250, "y": 100, "wires": [][]string{{id("switch")}},
			},
			map[string]any{
				"id": id("switch"), "type": "switch", "z": tab, "name": "occupancy", "property": "payload.occupancy",
				"propertyType": "msg", "rules": []map[string]any{{"t": "true"}, {"t": "false"}},
				"checkall": "true", "repair": false, "outputs": 2,
				"x": 400, "y": 100, "wires": [][]string{{id("on")}, {id("off")}},
			},
			change(id("on"), tab, `{"state":"ON","brightness":200}`, id("out"), 80),
			change(id("off"), tab, `{"state":"OFF"}`, id("out"), 120),
			map[string]any{
				"id": id("out"), "type": "mqtt out", "z": tab, "name": "", "topic": lightTopic(i),
				"qos": "", "retain": "false", "broker": broker, "x": 700, "y": 100, "wires": [][]string{},
			},
		)
	}
	return json.Marshal(nodes)
}

func change(id, tab, payload, next string, y int) map[string]any {
	return map[string]any{
		"id": id, "type": "change", "z": tab, "name": "",
		"rules": []map[string]any{{"t": "set", "p": "payload", "pt": "msg", "to": payload, "tot": "json"}},
		"x":     550, "y": y, "wires": [][]string{{next}},
	}
}

// noderedTarget is Node-RED and its Mosquitto.
type noderedTarget struct {
	m    *mosquitto
	node *child
}

// newNodeREDTarget installs Node-RED (into prefix, or a folder under dir when
// prefix is empty), writes its settings and flows into dir and starts it
// with Mosquitto, and waits until its broker connection is up.
func newNodeREDTarget(ctx context.Context, dir, prefix string, automations int) (*noderedTarget, error) {
	if prefix == "" {
		prefix = filepath.Join(dir, "nodered-install")
	}
	red, err := installNodeRED(ctx, prefix)
	if err != nil {
		return nil, err
	}
	m, err := startMosquitto(ctx, dir)
	if err != nil {
		return nil, err
	}
	user := filepath.Join(dir, "nodered-user")
	uiPort, err := freePort()
	if err == nil {
		err = os.MkdirAll(user, 0o700)
	}
	var flows []byte
	if err == nil {
		flows, err = noderedFlows(automations, m.port)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(user, "flows.json"), flows, 0o600)
	}
	settings := filepath.Join(user, "settings.js")
	if err == nil {
		err = os.WriteFile(settings, fmt.Appendf(nil, `// Written by scripts/bench.
module.exports = {
    uiHost: "127.0.0.1",
    uiPort: %d,
    userDir: %q,
    flowFile: "flows.json",
    credentialSecret: false,
    disableEditor: true,
    logging: { console: { level: "info", metrics: false, audit: false } },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    diagnostics: { enabled: false },
    runtimeState: { enabled: false },
    telemetry: { enabled: false },
}
`, uiPort, user), 0o600)
	}
	if err != nil {
		_ = m.stop(5 * time.Second)
		return nil, fmt.Errorf("node-red: %w", err)
	}
	node, err := startChild("node-red", exec.Command("node", red, "--settings", settings, "--userDir", user), nil)
	if err != nil {
		_ = m.stop(5 * time.Second)
		return nil, err
	}
	t := &noderedTarget{m: m, node: node}
	for _, want := range []string{"Started flows", "Connected to broker"} {
		if _, _, err := node.waitLine(ctx, want, 3*time.Minute); err != nil {
			_ = t.Close()
			return nil, err
		}
	}
	return t, nil
}

func (t *noderedTarget) Name() string              { return peerNodeRED }
func (t *noderedTarget) Addr() string              { return t.m.addr }
func (t *noderedTarget) CommandTopic(i int) string { return lightTopic(i) }
func (t *noderedTarget) Pids() map[string]int {
	return map[string]int{"node-red": t.node.pid(), "mosquitto": t.m.pid()}
}
func (t *noderedTarget) Settle(context.Context) error        { return nil }
func (t *noderedTarget) Info(context.Context) map[string]any { return nil }
func (t *noderedTarget) Close() error {
	err := t.node.stop(20 * time.Second)
	if err2 := t.m.stop(10 * time.Second); err == nil {
		err = err2
	}
	return err
}
