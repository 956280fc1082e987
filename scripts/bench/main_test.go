package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"hearth/internal/hubbin"
)

// testBin is the hub binary the tests share, built on first use into a
// folder TestMain removes.
var testBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hearth-bench-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testBin.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// hubBinary builds the hub once for all tests, or takes the binary that
// $BENCH_HUB_BIN names (to test against another build).
func hubBinary(t *testing.T) string {
	t.Helper()
	testBin.once.Do(func() {
		if p := os.Getenv("BENCH_HUB_BIN"); p != "" {
			testBin.path = p
			return
		}
		testBin.path, testBin.err = hubbin.Build(context.Background(), testBin.dir)
	})
	if testBin.err != nil {
		t.Fatal(testBin.err)
	}
	return testBin.path
}
