package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneMemory(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		gogc                 string
		whileStarting, after int
	}{
		{"without GOGC the hub collects at three times the live heap while it starts, then at 1.5 times", "", startGCPercent, defaultGCPercent},
		{"GOGC set in the environment is left alone", "100", 100, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := debug.SetGCPercent(100)
			defer debug.SetGCPercent(old)
			started := tuneMemory(func(key string) string {
				if key == "GOGC" {
					return tc.gogc
				}
				return ""
			})
			if got := debug.SetGCPercent(100); got != tc.whileStarting {
				t.Fatalf("GC percent while starting %d, want %d", got, tc.whileStarting)
			}
			debug.SetGCPercent(tc.whileStarting)
			started()
			if got := debug.SetGCPercent(100); got != tc.after {
				t.Fatalf("GC percent once started %d, want %d", got, tc.after)
			}
		})
	}
}
