package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

// The peers: what a user would run instead of the hub, driven by the same
// load generator in the same run.
const (
	peerMosquittoEcho = "mosquitto-echo"
	peerNodeRED       = "nodered"
	peerHubExternal   = "hub-external"
)

// mosquittoBin is Debian's broker.
const mosquittoBin = "/usr/sbin/mosquitto"

// mosquitto is a Mosquitto broker started with its own config file.
type mosquitto struct {
	*child
	addr string
	port int
}

// startMosquitto starts Mosquitto on a free port of 127.0.0.1 with a config
// in dir: anonymous clients, no persistence, Debian's defaults otherwise
// (what a user who installs the package gets).
func startMosquitto(ctx context.Context, dir string) (*mosquitto, error) {
	if _, err := os.Stat(mosquittoBin); err != nil {
		return nil, fmt.Errorf("mosquitto: %w (apt-get install mosquitto)", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	text := fmt.Sprintf(`# Written by scripts/bench.
listener %d 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
log_type error
log_type warning
`, port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("mosquitto config: %w", err)
	}
	c, err := startChild("mosquitto", exec.Command(mosquittoBin, "-c", conf), nil)
	if err != nil {
		return nil, err
	}
	m := &mosquitto{child: c, addr: addrPort(port), port: port}
	if err := waitListening(ctx, c, m.addr, 10*time.Second); err != nil {
		_ = c.stop(5 * time.Second)
		return nil, err
	}
	return m, nil
}

// echoTarget is Mosquitto alone: the lights subscribe to the sensors' own
// topics, so a latency is one broker hop, the floor for any hub behind a
// broker (and the generator's own overhead).
type echoTarget struct {
	m *mosquitto
}

func newEchoTarget(ctx context.Context, dir string) (*echoTarget, error) {
	m, err := startMosquitto(ctx, dir)
	if err != nil {
		return nil, err
	}
	return &echoTarget{m: m}, nil
}

func (t *echoTarget) Name() string                        { return peerMosquittoEcho }
func (t *echoTarget) Addr() string                        { return t.m.addr }
func (t *echoTarget) CommandTopic(i int) string           { return sensorTopic(i) }
func (t *echoTarget) Pids() map[string]int                { return map[string]int{"mosquitto": t.m.pid()} }
func (t *echoTarget) Settle(context.Context) error        { return nil }
func (t *echoTarget) Info(context.Context) map[string]any { return nil }
func (t *echoTarget) Close() error                        { return t.m.stop(10 * time.Second) }

// externalTarget is the hub in external-broker mode: devices talk to
// Mosquitto, and the hub is one more client of it.
type externalTarget struct {
	m *mosquitto
	h *hubProc
}

// errUnsupported says a peer cannot run with this build of the hub.
var errUnsupported = errors.New("not supported by this hub")

func newExternalTarget(ctx context.Context, bin, dir, automations string, args ...string) (*externalTarget, error) {
	if !hubSupports(bin, "broker") {
		return nil, fmt.Errorf("hub --broker: %w (hub --help lists no --broker flag)", errUnsupported)
	}
	m, err := startMosquitto(ctx, dir)
	if err != nil {
		return nil, err
	}
	h, err := startHub(ctx, bin, filepath.Join(dir, "hub-external-data"), automations, append(slices.Clone(args), "--broker", "mqtt://"+m.addr)...)
	if err != nil {
		_ = m.stop(5 * time.Second)
		return nil, err
	}
	return &externalTarget{m: m, h: h}, nil
}

func (t *externalTarget) Name() string              { return peerHubExternal }
func (t *externalTarget) Addr() string              { return t.m.addr }
func (t *externalTarget) CommandTopic(i int) string { return lightTopic(i) }
func (t *externalTarget) Pids() map[string]int {
	return map[string]int{"hub": t.h.pid(), "mosquitto": t.m.pid()}
}
func (t *externalTarget) Settle(ctx context.Context) error { return t.h.settle(ctx) }
func (t *externalTarget) Info(ctx context.Context) map[string]any {
	return t.h.info(ctx)
}
func (t *externalTarget) Close() error {
	return errors.Join(t.h.stop(30*time.Second), t.m.stop(10*time.Second))
}

func (t *externalTarget) problems() map[string]int64 {
	return map[string]int64{"automations paused by the hub's storm guard": t.h.watched(stormLine)}
}
