package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneMemory(t *testing.T) {
	for _, tc := range []struct {
		name string
		gogc string
		want int
	}{
		{"without GOGC the hub collects at 1.5 times the live heap", "", defaultGCPercent},
		{"GOGC set in the environment is left alone", "100", 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := debug.SetGCPercent(100)
			defer debug.SetGCPercent(old)
			tuneMemory(func(key string) string {
				if key == "GOGC" {
					return tc.gogc
				}
				return ""
			})
			if got := debug.SetGCPercent(100); got != tc.want {
				t.Fatalf("GC percent %d, want %d", got, tc.want)
			}
		})
	}
}
