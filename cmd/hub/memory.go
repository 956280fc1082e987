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

// startGCPercent is the collector's target while the hub starts, when GOGC
// is not set. Loading the benchmark's 2,000 automations allocates about
// 90 MB into a heap that only grows until the load ends (the YAML syntax
// tree stays live to the last automation): at defaultGCPercent the
// collector ran 15 times before the hub was ready, marking the same
// growing heap again and again, a quarter of the start's CPU. At 200 it
// runs a few times, and the start takes about 70 ms less CPU
// (docs/performance.md, "Start-up on a long log"); the heap peaks about
// 25 MB higher meanwhile, until Start hands the garbage back to the system.
// GOMEMLIMIT still caps it.
const startGCPercent = 200

// tuneMemory applies startGCPercent unless the environment sets GOGC, and
// returns what to call once the hub has started: it applies
// defaultGCPercent (nothing when GOGC is set).
func tuneMemory(getenv func(string) string) (started func()) {
	if getenv("GOGC") != "" {
		return func() {}
	}
	debug.SetGCPercent(startGCPercent)
	return func() { debug.SetGCPercent(defaultGCPercent) }
}
