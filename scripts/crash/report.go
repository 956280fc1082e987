package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"hearth/internal/crashtest"
)

// report prints a line per cycle as it ends and a summary at the end.
type report struct {
	w        io.Writer
	restarts []time.Duration
	header   bool
}

func newReport(w io.Writer) *report { return &report{w: w} }

func (r *report) cycle(c crashtest.CycleResult) {
	if !r.header {
		fmt.Fprintf(r.w, "%6s %9s %9s %8s %9s %5s %5s %5s %10s %6s %9s  %s\n",
			"cycle", "published", "acked", "inflight", "logged", "dups", "lost", "over", "integrity", "timer", "restart", "result")
		r.header = true
	}
	name := fmt.Sprint(c.Cycle)
	restart := "-"
	timer := "-"
	if c.Final {
		name = "final"
	} else {
		r.restarts = append(r.restarts, c.Restart)
		restart = fmt.Sprintf("%dms", c.Restart.Milliseconds())
		switch {
		case c.TimerPending && c.TimerFired:
			timer = "fired"
		case c.TimerPending:
			timer = "LOST"
		default:
			timer = "early" // fired before the kill: not exercised
		}
	}
	integrity := "ok"
	if c.Integrity != nil {
		integrity = "FAILED"
	}
	result := "ok"
	if !c.OK() {
		result = "VIOLATION: " + strings.Join(c.Problems, "; ")
	}
	fmt.Fprintf(r.w, "%6s %9d %9d %8d %9d %5d %5d %5d %10s %6s %9s  %s\n",
		name, c.Published, c.Acked, c.InFlight, c.Logged, c.Duplicates, len(c.Lost), len(c.Over), integrity, timer, restart, result)
}

func (r *report) summary(s crashtest.Summary, took time.Duration) {
	fired, pending, lost, bad := 0, 0, 0, 0
	for _, c := range s.Cycles {
		if c.TimerPending {
			pending++
		}
		if c.TimerFired {
			fired++
		}
		lost += len(c.Lost)
		if !c.OK() {
			bad++
		}
	}
	if !s.Final.OK() {
		bad++
	}
	fmt.Fprintf(r.w, "\nsummary: %d cycles in %v, seed %d\n", len(s.Cycles), took.Round(time.Second), s.Seed)
	fmt.Fprintf(r.w, "  messages published %d, acknowledged %d, in the log %d (%d of them twice: resent after a crash)\n",
		s.Final.Published, s.Final.Acked, s.Final.Logged, s.Final.Duplicates)
	fmt.Fprintf(r.w, "  acknowledged but missing after a kill: %d; in the log more often than sent: %d\n", lost, len(s.Final.Over))
	fmt.Fprintf(r.w, "  delays pending at the kill %d, fired after the restart %d\n", pending, fired)
	if len(r.restarts) > 0 {
		rs := slices.Clone(r.restarts)
		slices.Sort(rs)
		fmt.Fprintf(r.w, "  restart (exec to ready, log of %d events at the end): median %dms, max %dms\n",
			s.Final.LastSeq, rs[len(rs)/2].Milliseconds(), rs[len(rs)-1].Milliseconds())
	}
	if bad == 0 {
		fmt.Fprintln(r.w, "  result: every promise held")
	} else {
		fmt.Fprintf(r.w, "  result: %d checks with violations\n", bad)
	}
}

// machine describes where the run happened, for the figures in the docs.
func machine(dir string) string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimLeft(v, " \t:"))
				break
			}
		}
	}
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d cores, Linux %s, %s, data on %s", cpu, runtime.NumCPU(), kernel, runtime.Version(), filesystem(dir))
}

// filesystem names the kind of file system dir is on.
func filesystem(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "?"
	}
	switch st.Type {
	case 0xEF53:
		return "ext4"
	case 0x01021994:
		return "tmpfs"
	case 0x794c7630:
		return "overlayfs"
	case 0x9123683E:
		return "btrfs"
	case 0x58465342:
		return "xfs"
	}
	return fmt.Sprintf("file system 0x%x", st.Type)
}
