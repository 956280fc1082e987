package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// hubProc is one run of the hub binary.
type hubProc struct {
	cmd            *exec.Cmd
	mqtt, http     string
	exited         chan struct{} // closed once the process is reaped
	waitErr        error
	stdoutFinished chan struct{}
}

// startHub runs bin with args, its stderr and stdout going to log, and
// returns once it says it is ready (or fails within a minute).
func startHub(ctx context.Context, bin string, log io.Writer, args ...string) (*hubProc, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start hub: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = w
	cmd.Stderr = log
	// Its own process group: a Ctrl-C on the script reaches the script,
	// which then kills the hub, not the hub first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start hub: %w", err)
	}
	w.Close() // the child holds its own copy
	h := &hubProc{cmd: cmd, exited: make(chan struct{}), stdoutFinished: make(chan struct{})}
	go func() {
		h.waitErr = cmd.Wait()
		close(h.exited)
	}()
	ready := make(chan error, 1)
	go h.readStdout(r, log, ready)
	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	select {
	case err := <-ready:
		if err == nil {
			return h, nil
		}
		_ = h.Kill()
		return nil, err
	case <-timeout.C:
		_ = h.Kill()
		return nil, errors.New("the hub did not say it was ready within a minute (see hub.log)")
	case <-ctx.Done():
		_ = h.Kill()
		return nil, ctx.Err()
	}
}

// readStdout picks the addresses out of the hub's first lines, reports on
// ready when it is, and copies everything to log until the hub exits.
func (h *hubProc) readStdout(r *os.File, log io.Writer, ready chan<- error) {
	defer close(h.stdoutFinished)
	defer r.Close()
	sc := bufio.NewScanner(r)
	said := false
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(log, line)
		if said {
			continue
		}
		if a, ok := strings.CutPrefix(line, "hearth: mqtt listening on "); ok {
			h.mqtt = a
		}
		if a, ok := strings.CutPrefix(line, "hearth: http listening on http://"); ok {
			h.http = a
		}
		if line == "hearth: ready" {
			said = true
			if h.mqtt == "" || h.http == "" {
				ready <- errors.New("the hub is ready but did not say where it listens")
			} else {
				ready <- nil
			}
		}
	}
	if !said {
		ready <- errors.New("the hub exited before it was ready (see hub.log)")
	}
}

func (h *hubProc) MQTTAddr() string { return h.mqtt }
func (h *hubProc) HTTPAddr() string { return h.http }

// Kill sends SIGKILL and waits until the process is gone.
func (h *hubProc) Kill() error {
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill the hub: %w", err)
	}
	<-h.exited
	<-h.stdoutFinished
	return nil
}

// Stop sends SIGTERM and waits up to 30 s for a clean exit.
func (h *hubProc) Stop() error {
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop the hub: %w", err)
	}
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-h.exited:
		<-h.stdoutFinished
		if h.waitErr != nil {
			return fmt.Errorf("the hub did not exit cleanly on SIGTERM: %w", h.waitErr)
		}
		return nil
	case <-t.C:
		_ = h.Kill()
		return errors.New("the hub did not stop within 30s of SIGTERM; killed")
	}
}
