package store

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"hearth"
)

func stateEvent(dev, payload string) hearth.Event {
	return hearth.Event{Kind: hearth.KindState, Device: dev, Payload: []byte(payload)}
}

func availEvent(dev, a string) hearth.Event {
	return hearth.Event{Kind: hearth.KindAvailability, Device: dev, Payload: []byte(a)}
}

// checkDevices compares the persisted read model with the fold of the log
// and, when want is not nil, with what the test expects.
func checkDevices(t *testing.T, st *Store, want []hearth.DeviceState) {
	t.Helper()
	ctx := context.Background()
	got, stateSeq, err := st.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last, err := st.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stateSeq != last {
		t.Errorf("devices reflect seq %d, the log ends at %d", stateSeq, last)
	}
	rebuilt, err := st.RebuildDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rebuilt) {
		t.Errorf("devices table differs from the fold of the log:\n table: %+v\n  fold: %+v", got, rebuilt)
	}
	if want == nil {
		return
	}
	if len(got) != len(want) {
		t.Fatalf("got %d devices %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i, w := range want {
		g := got[i]
		if g.ID != w.ID || !reflect.DeepEqual(g.State, w.State) || g.Availability != w.Availability ||
			g.Seq != w.Seq || !g.Updated.Equal(w.Updated) {
			t.Errorf("device %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestDevices(t *testing.T) {
	type dev struct {
		id, state string
		avail     hearth.Availability
		seq       uint64
	}
	cases := []struct {
		name    string
		batches [][]hearth.Event
		want    []dev
	}{
		{
			name:    "a state event sets the device's whole state",
			batches: [][]hearth.Event{{stateEvent("a", `{"x":1,"y":"z"}`)}},
			want:    []dev{{"a", `{"x":1,"y":"z"}`, "", 1}},
		},
		{
			name:    "the last state of a device in a batch wins",
			batches: [][]hearth.Event{{stateEvent("a", `{"x":1}`), stateEvent("a", `{"y":2}`)}},
			want:    []dev{{"a", `{"y":2}`, "", 2}},
		},
		{
			name:    "a later batch replaces the state",
			batches: [][]hearth.Event{{stateEvent("a", `{"x":1}`)}, {stateEvent("a", `{"x":2}`)}},
			want:    []dev{{"a", `{"x":2}`, "", 2}},
		},
		{
			name:    "availability keeps the state, in a later batch",
			batches: [][]hearth.Event{{stateEvent("a", `{"x":1}`)}, {availEvent("a", "online")}},
			want:    []dev{{"a", `{"x":1}`, hearth.Online, 2}},
		},
		{
			name:    "state and availability in one batch are both kept, and a later state keeps the availability",
			batches: [][]hearth.Event{{availEvent("a", "offline"), stateEvent("a", `{"x":1}`)}, {stateEvent("a", `{"x":2}`)}},
			want:    []dev{{"a", `{"x":2}`, hearth.Offline, 3}},
		},
		{
			name:    "a device known only by its availability has an empty state",
			batches: [][]hearth.Event{{availEvent("b", "online"), availEvent("b", "offline")}},
			want:    []dev{{"b", `{}`, hearth.Offline, 2}},
		},
		{
			name: "events that are not a state change change nothing",
			batches: [][]hearth.Event{{stateEvent("a", `{"x":1}`)}, {
				stateEvent("a", `null`), stateEvent("a", `[1]`), stateEvent("a", `{"x":`), stateEvent("a", ``),
				availEvent("a", "maybe"), stateEvent("", `{"x":3}`),
				{Kind: hearth.KindMessage, Device: "a", Payload: []byte(`{"x":4}`)},
			}},
			want: []dev{{"a", `{"x":1}`, "", 1}},
		},
		{
			name:    "devices are kept apart and sorted by id",
			batches: [][]hearth.Event{{stateEvent("b", `{"n":1}`), availEvent("a", "online"), stateEvent("a", `{"n":2}`), stateEvent("b", `{"n":3}`)}},
			want:    []dev{{"a", `{"n":2}`, hearth.Online, 3}, {"b", `{"n":3}`, "", 4}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := openStore(t)
			var all []hearth.Event
			for _, batch := range c.batches {
				all = append(all, commitDirect(t, st, batch)...)
			}
			want := make([]hearth.DeviceState, 0, len(c.want))
			for _, w := range c.want {
				d := hearth.DeviceState{ID: w.id, Availability: w.avail, Seq: w.seq, Updated: all[w.seq-1].Time}
				if err := json.Unmarshal([]byte(w.state), &d.State); err != nil {
					t.Fatal(err)
				}
				want = append(want, d)
			}
			checkDevices(t, st, want)
		})
	}
}

func TestDevicesThroughBus(t *testing.T) {
	st := openStore(t)
	r := startRun(t, st)
	model := map[string]*hearth.DeviceState{}
	for i := range 300 {
		id := fmt.Sprint("dev", i%7)
		var e hearth.Event
		switch i % 5 {
		case 0:
			e = availEvent(id, []string{"online", "offline"}[i%2])
		case 1:
			e = hearth.Event{Kind: hearth.KindMessage, Topic: "home/" + id, Payload: []byte(`{}`)}
		default:
			e = stateEvent(id, fmt.Sprintf(`{"i":%d,"on":%t}`, i, i%3 == 0))
		}
		e = r.publish(t, e)[0]
		if i%50 == 49 {
			r.waitDurable(t, e.Seq) // let some batches end mid-stream
		}
		if e.Kind == hearth.KindMessage {
			continue
		}
		d := model[id]
		if d == nil {
			d = &hearth.DeviceState{ID: id, State: map[string]any{}}
			model[id] = d
		}
		if e.Kind == hearth.KindState {
			d.State = nil
			if err := json.Unmarshal(e.Payload, &d.State); err != nil {
				t.Fatal(err)
			}
		} else {
			d.Availability = hearth.Availability(e.Payload)
		}
		d.Seq, d.Updated = e.Seq, e.Time
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	var want []hearth.DeviceState
	for i := range 7 {
		want = append(want, *model[fmt.Sprint("dev", i)])
	}
	checkDevices(t, st, want)
}
