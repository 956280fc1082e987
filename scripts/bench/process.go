package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process the benchmark started (the hub, mosquitto, Node-RED).
// Its stdout and stderr are read line by line: the last lines are kept for
// error messages, and watch sees every stdout line (to spot "listening").
type child struct {
	name    string
	cmd     *exec.Cmd
	started time.Time

	mu     sync.Mutex
	tail   []string      // the last lines of stdout and stderr
	stdout []line        // the first maxLines lines of stdout, for waitLine
	grew   chan struct{} // closed and replaced when stdout gets a line

	// watch counts output lines (stdout or stderr) containing each of
	// its keys, such as the hub's "storm stopped".
	watch map[string]int64
	// log, when set before the process starts, receives every line.
	log io.Writer

	readers sync.WaitGroup
	done    chan struct{} // closed when the process has exited
	waitErr error
}

// startChild starts cmd and the goroutines that read its output, counting
// the lines that contain each of watch. With a non-nil log, every line of
// output is also written there.
func startChild(name string, cmd *exec.Cmd, log io.Writer, watch ...string) (*child, error) {
	c := &child{name: name, cmd: cmd, grew: make(chan struct{}), done: make(chan struct{}), watch: map[string]int64{}, log: log}
	for _, w := range watch {
		c.watch[w] = 0
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	// Its own process group, so that a Ctrl-C on the benchmark does not
	// reach the child before the benchmark stops it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c.readers.Add(2)
	go c.read(stdout, true)
	go c.read(stderr, false)
	go func() {
		c.readers.Wait() // Wait must not run before the pipes are drained
		c.waitErr = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) read(r io.Reader, stdout bool) {
	defer c.readers.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		text, at := sc.Text(), time.Now()
		c.mu.Lock()
		if c.log != nil {
			fmt.Fprintln(c.log, text)
		}
		for k := range c.watch {
			if strings.Contains(text, k) {
				c.watch[k]++
			}
		}
		c.tail = append(c.tail, text)
		if len(c.tail) > 40 {
			c.tail = c.tail[len(c.tail)-40:]
		}
		if stdout && len(c.stdout) < maxLines {
			c.stdout = append(c.stdout, line{text, at})
			close(c.grew)
			c.grew = make(chan struct{})
		}
		c.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

// watched returns how many lines so far contained want, which must have
// been given to startChild.
func (c *child) watched(want string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.watch[want]
}

// pid returns the process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// output returns the last lines the process printed.
func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.tail, "\n")
}

// maxLines bounds the stdout lines kept for waitLine.
const maxLines = 2000

// line is a line of output and when the benchmark read it.
type line struct {
	text string
	at   time.Time
}

// waitLine waits for a stdout line containing want (printed at any time
// since the start) and returns it with the time it was read. A zero timeout
// only looks at the lines printed so far.
func (c *child) waitLine(ctx context.Context, want string, timeout time.Duration) (string, time.Time, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		c.mu.Lock()
		for _, l := range c.stdout {
			if strings.Contains(l.text, want) {
				c.mu.Unlock()
				return l.text, l.at, nil
			}
		}
		grew := c.grew
		c.mu.Unlock()
		if timeout == 0 {
			return "", time.Time{}, fmt.Errorf("%s has not printed %q", c.name, want)
		}
		select {
		case <-grew:
		case <-c.done:
			return "", time.Time{}, fmt.Errorf("%s exited (%v) before printing %q:\n%s", c.name, c.waitErr, want, c.output())
		case <-t.C:
			return "", time.Time{}, fmt.Errorf("%s did not print %q within %v:\n%s", c.name, want, timeout, c.output())
		case <-ctx.Done():
			return "", time.Time{}, ctx.Err()
		}
	}
}

// stop asks the process to end with SIGTERM and kills it if it has not
// within the grace period.
func (c *child) stop(grace time.Duration) error {
	select {
	case <-c.done:
		return c.exitErr()
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return c.exitErr()
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s did not stop within %v after SIGTERM; killed", c.name, grace)
	}
}

func (c *child) exitErr() error {
	var ee *exec.ExitError
	if errors.As(c.waitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil // ended by our own SIGTERM without handling it
		}
	}
	if c.waitErr != nil {
		return fmt.Errorf("%s: %w:\n%s", c.name, c.waitErr, c.output())
	}
	return nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago, for
// programs that cannot listen on port 0 and tell which port they got.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitListening polls until addr accepts a TCP connection.
func waitListening(ctx context.Context, c *child, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-c.done:
			return fmt.Errorf("%s exited (%v):\n%s", c.name, c.waitErr, c.output())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: nothing listens on %s after %v:\n%s", c.name, addr, timeout, c.output())
		}
	}
}

func addrPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
