package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// The hub has no pprof endpoint, and the benchmark does not change its
// source. With -profile it builds a second binary with one more file in
// package main, through `go build -overlay`: the file exists only in the
// temporary folder, and it serves net/http/pprof on the address in
// $HEARTH_BENCH_PPROF with mutex and block profiling on. Its figures are
// perturbed by the profiling, so the tables of a -profile run are not the
// ones to quote.
const pprofOverlay = `package main

// Added by scripts/bench -profile through go build -overlay; not part of
// the hub's source.

import (
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
)

func init() {
	addr := os.Getenv("HEARTH_BENCH_PPROF")
	if addr == "" {
		return
	}
	runtime.SetMutexProfileFraction(10)
	runtime.SetBlockProfileRate(10000)
	go http.ListenAndServe(addr, nil)
}
`

// buildProfilingHub builds cmd/hub with the pprof overlay into dir.
func buildProfilingHub(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	src := filepath.Join(dir, "zz_bench_pprof.go")
	if err := os.WriteFile(src, []byte(pprofOverlay), 0o600); err != nil {
		return "", fmt.Errorf("pprof overlay: %w", err)
	}
	overlay, err := json.Marshal(map[string]any{"Replace": map[string]string{
		filepath.Join(root, "cmd", "hub", "zz_bench_pprof.go"): src,
	}})
	if err != nil {
		return "", err
	}
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o600); err != nil {
		return "", fmt.Errorf("pprof overlay: %w", err)
	}
	bin := filepath.Join(dir, "hub-pprof")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-overlay", ov, "-o", bin, "./cmd/hub")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build profiling hub: %w\n%s", err, out)
	}
	return bin, nil
}

// profiler fetches profiles from a hub built by buildProfilingHub.
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
		file := name + "." + kind[:len(kind)-len(trimQuery(kind))] + ".pprof"
		if err := p.fetch(ctx, kind, file); err != nil {
			return err
		}
	}
	return nil
}

// trimQuery returns the query part of s ("?gc=1"), or "".
func trimQuery(s string) string {
	for i := range s {
		if s[i] == '?' {
			return s[i:]
		}
	}
	return ""
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
