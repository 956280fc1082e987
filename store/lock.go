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

// LogLock makes the process holding it the one that records to the log at
// path. Two hubs on one data folder would hand out the same sequence
// numbers, and the first commit of one would fail the other. The lock is
// the kernel's (flock) on <path>.lock, which also names the process holding
// it: it goes with the process, at a crash or a kill -9 too, so a stale one
// never stops a start. Take it before Open, which may migrate the file: a
// newer hub started by hand beside the service must not change the log
// under it. What records no events (the page of a split hub, hub
// automations test, hub user add --web) takes none.
type LogLock struct{ f *os.File }

// Lock takes the log's lock, or says which process holds it.
func Lock(path string) (*LogLock, error) {
	lockPath := path + ".lock"
	f, err := openLockFile(lockPath)
	if err != nil {
		if cause, disk := diskTrouble(err); disk { // trouble.go: say it in words
			err = fmt.Errorf("%s: %w", cause, err)
		}
		return nil, fmt.Errorf("lock the log %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another process"
			if pid := strings.TrimSpace(string(holder)); pid != "" {
				who = "process " + pid
			}
			return nil, fmt.Errorf("the log %s is in use by %s, another hub on the same data folder: one hub records to a data folder at a time", path, who)
		}
		return nil, fmt.Errorf("lock the log: %s: %w", lockPath, err)
	}
	// The process id is only what the next hub's error names; the lock
	// holds without it, so a failure to write it is not one to stop for.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &LogLock{f: f}, nil
}

// openLockFile opens the lock file, making it and its folder as the log's
// own file is made (createFile) when missing.
func openLockFile(path string) (*os.File, error) {
	if err := createFile(path); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_RDWR, 0)
}

// Close lets the lock go. A nil lock is none.
func (l *LogLock) Close() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}
