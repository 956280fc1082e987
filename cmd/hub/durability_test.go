package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hearth"
)

// hubProcess is the hub running as a child process of the test.
type hubProcess struct {
	cmd      *exec.Cmd
	mqttAddr string
	httpAddr string
	stderr   *lockedBuffer
}

// lockedBuffer collects a child's stderr while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startHubProcess runs the hub (this test binary, see TestMain) on dataDir
// and waits until it says where it listens. Extra flags (no spaces inside
// values) are added to the command line; the log level is info unless they
// say otherwise.
func startHubProcess(t *testing.T, dataDir string, flags ...string) *hubProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	args := append([]string{"--mqtt", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", dataDir}, flags...)
	cmd.Env = append(os.Environ(), childArgsEnv+"="+strings.Join(args, " "))
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("hub process stderr:\n%s", stderr.String())
		}
	})
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start hub process: %v", err)
	}
	p := &hubProcess{cmd: cmd, stderr: stderr}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(60 * time.Second)
	for ready := false; !ready; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("hub process exited before it listened")
			}
			if a, ok := strings.CutPrefix(line, "hearth: mqtt listening on "); ok {
				p.mqttAddr = a
			}
			if a, ok := strings.CutPrefix(line, "hearth: http listening on http://"); ok {
				p.httpAddr = a
			}
			ready = line == "hearth: ready"
		case <-timeout:
			t.Fatal("hub process did not say where it listens within 60s")
		}
	}
	go func() {
		for range lines { // keep the pipe drained
		}
	}()
	return p
}

func TestAcknowledgedMessagesSurviveKill9(t *testing.T) {
	const n = 200
	dataDir := filepath.Join(t.TempDir(), "data")

	hub := startHubProcess(t, dataDir)
	sensor := connect(t, hub.mqttAddr, "thermometer")
	for i := 1; i <= n; i++ {
		// publish waits for each PUBACK: every one of these was acknowledged.
		publish(t, sensor, "home/living_temp", 1, fmt.Sprintf(`{"temperature":%d,"n":%d}`, 15+i%10, i))
	}
	if err := hub.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = hub.cmd.Wait()
	sensor.Disconnect(0)

	hub = startHubProcess(t, dataDir)
	var got []apiEvent
	for before := uint64(0); ; {
		q := "kind=message&device=living_temp&limit=1000"
		if before > 0 {
			q += fmt.Sprintf("&before=%d", before)
		}
		page := events(t, hub.httpAddr, q)
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		before = page[len(page)-1].Seq
	}
	if len(got) != n {
		t.Fatalf("log has %d of the %d acknowledged messages after kill -9", len(got), n)
	}
	seen := map[float64]bool{}
	for _, e := range got {
		var p map[string]float64
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatalf("payload %s: %v", e.Payload, err)
		}
		seen[p["n"]] = true
	}
	for i := 1; i <= n; i++ {
		if !seen[float64(i)] {
			t.Fatalf("acknowledged message %d is missing from the log", i)
		}
	}

	var d hearth.DeviceState
	getJSON(t, "http://"+hub.httpAddr+"/api/devices/living_temp", &d)
	if d.State["n"] != float64(n) || d.State["temperature"] != float64(15+n%10) {
		t.Fatalf("living_temp after restart is %v, want the last published state (n=%d)", d.State, n)
	}
}

func TestSIGTERMFlushesEveryMessageToTheLog(t *testing.T) {
	const n = 500
	dataDir := filepath.Join(t.TempDir(), "data")

	hub := startHubProcess(t, dataDir)
	watcher := connect(t, hub.mqttAddr, "watcher")
	seen := subscribe(t, watcher, "home/door")
	sensor := connect(t, hub.mqttAddr, "door")
	for i := 1; i <= n; i++ {
		sensor.Publish("home/door", 0, false, fmt.Sprintf(`{"contact":%t,"n":%d}`, i%2 == 0, i))
	}
	// Once the watcher has every message, the hub has published them all on
	// its bus; whether they are on disk yet is up to the shutdown.
	for i := 0; i < n; i++ {
		select {
		case <-seen:
		case <-time.After(10 * time.Second):
			t.Fatalf("watcher got %d of %d messages", i, n)
		}
	}
	if err := hub.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := hub.cmd.Wait(); err != nil {
		t.Fatalf("hub did not exit cleanly on SIGTERM: %v", err)
	}

	hub = startHubProcess(t, dataDir)
	got := events(t, hub.httpAddr, "kind=message&topic=home/door&limit=1000")
	if len(got) != n {
		t.Fatalf("log has %d of %d messages after SIGTERM", len(got), n)
	}
	var d hearth.DeviceState
	getJSON(t, "http://"+hub.httpAddr+"/api/devices/door", &d)
	if d.State["n"] != float64(n) {
		t.Fatalf("door after restart is %v, want n=%d", d.State, n)
	}
}
