package devices

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"hearth"
)

// readN reads n events from sub, failing the test after a deadline.
func readN(t *testing.T, sub *hearth.Subscription, n int) []hearth.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []hearth.Event
	buf := make([]hearth.Event, 16)
	for len(out) < n {
		got, err := sub.Read(ctx, buf)
		if err != nil {
			t.Fatalf("read after %d of %d events: %v", len(out), n, err)
		}
		out = append(out, got...)
	}
	return out
}

func TestThroughTheBus(t *testing.T) {
	bus := hearth.NewBus(hearth.BusOptions{Size: 64, NextSeq: 100})
	defer bus.Close()
	reg := New("home", nil)
	bus.AddStage(reg)
	sub := bus.Subscribe("test", hearth.MustNotMiss)

	publish := func(kind hearth.Kind, topic, payload string) {
		t.Helper()
		if _, err := bus.Publish(hearth.Event{Kind: kind, Topic: topic, Payload: []byte(payload)}); err != nil {
			t.Fatal(err)
		}
	}
	publish(hearth.KindMessage, "home/hall_motion", `{"occupancy":true,"illuminance":12}`)
	publish(hearth.KindMessage, "home/hall_motion", `{"occupancy":true,"illuminance":12}`) // no change
	publish(hearth.KindMessage, "home/hall_motion/availability", "online")
	publish(hearth.KindCommand, "home/hall_light/set", `{"state":"ON"}`)
	publish(hearth.KindMessage, "home/hall_motion", `{"occupancy":false}`)
	publish(hearth.KindMessage, "other/thing", `{"x":1}`)

	got := readN(t, sub, 9)
	type row struct {
		seq           uint64
		kind          hearth.Kind
		device        string
		payload, prev string
		cause         uint64
	}
	want := []row{
		{100, hearth.KindMessage, "hall_motion", `{"occupancy":true,"illuminance":12}`, "", 0},
		{101, hearth.KindState, "hall_motion", `{"illuminance":12,"occupancy":true}`, `{}`, 100},
		{102, hearth.KindMessage, "hall_motion", `{"occupancy":true,"illuminance":12}`, "", 0},
		{103, hearth.KindMessage, "hall_motion", "online", "", 0},
		{104, hearth.KindAvailability, "hall_motion", "online", "", 103},
		{105, hearth.KindCommand, "hall_light", `{"state":"ON"}`, "", 0},
		{106, hearth.KindMessage, "hall_motion", `{"occupancy":false}`, "", 0},
		{107, hearth.KindState, "hall_motion", `{"illuminance":12,"occupancy":false}`, `{"illuminance":12,"occupancy":true}`, 106},
		{108, hearth.KindMessage, "", `{"x":1}`, "", 0},
	}
	for i, e := range got {
		g := row{e.Seq, e.Kind, e.Device, string(e.Payload), string(e.Prev), e.Cause.Seq}
		if g != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, g, want[i])
		}
		if e.Cause.Seq != 0 && !e.Time.Equal(got[i-1].Time) {
			t.Errorf("derived event %d has time %v, its cause %v", i, e.Time, got[i-1].Time)
		}
	}
	st, _ := reg.Device("hall_motion")
	if st.Seq != 106 || st.Availability != hearth.Online {
		t.Errorf("device = %+v", st)
	}
}

// TestReadersWhileApplying runs readers against a registry the bus is
// folding into; -race checks the locking and that handed-out maps are never
// written.
func TestReadersWhileApplying(t *testing.T) {
	bus := hearth.NewBus(hearth.BusOptions{Size: 1024})
	defer bus.Close()
	reg := New("home", nil)
	bus.AddStage(reg)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				for _, d := range reg.Devices() {
					for k, v := range d.State { // reading every value races with any write
						_, _ = k, v
					}
				}
				if d, ok := reg.Device("dev3"); ok {
					_ = len(d.State)
				}
			}
		}()
	}
	for i := range 2000 {
		id := fmt.Sprintf("dev%d", i%10)
		payload := fmt.Sprintf(`{"n":%d,"even":%t,"gone":null}`, i, i%2 == 0)
		if _, err := bus.Publish(hearth.Event{Kind: hearth.KindMessage, Topic: "home/" + id, Payload: []byte(payload)}); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			if _, err := bus.Publish(hearth.Event{Kind: hearth.KindMessage, Topic: "home/" + id + "/availability", Payload: []byte([]string{"online", "offline"}[i%2])}); err != nil {
				t.Fatal(err)
			}
		}
	}
	cancel()
	wg.Wait()
	if n := len(reg.Devices()); n != 10 {
		t.Fatalf("%d devices, want 10", n)
	}
	d, _ := reg.Device("dev9")
	if d.State["n"] != 1999.0 {
		t.Fatalf("dev9 = %v", d.State)
	}
}
