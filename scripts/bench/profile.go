package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// With -profile the hub runs with --pprof on a free port of 127.0.0.1
// (cmd/hub/pprof.go, which also turns the mutex and block profiles on), and
// the profiles of each run go to the -profile folder. Profiling perturbs
// the figures, so the tables of a -profile run are not the ones to quote.

// profiler fetches profiles from a hub started with --pprof.
type profiler struct {
	addr string
	dir  string
	http *http.Client
}

// cpu records a CPU profile for d into name.cpu.pprof; call it in its own
// goroutine while the load runs.
func (p *profiler) cpu(ctx context.Context, name string, d time.Duration) error {
	return p.fetch(ctx, fmt.Sprintf("profile?seconds=%d", max(1, int(d.Seconds()))), name+".cpu.pprof")
}

// snapshots records the heap (after a GC), allocations, mutex and block
// profiles into name.*.pprof.
func (p *profiler) snapshots(ctx context.Context, name string) error {
	for _, kind := range []string{"heap?gc=1", "allocs", "mutex", "block", "goroutine"} {
		base, _, _ := strings.Cut(kind, "?")
		file := name + "." + base + ".pprof"
		if err := p.fetch(ctx, kind, file); err != nil {
			return err
		}
	}
	return nil
}

func (p *profiler) fetch(ctx context.Context, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+"/debug/pprof/"+path, nil)
	if err != nil {
		return err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return fmt.Errorf("pprof %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof %s: %s", path, resp.Status)
	}
	f, err := os.Create(filepath.Join(p.dir, file))
	if err != nil {
		return fmt.Errorf("pprof %s: %w", path, err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("pprof %s: %w", path, err)
	}
	return f.Close()
}
