package crashtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"time"

	"hearth"
	"hearth/store"
)

// logScan is what the log holds of the run, read in pieces: after each
// kill, and after the clean stop at the end. Only durable events are ever
// read (the hub is down), so what was read stays true.
type logScan struct {
	next    uint64                     // the first seq not read yet
	copies  map[string]int             // message id -> times in the log
	last    map[string]json.RawMessage // load device -> payload of its last message
	lamp    map[int][]uint64           // cycle -> seqs of the lamp's commands for it
	changed map[string]uint64          // device -> seq of its last state or availability event
	unknown []string                   // load messages without a readable id
}

func newLogScan() *logScan {
	return &logScan{next: 1, copies: map[string]int{}, last: map[string]json.RawMessage{}, lamp: map[int][]uint64{}, changed: map[string]uint64{}}
}

func (l *logScan) read(ctx context.Context, st *store.Store) error {
	return st.Replay(ctx, l.next, func(e hearth.Event) error {
		l.next = e.Seq + 1
		switch {
		case e.Kind == hearth.KindMessage && strings.HasPrefix(e.Topic, "home/crash_c"):
			var m struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(e.Payload, &m) != nil || m.ID == "" {
				l.unknown = append(l.unknown, fmt.Sprintf("seq %d: %q", e.Seq, e.Payload))
				return nil
			}
			l.copies[m.ID]++
			l.last[strings.TrimPrefix(e.Topic, "home/")] = e.Payload
		case (e.Kind == hearth.KindState || e.Kind == hearth.KindAvailability) && e.Device != "":
			l.changed[e.Device] = e.Seq
		case e.Kind == hearth.KindCommand && e.Topic == lampTopic:
			var c struct {
				Cycle int `json:"cycle"`
			}
			if json.Unmarshal(e.Payload, &c) == nil {
				l.lamp[c.Cycle] = append(l.lamp[c.Cycle], e.Seq)
			}
		}
		return nil
	})
}

// Verdict compares what the clients know of their messages with what the
// log holds.
//
// The rule, which is MQTT's QoS 1 (at least once) made precise: a message
// must be in the log at least once if its PUBACK came back, and never more
// often than its client sent it. A message acknowledged on its only send is
// therefore in the log exactly once. A message is sent twice only when a
// crash took the hub down after it had the message and before the client
// read its PUBACK: the client then sends it again (DUP) to the restarted
// hub, which cannot tell the copy from a new message (the packet id it had
// seen died with the process), so it may be logged twice. Those are counted
// as Duplicates, not violations; an unacknowledged message may be missing.
type Verdict struct {
	Published  int // messages the clients published
	Acked      int // of them, acknowledged
	Logged     int // distinct messages in the log
	Duplicates int // messages in the log more than once (each sent more than once)
	Lost       []string
	Over       []string // in the log more often than sent, or never published
}

func judge(outcomes map[string]Outcome, scan *logScan) Verdict {
	v := Verdict{Published: len(outcomes), Logged: len(scan.copies)}
	for id, o := range outcomes {
		n := scan.copies[id]
		if o.Acked {
			v.Acked++
			if n == 0 {
				v.Lost = append(v.Lost, id)
			}
		}
		if n > o.Sends {
			v.Over = append(v.Over, fmt.Sprintf("%s logged %d times, sent %d", id, n, o.Sends))
		}
	}
	for id, n := range scan.copies {
		if n > 1 {
			v.Duplicates++
		}
		if _, ok := outcomes[id]; !ok {
			v.Over = append(v.Over, fmt.Sprintf("%s logged %d times, never published", id, n))
		}
	}
	sort.Strings(v.Lost)
	sort.Strings(v.Over)
	return v
}

// problems lists what breaks the rule.
func (v Verdict) problems() []string {
	var out []string
	if len(v.Lost) > 0 {
		out = append(out, fmt.Sprintf("%d acknowledged messages missing from the log: %s", len(v.Lost), first(v.Lost, 10)))
	}
	if len(v.Over) > 0 {
		out = append(out, fmt.Sprintf("%d messages logged more often than sent: %s", len(v.Over), first(v.Over, 10)))
	}
	return out
}

func first(s []string, n int) string {
	if len(s) > n {
		return strings.Join(s[:n], ", ") + ", ..."
	}
	return strings.Join(s, ", ")
}

