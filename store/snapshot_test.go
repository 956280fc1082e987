package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"hearth"
)

// commitOnly commits a batch as Run does, without the devices snapshot
// that commitDirect forces, and then does what Run does after a commit.
func commitOnly(t *testing.T, st *Store, events ...hearth.Event) {
	t.Helper()
	last, err := st.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		events[i].Seq = last + uint64(i) + 1
	}
	if err := st.commit(context.Background(), newBatchWriter(), events); err != nil {
		t.Fatal(err)
	}
	st.maintain(context.Background())
}

// persistedSeq is the state_seq the devices table was written at.
func persistedSeq(t *testing.T, st *Store) uint64 {
	t.Helper()
	_, seq, err := st.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func TestTheDevicesTableIsASnapshot(t *testing.T) {
	t.Run("it is written every so many events, not at every commit", func(t *testing.T) {
		st := openStore(t)
		st.snap.every = 5
		commitOnly(t, st, stateEvent("a", `{"n":1}`), stateEvent("b", `{"n":1}`))
		commitOnly(t, st, stateEvent("a", `{"n":2}`))
		if seq := persistedSeq(t, st); seq != 0 {
			t.Fatalf("devices table at %d after 3 events, want untouched (0)", seq)
		}
		commitOnly(t, st, stateEvent("a", `{"n":3}`), availEvent("b", "offline"))
		if seq := persistedSeq(t, st); seq != 5 {
			t.Fatalf("devices table at %d after 5 events, want 5", seq)
		}
		checkDevices(t, st, nil) // and it is the fold of the log
	})

	t.Run("a crash loses the snapshot's lag, which start-up replays from the log", func(t *testing.T) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "hearth.db")
		st := openAt(t, path)
		st.snap.every = 4
		commitOnly(t, st, stateEvent("a", `{"n":1}`), availEvent("a", "online"), stateEvent("b", `{"n":1}`), stateEvent("c", `{"n":1}`))
		commitOnly(t, st, stateEvent("a", `{"n":2}`), availEvent("c", "offline"))
		if err := st.Close(); err != nil { // as a kill -9 would: no snapshot at the end
			t.Fatal(err)
		}
		again := openAt(t, path)
		states, seq, err := again.Devices(ctx)
		if err != nil || seq != 4 {
			t.Fatalf("devices table at %d, %v; want the snapshot at 4", seq, err)
		}
		// What cmd/hub's restore does: the snapshot, then the log after it.
		byID := map[string]*hearth.DeviceState{}
		for i := range states {
			byID[states[i].ID] = &states[i]
		}
		err = again.Replay(ctx, seq+1, func(e hearth.Event) error {
			state, avail, ok := deviceChange(e)
			if !ok {
				return nil
			}
			d := byID[e.Device]
			if d == nil {
				return fmt.Errorf("device %s is new since the snapshot; the test does not fold that", e.Device)
			}
			if state != nil {
				d.State = map[string]any{}
				if err := json.Unmarshal(state, &d.State); err != nil {
					return err
				}
			}
			if avail != hearth.AvailabilityUnknown {
				d.Availability = avail
			}
			d.Seq, d.Updated = changeSeq(&e), e.Time
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		rebuilt, err := again.RebuildDevices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(states, rebuilt) {
			t.Fatalf("snapshot + replay:\n%+v\nfold of the log:\n%+v", states, rebuilt)
		}
		// The next snapshot takes in what the crash kept out, even with
		// nothing new to log.
		r := startRun(t, again)
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		checkDevices(t, again, nil)
	})

	t.Run("Run writes it, and indexes the tail, when it stops", func(t *testing.T) {
		st := openStore(t)
		r := startRun(t, st)
		published := r.publish(t, stateEvent("a", `{"n":1}`), availEvent("a", "online"))
		r.waitDurable(t, published[1].Seq)
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		checkDevices(t, st, nil)
		// And it indexes the tail, so that the next start reads nothing back.
		if n, _ := st.tail.size(); n != 0 {
			t.Fatalf("%d events left in the tail", n)
		}
	})
}
