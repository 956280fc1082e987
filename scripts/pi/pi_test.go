package pi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"
)

// Emulation is 9–18× slower than native, and CI machines are shared: the
// waits below are generous on purpose; none of them is an assertion on speed.
const (
	buildTimeout = 10 * time.Minute
	startTimeout = 2 * time.Minute
	stopTimeout  = time.Minute
	wait         = 30 * time.Second
)

// testVersion is stamped into the binaries under test.
const testVersion = "pi-test"

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// piTarget is one build and the emulated CPU it must run on.
type piTarget struct {
	target string // scripts/build's name for it
	qemu   string // the qemu-user-static emulator
	cpu    string // QEMU_CPU
}

func TestPiBuildsRunUnderQEMU(t *testing.T) {
	requireQEMU(t, "qemu-aarch64-static", "qemu-arm-static")
	dist := build(t, "arm64", "armv6", "armv7")

	for _, tc := range []struct {
		name string
		piTarget
	}{
		{"the arm64 build runs the hub on a Cortex-A53 (Pi 3, Zero 2 W, 64-bit OS)", piTarget{"arm64", "qemu-aarch64-static", "cortex-a53"}},
		{"the armv6 build runs the hub on an ARM1176 (Pi 1, Zero)", piTarget{"armv6", "qemu-arm-static", "arm1176"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(dist, "hub-linux-"+tc.target)
			if out, err := emulate(t, tc.piTarget, bin, "--version"); err != nil || out != "hearth "+testVersion+"\n" {
				t.Fatalf("--version: %q, %v; want \"hearth %s\"", out, err, testVersion)
			}
			hub := startHub(t, tc.piTarget, bin,
				"--mqtt", "127.0.0.1:0", "--http", "127.0.0.1:0",
				"--data", filepath.Join(t.TempDir(), "data"), "--log-level", "warn")
			checkMessageLogged(t, hub)
			checkHealthz(t, hub)
			hub.stop(t)
		})
	}

	t.Run("the arm64 build installed by scripts/install starts as its unit runs it, with the default config", func(t *testing.T) {
		requireInstallable(t)
		root := newRoot(t)
		runInstall(t, root, "true", filepath.Join(dist, "hub-linux-arm64"))
		// The unit's command line, with its paths moved under root and the
		// listeners moved off the default ports (flags override the config).
		var args []string
		for line := range strings.Lines(readFile(t, filepath.Join(root, "etc/systemd/system/hearth.service"))) {
			if cmd, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart="); ok {
				args = strings.Fields(cmd)
			}
		}
		if len(args) == 0 {
			t.Fatal("the unit has no ExecStart")
		}
		for i, a := range args {
			if strings.HasPrefix(a, "/") {
				args[i] = filepath.Join(root, a)
			}
		}
		args = append(args, "--mqtt", "127.0.0.1:0", "--http", "127.0.0.1:0")
		hub := startHub(t, piTarget{"arm64", "qemu-aarch64-static", "cortex-a53"}, args[0], args[1:]...)
		checkMessageLogged(t, hub)
		hub.stop(t)
		if _, err := os.Stat(filepath.Join(root, "var/lib/hearth/hearth.db")); err != nil {
			t.Fatalf("no log in the installed data folder: %v", err)
		}
	})

	t.Run("the armv7 build runs on a Cortex-A7 but dies with an illegal instruction on an ARM1176", func(t *testing.T) {
		// This is what makes the armv6 run above meaningful: had
		// scripts/build produced an ARMv7 binary under the armv6 name, the
		// ARM1176 emulation would have caught it.
		bin := filepath.Join(dist, "hub-linux-armv7")
		if out, err := emulate(t, piTarget{"armv7", "qemu-arm-static", "cortex-a7"}, bin, "--version"); err != nil {
			t.Fatalf("armv7 on a Cortex-A7: %v\n%s", err, out)
		}
		out, err := emulate(t, piTarget{"armv7", "qemu-arm-static", "arm1176"}, bin, "--version")
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("armv7 on an ARM1176: %v, want it killed by SIGILL\n%s", err, out)
		}
		if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGILL {
			t.Fatalf("armv7 on an ARM1176 ended with %v, want it killed by SIGILL\n%s", exit, out)
		}
	})
}

// requireQEMU skips the test when an emulator is missing, unless CI=true:
// then it fails, so CI never passes by skipping.
func requireQEMU(t *testing.T, names ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping the cross-builds under qemu in -short mode")
	}
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true and %s is missing: install it (apt-get install qemu-user-static)", name)
			}
			t.Skipf("skipping the Pi builds: no %s (apt-get install qemu-user-static, or set CI=true to make this a failure)", name)
		}
	}
}

// build runs scripts/build for targets into a temporary folder and returns
// it. The test checks what users ship, so it goes through the script rather
// than its own go build.
func build(t *testing.T, targets ...string) string {
	t.Helper()
	dist := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join("..", "build")}, targets...)...)
	cmd.Env = append(os.Environ(), "DIST="+dist, "VERSION="+testVersion)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/build %s: %v\n%s", strings.Join(targets, " "), err, out)
	}
	t.Logf("scripts/build in %v:\n%s", time.Since(start).Round(100*time.Millisecond), out)
	return dist
}

