package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// automationsYAML is the soak's automations: the probe's pair, and for the
// simulated house (sim.Spread: motion_0, light_1, ..., motion_5, light_6,
// ...) motion i turning light i+1 on, and off again after hold, so that
// timers are set and cancelled all the time.
func automationsYAML(devices int, hold time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, `- id: soak_probe_on
  triggers: [{device: %[1]s, when: occupancy == true}]
  actions: [{set: %[2]s, state: {state: "ON"}}]
- id: soak_probe_off
  triggers: [{device: %[1]s, when: occupancy == false}]
  actions: [{set: %[2]s, state: {state: "OFF"}}]
`, probeSensor, probeLight)
	for i := 0; i+1 < devices; i += 5 {
		fmt.Fprintf(&b, `- id: motion_%[1]d_light
  mode: restart
  triggers: [{device: motion_%[1]d, when: occupancy == true}]
  actions:
    - set: light_%[2]d
      state: {state: "ON", brightness: 200}
    - delay: %[3]s
    - set: light_%[2]d
      state: {state: "OFF"}
`, i, i+1, hold)
	}
	return b.String()
}

// child is a process the soak started, with its output going to a file.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// start runs cmd with its output in logPath; lines holds each line of
// standard output as it comes, until the reader stops reading it.
func start(name string, cmd *exec.Cmd, logPath string, lines chan<- string) (*child, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("%s stdout: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(logFile, sc.Text())
			if lines != nil {
				select {
				case lines <- sc.Text():
				default:
				}
			}
		}
		_, _ = io.Copy(logFile, stdout)
		c.err = cmd.Wait()
		logFile.Close()
		close(c.done)
	}()
	return c, nil
}

// stop asks the process to end (SIGTERM) and kills it after grace.
func (c *child) stop(grace time.Duration) error {
	select {
	case <-c.done:
		return fmt.Errorf("%s had already ended: %v", c.name, c.err)
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return nil
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s did not stop within %v: killed", c.name, grace)
	}
}

// hub is the running hub.
type hub struct {
	*child
	data, mqttAddr, httpAddr string
	http                     *http.Client
}

// startHub starts bin on data with the automations file and waits until it
// says where it listens.
func startHub(ctx context.Context, bin, dir, automations string) (*hub, error) {
	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin, "--mqtt", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", data,
		"--automations", automations, "--log-level", "warn")
	lines := make(chan string, 16)
	c, err := start("hub", cmd, filepath.Join(dir, "hub.log"), lines)
	if err != nil {
		return nil, err
	}
	h := &hub{child: c, data: data, http: &http.Client{Timeout: 10 * time.Second}}
	timeout := time.After(60 * time.Second)
	for h.mqttAddr == "" || h.httpAddr == "" {
		select {
		case line := <-lines:
			if a, ok := strings.CutPrefix(line, "hearth: mqtt listening on "); ok {
				h.mqttAddr = a
			}
			if a, ok := strings.CutPrefix(line, "hearth: http listening on http://"); ok {
				h.httpAddr = a
			}
		case <-c.done:
			return nil, fmt.Errorf("the hub ended before listening (%v): see %s", c.err, filepath.Join(dir, "hub.log"))
		case <-timeout:
			_ = c.stop(10 * time.Second)
			return nil, errors.New("the hub did not say where it listens within 60s")
		case <-ctx.Done():
			_ = c.stop(10 * time.Second)
			return nil, ctx.Err()
		}
	}
	return h, nil
}

// metrics reads the named figures from the hub's /metrics (the Prometheus
// text format); the values of a metric with labels are summed.
func (h *hub) metrics(ctx context.Context, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+h.httpAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		if !want[name] {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[name] += v
		}
	}
	return out, sc.Err()
}

// rss is the resident set of process pid from /proc, in bytes.
func rss(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// dirSize is the size of the files in dir (the log, its WAL, snapshots).
func dirSize(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}
