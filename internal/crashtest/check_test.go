package crashtest

import (
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
	"go.uber.org/goleak"

	"hearth"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		outcome Outcome
		copies  int
		problem string // a word the problem must contain; "" for none
		dup     bool
	}{
		{name: "an acknowledged message logged once is fine", outcome: Outcome{Sends: 1, Acked: true}, copies: 1},
		{name: "an acknowledged message missing from the log is lost", outcome: Outcome{Sends: 1, Acked: true}, problem: "missing"},
		{name: "a message sent once and logged twice breaks the rule", outcome: Outcome{Sends: 1, Acked: true}, copies: 2, problem: "more often than sent", dup: true},
		{name: "a message resent after a crash may be logged twice", outcome: Outcome{Sends: 2, Acked: true}, copies: 2, dup: true},
		{name: "a resent acknowledged message must still be logged", outcome: Outcome{Sends: 2, Acked: true}, problem: "missing"},
		{name: "an unacknowledged message may be missing", outcome: Outcome{Sends: 1}},
		{name: "an unacknowledged message may be logged", outcome: Outcome{Sends: 1}, copies: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scan := newLogScan()
			if tc.copies > 0 {
				scan.copies["c0-1"] = tc.copies
			}
			v := judge(map[string]Outcome{"c0-1": tc.outcome}, scan)
			problems := strings.Join(v.problems(), "\n")
			if tc.problem == "" && problems != "" || !strings.Contains(problems, tc.problem) {
				t.Errorf("problems %q, want one saying %q", problems, tc.problem)
			}
			if got := v.Duplicates == 1; got != tc.dup {
				t.Errorf("duplicates %d, want %t", v.Duplicates, tc.dup)
			}
		})
	}
	t.Run("a message in the log that no client published breaks the rule", func(t *testing.T) {
		scan := newLogScan()
		scan.copies["c9-9"] = 1
		if p := judge(map[string]Outcome{}, scan).problems(); len(p) != 1 || !strings.Contains(p[0], "never published") {
			t.Errorf("problems %q", p)
		}
	})
}

func TestDiffDevices(t *testing.T) {
	at := time.Unix(1_700_000_000, 5)
	lamp := hearth.DeviceState{ID: "lamp", State: map[string]any{"level": 3.0}, Seq: 7, Updated: at}
	for _, tc := range []struct {
		name string
		a, b []hearth.DeviceState
		diff bool
	}{
		{name: "the same devices do not differ", a: []hearth.DeviceState{lamp}, b: []hearth.DeviceState{lamp}},
		{name: "a device the other side has not heard from does not differ",
			a: []hearth.DeviceState{lamp}, b: []hearth.DeviceState{lamp, {ID: "house", State: map[string]any{}}}},
		{name: "another state differs", a: []hearth.DeviceState{lamp},
			b: []hearth.DeviceState{{ID: "lamp", State: map[string]any{"level": 4.0}, Seq: 7, Updated: at}}, diff: true},
		{name: "another seq differs", a: []hearth.DeviceState{lamp},
			b: []hearth.DeviceState{{ID: "lamp", State: map[string]any{"level": 3.0}, Seq: 8, Updated: at}}, diff: true},
		{name: "a device with state on one side only differs", a: []hearth.DeviceState{lamp}, diff: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := diffDevices("a", tc.a, "b", tc.b)
			if got := len(d) > 0; got != tc.diff {
				t.Errorf("diff %q, want a difference: %t", d, tc.diff)
			}
		})
	}
}

func TestLedger(t *testing.T) {
	pub := func(id uint16, payload string) *packets.PublishPacket {
		p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
		p.Qos, p.MessageID, p.Payload = 1, id, []byte(payload)
		return p
	}
	l := newLedger(2)
	l.Open()
	l.slots <- struct{}{}
	l.slots <- struct{}{}
	l.Put("o.1", pub(1, `{"id":"c0-1"}`))
	l.Put("o.2", pub(2, `{"id":"c0-2"}`))
	l.Del("o.1")     // its PUBACK
	_ = l.Get("o.2") // a reconnect sends it again
	out := map[string]Outcome{}
	l.snapshot(out)
	if want := (Outcome{Sends: 1, Acked: true}); out["c0-1"] != want {
		t.Errorf("c0-1 is %+v, want %+v", out["c0-1"], want)
	}
	if want := (Outcome{Sends: 2}); out["c0-2"] != want {
		t.Errorf("c0-2 is %+v, want %+v", out["c0-2"], want)
	}
	if l.unacked() != 1 || len(l.slots) != 1 {
		t.Errorf("%d unacked, %d slots taken; want 1 and 1", l.unacked(), len(l.slots))
	}
	// The id 1 is free again for the next message.
	l.slots <- struct{}{}
	l.Put("o.1", pub(1, `{"id":"c0-3"}`))
	l.Del("o.1")
	l.snapshot(out)
	if len(l.slots) != 1 {
		t.Errorf("%d slots taken, want 1", len(l.slots))
	}
	if !out["c0-3"].Acked || out["c0-3"].Sends != 1 {
		t.Errorf("c0-3 is %+v", out["c0-3"])
	}
}