// emulate runs bin under its emulator to completion and returns its output.
func emulate(t *testing.T, p piTarget, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.qemu, append([]string{bin}, args...)...)
	cmd.Env = append(os.Environ(), "QEMU_CPU="+p.cpu)
	cmd.Dir = t.TempDir() // qemu drops a core file here when the guest crashes
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// hub is the hub running under qemu as a child process of the test.
type hub struct {
	cmd      *exec.Cmd
	stdout   *syncBuffer
	stderr   *syncBuffer
	exited   chan struct{} // closed once cmd.Wait returned
	waitErr  error         // cmd.Wait's result, set before exited closes
	mqttAddr string
	httpAddr string
}

// startHub starts the hub under emulation with args and waits until it
// prints where it listens.
func startHub(t *testing.T, p piTarget, bin string, args ...string) *hub {
	t.Helper()
	h := &hub{stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	h.cmd = exec.Command(p.qemu, append([]string{bin}, args...)...)
	h.cmd.Env = append(os.Environ(), "QEMU_CPU="+p.cpu)
	h.cmd.Dir = t.TempDir()
	h.cmd.Stdout, h.cmd.Stderr = h.stdout, h.stderr
	start := time.Now()
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("start %s %s: %v", p.qemu, bin, err)
	}
	go func() {
		h.waitErr = h.cmd.Wait()
		close(h.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-h.exited:
		default:
			_ = h.cmd.Process.Kill()
			<-h.exited
		}
	})

	// Polling with a deadline: the addresses come from another process.
	deadline := time.Now().Add(startTimeout)
	for h.mqttAddr == "" || h.httpAddr == "" {
		select {
		case <-h.exited:
			t.Fatalf("the hub exited before it listened: %v\nstdout:\n%s\nstderr:\n%s", h.waitErr, h.stdout, h.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hub did not say where it listens within %v\nstdout:\n%s\nstderr:\n%s", startTimeout, h.stdout, h.stderr)
		}
		for line := range strings.Lines(h.stdout.String()) {
			line = strings.TrimSpace(line)
			if a, ok := strings.CutPrefix(line, "hearth: mqtt listening on "); ok {
				h.mqttAddr = a
			}
			if a, ok := strings.CutPrefix(line, "hearth: http listening on http://"); ok {
				h.httpAddr = a
			}
		}
	}
	t.Logf("%s under %s (QEMU_CPU=%s) listening after %v", filepath.Base(bin), p.qemu, p.cpu, time.Since(start).Round(time.Millisecond))
	return h
}

// stop sends SIGTERM and checks that the hub exits with code 0.
func (h *hub) stop(t *testing.T) {
	t.Helper()
	start := time.Now()
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-h.exited:
	case <-time.After(stopTimeout):
		t.Fatalf("the hub did not exit within %v of SIGTERM\nstderr:\n%s", stopTimeout, h.stderr)
	}
	if h.waitErr != nil {
		t.Fatalf("the hub's exit after SIGTERM: %v, want code 0\nstderr:\n%s", h.waitErr, h.stderr)
	}
	t.Logf("exited with code 0 %v after SIGTERM", time.Since(start).Round(time.Millisecond))
}

// checkMessageLogged publishes one QoS 1 message with paho and finds it in
// the log through the HTTP API. The PUBACK comes only once the message is
// committed, so the log has it as soon as Publish returns.
func checkMessageLogged(t *testing.T, h *hub) {
	t.Helper()
	const topic = "home/pi_test"
	payload := fmt.Sprintf(`{"n":%d}`, time.Now().UnixNano())

	opts := paho.NewClientOptions().
		AddBroker("tcp://" + h.mqttAddr).
		SetClientID("pi_test").
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetCleanSession(true).
		SetConnectTimeout(wait)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("paho connect to %s: %v", h.mqttAddr, tok.Error())
	}
	defer c.Disconnect(250)
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(wait) {
		t.Fatalf("publish %s: no PUBACK within %v", topic, wait)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}

	var evs []struct {
		Kind    string          `json:"kind"`
		Topic   string          `json:"topic"`
		Payload json.RawMessage `json:"payload"`
	}
	if code := get(t, h, "/api/events?topic="+topic, &evs); code != http.StatusOK {
		t.Fatalf("GET /api/events?topic=%s: status %d", topic, code)
	}
	for _, e := range evs {
		if e.Kind == "message" && e.Topic == topic && string(e.Payload) == payload {
			return
		}
	}
	t.Fatalf("GET /api/events?topic=%s: %d events, none the message %s just acknowledged", topic, len(evs), payload)
}

// checkHealthz checks that /healthz answers 200 with status ok.
func checkHealthz(t *testing.T, h *hub) {
	t.Helper()
	var body struct {
		Status string `json:"status"`
	}
	if code := get(t, h, "/healthz", &body); code != http.StatusOK || body.Status != "ok" {
		t.Fatalf("GET /healthz: status %d, body %+v; want 200 and ok", code, body)
	}
}

// get fetches path from the hub's HTTP API, decodes a 200 answer into v and
// returns the status.
func get(t *testing.T, h *hub, path string, v any) int {
	t.Helper()
	client := &http.Client{Timeout: wait}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + h.httpAddr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: decode: %v", path, err)
		}
	}
	return resp.StatusCode
}

// syncBuffer is a bytes.Buffer that a child process writes to while the
// test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