// checkDevices compares the persisted device read model with the fold of
// the log's state events, and each load device's state in the fold with
// its last logged message (each message carries the whole state): a
// message whose state change the log lost would show there. It returns the
// fold.
//
// The devices table is a snapshot: it reflects the log up to its state_seq,
// and start-up folds the rest. So a device that changed after state_seq
// may be older in the table (the restarted hub's /api/devices must then
// show the fold); one that did not must be in the table as in the fold.
// After a clean stop the table reflects the whole log (exact).
func checkDevices(ctx context.Context, st *store.Store, scan *logScan, exact bool) ([]hearth.DeviceState, []string, error) {
	persisted, stateSeq, err := st.Devices(ctx)
	if err != nil {
		return nil, nil, err
	}
	fold, err := st.RebuildDevices(ctx)
	if err != nil {
		return nil, nil, err
	}
	var problems []string
	if exact {
		problems = diffDevices("persisted", persisted, "fold of the log", fold)
	} else {
		var settled, recent []hearth.DeviceState
		for _, d := range fold {
			if scan.changed[d.ID] <= stateSeq {
				settled = append(settled, d)
			} else {
				recent = append(recent, d)
			}
		}
		for _, d := range persisted {
			if d.Seq > stateSeq {
				problems = append(problems, fmt.Sprintf("device %s is at seq %d in the table, past its state_seq %d", d.ID, d.Seq, stateSeq))
			}
		}
		problems = append(problems, diffDevices(fmt.Sprintf("persisted (state_seq %d)", stateSeq), without(persisted, recent),
			"fold of the log", settled)...)
	}
	byID := map[string]hearth.DeviceState{}
	for _, d := range fold {
		byID[d.ID] = d
	}
	for id, payload := range scan.last {
		var want map[string]any
		if err := json.Unmarshal(payload, &want); err != nil {
			return nil, nil, fmt.Errorf("device %s: last message %q: %w", id, payload, err)
		}
		if got := byID[id].State; !reflect.DeepEqual(got, want) {
			problems = append(problems, fmt.Sprintf("device %s is %v in the fold, its last logged message says %s", id, got, payload))
		}
	}
	sort.Strings(problems)
	return fold, problems, nil
}

// without returns the devices of a that are not in b.
func without(a, b []hearth.DeviceState) []hearth.DeviceState {
	skip := map[string]bool{}
	for _, d := range b {
		skip[d.ID] = true
	}
	var out []hearth.DeviceState
	for _, d := range a {
		if !skip[d.ID] {
			out = append(out, d)
		}
	}
	return out
}

// diffDevices lists how two views of the device read model differ. A
// device in b only, with an empty state, is no difference: the hub knows
// devices (its own, those named in automations) before they say anything.
func diffDevices(aName string, a []hearth.DeviceState, bName string, b []hearth.DeviceState) []string {
	var out []string
	bs := map[string]hearth.DeviceState{}
	for _, d := range b {
		bs[d.ID] = d
	}
	for _, d := range a {
		o, ok := bs[d.ID]
		delete(bs, d.ID)
		switch {
		case !ok && len(d.State) == 0 && d.Availability == "":
		case !ok:
			out = append(out, fmt.Sprintf("device %s is in the %s only: %v", d.ID, aName, d.State))
		case !sameDevice(d, o):
			out = append(out, fmt.Sprintf("device %s: %s %v (seq %d, %s, %s), %s %v (seq %d, %s, %s)",
				d.ID, aName, d.State, d.Seq, d.Availability, d.Updated.Format(time.RFC3339Nano),
				bName, o.State, o.Seq, o.Availability, o.Updated.Format(time.RFC3339Nano)))
		}
	}
	for _, d := range bs {
		if len(d.State) > 0 || d.Availability != "" {
			out = append(out, fmt.Sprintf("device %s is in the %s only: %v", d.ID, bName, d.State))
		}
	}
	sort.Strings(out)
	return out
}

func sameDevice(a, b hearth.DeviceState) bool {
	if len(a.State) == 0 && len(b.State) == 0 {
		a.State, b.State = nil, nil
	}
	return a.ID == b.ID && reflect.DeepEqual(a.State, b.State) && a.Availability == b.Availability &&
		a.Seq == b.Seq && a.Updated.Equal(b.Updated)
}

// apiDevices reads the running hub's device read model.
func apiDevices(ctx context.Context, httpAddr string) ([]hearth.DeviceState, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/api/devices", nil)
	if err != nil {
		return nil, err
	}
	// No keep-alive: no idle connection outlives the hub it went to.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /api/devices: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/devices: %s", resp.Status)
	}
	var out []hearth.DeviceState
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("GET /api/devices: %w", err)
	}
	return out, nil
}
