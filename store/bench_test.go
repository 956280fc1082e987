package store

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"hearth"
)

// sensorPair is a realistic message and the state change folded from it.
func sensorPair(i int) (hearth.Event, hearth.Event) {
	dev := fmt.Sprintf("sensor_%03d", i%200)
	payload := fmt.Appendf(nil, `{"occupancy":%t,"illuminance":%d,"battery":97,"linkquality":120}`, i%2 == 0, i%1000)
	return hearth.Event{Kind: hearth.KindMessage, Topic: "home/" + dev, Device: dev, Client: dev, Payload: payload, QoS: 1},
		hearth.Event{Kind: hearth.KindState, Device: dev, Payload: payload, Prev: payload}
}

// BenchmarkAppend measures events per second through Run: "burst" publishes
// as fast as it can and waits once (group commit at its best); "qos1-serial"
// waits for each event's commit before the next (one fsync per event, the
// latency a lone QoS 1 publisher sees); "qos1-parallel" has many publishers
// each waiting for its own event, as many MQTT clients do.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, publish func(r *running)) {
		st := openStore(b)
		r := startRun(b, st)
		start := st.batches.Load()
		b.ReportAllocs()
		b.ResetTimer()
		publish(r)
		r.waitDurable(b, r.bus.NextSeq()-1)
		b.StopTimer()
		commits := st.batches.Load() - start
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(b.N)/float64(max(commits, 1)), "events/commit")
	}

	b.Run("burst", func(b *testing.B) {
		run(b, func(r *running) {
			for i := 0; i < b.N; i += 2 {
				m, s := sensorPair(i / 2)
				r.publish(b, m)
				if i+1 < b.N {
					r.publish(b, s)
				}
			}
		})
	})

	b.Run("qos1-serial", func(b *testing.B) {
		run(b, func(r *running) {
			for i := range b.N {
				m, _ := sensorPair(i)
				e := r.publish(b, m)[0]
				if err := r.bus.WaitDurable(ctx, e.Seq); err != nil {
					b.Fatal(err)
				}
			}
		})
	})

	b.Run("qos1-parallel", func(b *testing.B) {
		b.SetParallelism(16)
		run(b, func(r *running) {
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m, _ := sensorPair(int(n.Add(1)))
					e, err := r.bus.Publish(m)
					if err == nil {
						err = r.bus.WaitDurable(ctx, e.Seq)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	})
}

// filledStore is a store holding n sensor events.
func filledStore(b *testing.B, n int) *Store {
	b.Helper()
	st := openStore(b)
	for i := 0; i < n; i += 1000 {
		batch := make([]hearth.Event, 0, 1000)
		for j := i; j < i+1000 && j < n; j += 2 {
			m, s := sensorPair(j / 2)
			batch = append(batch, m, s)
		}
		commitDirect(b, st, batch)
	}
	return st
}

// BenchmarkEvents measures one page of the history API on a 20,000-event
// log: with its events in the tail, the index in memory above the index
// tables, and once they are all in the index tables (bulkindex.go).
func BenchmarkEvents(b *testing.B) {
	ctx := context.Background()
	st := filledStore(b, 20_000)
	for _, where := range []string{"tail", "indexed"} {
		if where == "indexed" {
			indexAll(b, st)
		}
		for _, c := range []struct {
			name string
			q    Query
		}{
			{"newest", Query{}},
			{"device", Query{Device: "sensor_007"}},
			{"device-paged-back", Query{Device: "sensor_007", Before: 5_000}},
			{"topic", Query{Topic: "home/sensor_007"}},
			{"kind", Query{Kind: hearth.KindState}},
			{"kind-and-device", Query{Kind: hearth.KindState, Device: "sensor_007", Limit: 20}},
		} {
			b.Run(where+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				var n int
				for b.Loop() {
					got, err := st.Events(ctx, c.q)
					if err != nil {
						b.Fatal(err)
					}
					n = len(got)
				}
				b.ReportMetric(float64(n), "events/page")
			})
		}
	}
	b.Run("one-event", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.Event(ctx, 12_345); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReplay measures reading the log back, as start-up does.
func BenchmarkReplay(b *testing.B) {
	ctx := context.Background()
	const n = 20_000
	st := filledStore(b, n)
	b.ReportAllocs()
	for b.Loop() {
		if err := st.Replay(ctx, 0, func(hearth.Event) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkCommit measures the write path of Run for one group commit
// without the bus: commit (the row inserts, the trace compression, the
// tail, the devices snapshot's note) and maintain after it, on a batch of
// the house's events (for each sensor event a message, its state change,
// an automation's command and its run's trace, as BenchmarkHouseQoS1 sends
// them), at the batch sizes the hub sees at 1,000 sensor events a second
// (a few dozen events a commit) and in a burst. Besides the time it reports
// the heap allocations per log event: the garbage the hub's collector has
// to clear away, which shows in its latency. Run the larger batches long
// enough for a few rounds of indexing (one every 262,144 log events):
//
//	go test -run '^$' -bench 'Commit/32' -benchtime 3000x ./store/
//	go test -run '^$' -bench 'Commit/1024' -benchtime 500x ./store/
func BenchmarkCommit(b *testing.B) {
	ctx := context.Background()
	for _, sensorEvents := range []int{8, 256} {
		batch := houseBatch(b, sensorEvents)
		b.Run(fmt.Sprintf("%d-log-events", len(batch)), func(b *testing.B) {
			st := openStore(b)
			w := newBatchWriter()
			next := uint64(1)
			commit := func() {
				for i := range batch {
					batch[i].Seq = next
					next++
				}
				if err := st.commit(ctx, w, batch); err != nil {
					b.Fatal(err)
				}
				st.maintain(ctx)
			}
			commit() // the first prepares what later ones reuse
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for range b.N {
				commit()
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			n := float64(b.N * len(batch))
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/log-event")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/log-event")
		})
	}
}

// houseBatch returns what the house of BenchmarkHouseQoS1 logs for n
// sensor events, as Run reads it off the bus.
func houseBatch(b *testing.B, n int) []hearth.Event {
	b.Helper()
	bus := hearth.NewBus(hearth.BusOptions{})
	defer bus.Close()
	sub := bus.Subscribe("batch", hearth.MustNotMiss)
	gen := newHouse(houseLoad{devices: 1000, qos: 1, reactEvery: 1, payload: motionPayload})
	for range n {
		gen.sensorEvent(b, &running{bus: bus})
	}
	batch, err := sub.Read(context.Background(), make([]hearth.Event, gen.logged))
	if err != nil || len(batch) != gen.logged {
		b.Fatalf("read %d events of %d: %v", len(batch), gen.logged, err)
	}
	return batch
}
