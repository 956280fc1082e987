package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux this runs on.
const clockTicks = 100

// procSample is what /proc says about a process at one moment.
type procSample struct {
	at         time.Time
	cpu        time.Duration // user + system time so far
	rss, hwm   int64         // resident set now and at its peak, bytes
	writeBytes int64         // bytes the process caused to be written to storage
}

// readProc samples process pid.
func readProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	// The command name in parentheses may hold spaces: fields start after
	// the last ')'. utime and stime are fields 14 and 15 of the line.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("parse stat of %d: no ')'", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("parse stat of %d: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("parse stat of %d: utime %q stime %q", pid, f[11], f[12])
	}
	s.cpu = time.Duration(ut+st) * time.Second / clockTicks

	if err := scanKV(fmt.Sprintf("/proc/%d/status", pid), func(k, v string) {
		switch k {
		case "VmRSS":
			s.rss = kib(v)
		case "VmHWM":
			s.hwm = kib(v)
		}
	}); err != nil {
		return s, err
	}
	// /proc/<pid>/io is readable by the process's owner only; a missing
	// figure is reported as -1 rather than failing the run.
	// Pages dirtied and then truncated before they reached the disk (a WAL
	// file reset) count in write_bytes and again in cancelled_write_bytes.
	s.writeBytes = -1
	var written, cancelled int64 = -1, 0
	_ = scanKV(fmt.Sprintf("/proc/%d/io", pid), func(k, v string) {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return
		}
		switch k {
		case "write_bytes":
			written = n
		case "cancelled_write_bytes":
			cancelled = n
		}
	})
	if written >= 0 {
		s.writeBytes = written - cancelled
	}
	return s, nil
}

// scanKV calls fn for each "key: value" line of a /proc file.
func scanKV(path string, fn func(k, v string)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			fn(k, strings.TrimSpace(v))
		}
	}
	return sc.Err()
}

// kib parses "1234 kB" into bytes.
func kib(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
	return n * 1024
}

// ProcUsage is what one process of a target used during a run.
type ProcUsage struct {
	Name string `json:"name"`
	// CPU is the share of one core used over the sending window, in percent.
	CPU float64 `json:"cpu_pct"`
	// RSS and HWM are the resident set at the end and its peak so far, MB.
	RSS float64 `json:"rss_mb"`
	HWM float64 `json:"hwm_mb"`
	// WriteBytes is what the process wrote to storage from the start of
	// sending until the target had settled, or -1 when unknown.
	WriteBytes int64 `json:"write_bytes"`
}

// usage compares two samples: CPU over [a, mid], writes over [a, b].
func usage(name string, a, mid, b procSample) ProcUsage {
	u := ProcUsage{Name: name, RSS: mb(b.rss), HWM: mb(b.hwm), WriteBytes: -1}
	if wall := mid.at.Sub(a.at); wall > 0 {
		u.CPU = 100 * float64(mid.cpu-a.cpu) / float64(wall)
	}
	if a.writeBytes >= 0 && b.writeBytes >= 0 {
		u.WriteBytes = b.writeBytes - a.writeBytes
	}
	return u
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// sampleAll samples every process named in pids; a process that is gone
// gives a zero sample.
func sampleAll(pids map[string]int) map[string]procSample {
	out := make(map[string]procSample, len(pids))
	for name, pid := range pids {
		s, err := readProc(pid)
		if err != nil {
			s = procSample{at: time.Now(), writeBytes: -1}
		}
		out[name] = s
	}
	return out
}

// cpuTimes is the machine's CPU time from the first line of /proc/stat,
// summed over every core.
type cpuTimes struct {
	busy, idle time.Duration
}

// readCPUTimes reads /proc/stat.
func readCPUTimes() (cpuTimes, error) {
	var t cpuTimes
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return t, fmt.Errorf("read /proc/stat: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(first)
	if len(f) < 8 || f[0] != "cpu" {
		return t, fmt.Errorf("parse /proc/stat: %q", first)
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return t, fmt.Errorf("parse /proc/stat: %q", first)
		}
		d := time.Duration(n) * time.Second / clockTicks
		switch i {
		case 3, 4: // idle, iowait
			t.idle += d
		case 8, 9: // guest time is already counted in user
		default:
			t.busy += d
		}
	}
	return t, nil
}

// idleFraction measures how idle the machine is over d: 1 is every core idle.
func idleFraction(ctx context.Context, d time.Duration) (float64, error) {
	a, err := readCPUTimes()
	if err != nil {
		return 0, err
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	b, err := readCPUTimes()
	if err != nil {
		return 0, err
	}
	total := (b.busy - a.busy) + (b.idle - a.idle)
	if total <= 0 {
		return 1, nil
	}
	return float64(b.idle-a.idle) / float64(total), nil
}

// waitIdle waits, up to maxWait, until the machine has been at least min
// idle over two seconds: on a machine shared with other work, a run that
// competes for the cores measures the neighbours. It returns the last idle
// fraction seen.
func waitIdle(ctx context.Context, min float64, maxWait time.Duration, say func(string, ...any)) float64 {
	deadline := time.Now().Add(maxWait)
	lastSaid := time.Now()
	for {
		idle, err := idleFraction(ctx, 2*time.Second)
		if err != nil || idle >= min || time.Now().After(deadline) {
			return idle
		}
		if time.Since(lastSaid) > 30*time.Second {
			say("waiting for the machine to calm down: %.0f%% idle, want %.0f%%", 100*idle, 100*min)
			lastSaid = time.Now()
		}
	}
}

// diskWritten returns the bytes written to the machine's block devices so
// far (/proc/diskstats, whole disks only): a cross-check of a process's
// write_bytes that includes what every other process wrote meanwhile.
func diskWritten() (int64, error) {
	b, err := os.ReadFile("/proc/diskstats")
	if err != nil {
		return 0, fmt.Errorf("read /proc/diskstats: %w", err)
	}
	var total int64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		name := f[2]
		// Whole disks have a folder in /sys/block; partitions do not.
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") {
			continue
		}
		if _, err := os.Stat("/sys/block/" + name); err != nil {
			continue
		}
		sectors, err := strconv.ParseInt(f[9], 10, 64)
		if err != nil {
			continue
		}
		total += sectors * 512
	}
	return total, nil
}
