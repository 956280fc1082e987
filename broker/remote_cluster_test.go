package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"hearth"

	"hearth/internal/mosquittotest"
)

func TestRemoteSharedSubscription(t *testing.T) {
	const n = 40
	m := mosquittotest.Start(t, "")
	cfg := remoteConfig(m.URL(), "")
	cfg.SharedGroup = "hearth"
	cfg.Filters = []string{"home/#"}

	var readers []*reader
	for _, id := range []string{"hub-1", "hub-2"} {
		bus := newBus(t, true)
		readers = append(readers, newReader(t, bus))
		c := cfg
		c.ClientID = id
		startRemote(t, c, bus)
	}
	sensor := pahoClient(t, m.Addr, "sensor", nil)
	for i := range n {
		publish(t, sensor, "home/sensor", 1, []byte(fmt.Sprint(i)))
	}

	// Two buses, two readers: poll both until every message is accounted for.
	got := []map[string]bool{{}, {}}
	total := 0
	deadline := time.Now().Add(wait)
	for total < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages arrived", total, n)
		}
		for i, rd := range readers {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
			evs, _ := rd.sub.Read(ctx, make([]hearth.Event, 64))
			cancel()
			for _, ev := range evs {
				if got[i][string(ev.Payload)] {
					t.Fatalf("hub %d got %s twice", i+1, ev.Payload)
				}
				got[i][string(ev.Payload)] = true
				total++
			}
		}
	}
	for p := range got[0] {
		if got[1][p] {
			t.Errorf("both hubs got %s: the subscription was not shared", p)
		}
	}
	if len(got[0]) == 0 || len(got[1]) == 0 {
		t.Errorf("hub 1 got %d, hub 2 got %d: want the messages shared between them", len(got[0]), len(got[1]))
	}
}

// TestRemoteRolesShareOneBroker runs two roles of a larger installation
// against one mosquitto, each with its own session and its own bus, as two
// processes would: a recorder (the log) and the automations (which command
// a light when the hall sees motion). Both consume the same topics.
func TestRemoteRolesShareOneBroker(t *testing.T) {
	m := mosquittotest.Start(t, "")
	light := pahoClient(t, m.Addr, "hall_light", nil)
	lightGot := subscribe(t, light, "home/hall_light/set", 1)

	recorderBus := newBus(t, true) // the recorder's log marks what it holds durable
	recorded := newReader(t, recorderBus)
	startRemote(t, remoteConfig(m.URL(), "hearth-recorder"), recorderBus)

	automationsBus := hearth.NewBus(hearth.BusOptions{}) // no log in this role: nothing to wait for
	t.Cleanup(automationsBus.Close)
	seen := newReader(t, automationsBus)
	automations := startRemote(t, remoteConfig(m.URL(), "hearth-automations"), automationsBus)

	sensor := pahoClient(t, m.Addr, "hall_motion", nil)
	publish(t, sensor, "home/hall_motion", 1, []byte(`{"occupancy":true}`))

	trigger := seen.next()
	checkMessage(t, trigger, "home/hall_motion", `{"occupancy":true}`, 1, "")
	cmd, err := automations.Command(context.Background(), hearth.Command{
		Device: "hall_light", Topic: "home/hall_light/set", Payload: []byte(`{"state":"ON"}`), QoS: 1,
		Cause: hearth.Cause{Seq: trigger.Seq, Run: "hall_light_on_motion#1", Source: "automation"},
	})
	if err != nil {
		t.Fatalf("Command: %v", err)
	}
	if ev := seen.next(); ev.Seq != cmd.Seq || ev.Kind != hearth.KindCommand {
		t.Fatalf("automations logged %+v, want its command", ev)
	}
	if msg := receive(t, lightGot); msg.payload != `{"state":"ON"}` {
		t.Fatalf("light got %+v", msg)
	}

	// The recorder saw the motion and, as a message from another client,
	// the command.
	checkMessage(t, recorded.next(), "home/hall_motion", `{"occupancy":true}`, 1, "")
	checkMessage(t, recorded.next(), "home/hall_light/set", `{"state":"ON"}`, 1, "")
}
