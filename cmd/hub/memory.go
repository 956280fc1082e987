package main

import "runtime/debug"

// defaultGCPercent is the Go garbage collector's target the hub runs with
// when GOGC is not set: the heap may grow to 1.5 times what is live (and
// the goroutine stacks) before a collection, rather than Go's default of
// twice. Measured with 900 MQTT connections and 1,000 automations at 1,000
// events/s (docs/performance.md): about 18 MB (13%) less resident memory,
// and the collector's share of the hub's CPU from about 4% to 10%. Set GOGC
// (100 is Go's default) to trade the other way, and GOMEMLIMIT to cap the
// memory on a small Pi.
const defaultGCPercent = 50

// tuneMemory applies defaultGCPercent unless the environment sets GOGC.
func tuneMemory(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}
