package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Lock makes this process the one that records to the log. Two hubs on
// one data folder would hand out the same sequence numbers, and the first
// commit of one would fail the other. The lock is the kernel's (flock) on
// <file>.lock, which also names the process holding it: it goes with the
// process, at a crash or a kill -9 too, so a stale one never stops a
// start. What records no events (the page of a split hub, hub automations
// test, hub user add --web) takes none. Close lets it go.
func (s *Store) Lock() error {
	path := s.path + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("lock the log: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another process"
			if pid := strings.TrimSpace(string(holder)); pid != "" {
				who = "process " + pid
			}
			return fmt.Errorf("the log %s is in use by %s, another hub on the same data folder: one hub records to a data folder at a time", s.path, who)
		}
		return fmt.Errorf("lock the log: %s: %w", path, err)
	}
	pid := strconv.Itoa(os.Getpid()) + "\n"
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(pid), 0)
	}
	s.lock = f
	return nil
}
