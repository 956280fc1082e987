package devices

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"hearth"
)

// folder applies messages to a registry the way the bus does, numbering them.
type folder struct {
	t   *testing.T
	r   *Registry
	seq uint64
}

func newFolder(t *testing.T) *folder {
	t.Helper()
	return &folder{t: t, r: New("home", nil)}
}

// send applies one event of the given kind and returns it (as the stage left
// it) and what the registry emitted.
func (f *folder) send(kind hearth.Kind, topic, payload string) (hearth.Event, []hearth.Event) {
	f.t.Helper()
	f.seq++
	e := hearth.Event{
		Seq: f.seq, Time: time.Unix(1700000000+int64(f.seq), 0).UTC(),
		Kind: kind, Topic: topic, Payload: []byte(payload),
	}
	var out []hearth.Event
	f.r.Apply(&e, func(d hearth.Event) {
		f.seq++
		d.Seq = f.seq
		out = append(out, d)
	})
	return e, out
}

func (f *folder) msg(topic, payload string) []hearth.Event {
	f.t.Helper()
	_, out := f.send(hearth.KindMessage, topic, payload)
	return out
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("payload %q is not a JSON object: %v", b, err)
	}
	return m
}

func TestStateMerge(t *testing.T) {
	cases := []struct {
		name    string
		before  []string // payloads already folded, in order
		payload string
		want    map[string]any
		changed bool
	}{
		{
			name:    "the first message of a device becomes its state",
			payload: `{"occupancy":true,"illuminance":12}`,
			want:    map[string]any{"occupancy": true, "illuminance": 12.0},
			changed: true,
		},
		{
			name:    "an object merges into the known state",
			before:  []string{`{"occupancy":true,"illuminance":12}`},
			payload: `{"illuminance":30,"battery":97}`,
			want:    map[string]any{"occupancy": true, "illuminance": 30.0, "battery": 97.0},
			changed: true,
		},
		{
			name:    "a key with null removes the attribute",
			before:  []string{`{"occupancy":true,"illuminance":12}`},
			payload: `{"illuminance":null}`,
			want:    map[string]any{"occupancy": true},
			changed: true,
		},
		{
			name:    "null for an attribute that is not there changes nothing",
			before:  []string{`{"occupancy":true}`},
			payload: `{"battery":null}`,
			want:    map[string]any{"occupancy": true},
		},
		{
			name:    "the same values again change nothing",
			before:  []string{`{"occupancy":true,"illuminance":12}`},
			payload: `{ "illuminance" : 12.0, "occupancy":true }`,
			want:    map[string]any{"occupancy": true, "illuminance": 12.0},
		},
		{
			name:    "an empty object changes nothing",
			before:  []string{`{"occupancy":true}`},
			payload: `{}`,
			want:    map[string]any{"occupancy": true},
		},
		{
			name:    "a nested object is replaced whole, not merged",
			before:  []string{`{"color":{"x":0.3,"y":0.4},"state":"ON"}`},
			payload: `{"color":{"x":0.5}}`,
			want:    map[string]any{"color": map[string]any{"x": 0.5}, "state": "ON"},
			changed: true,
		},
		{
			name:    "an equal nested object changes nothing",
			before:  []string{`{"update":{"state":"idle","progress":[1,2]}}`},
			payload: `{"update":{"progress":[1,2],"state":"idle"}}`,
			want:    map[string]any{"update": map[string]any{"state": "idle", "progress": []any{1.0, 2.0}}},
		},
		{
			name:    "a nested array that grew is a change",
			before:  []string{`{"list":[1,2],"m":{"a":[true]}}`},
			payload: `{"list":[1,2,3],"m":{"a":[true]}}`,
			want:    map[string]any{"list": []any{1.0, 2.0, 3.0}, "m": map[string]any{"a": []any{true}}},
			changed: true,
		},
		{
			name:    "a nested object with a key more is a change",
			before:  []string{`{"color":{"x":0.3}}`},
			payload: `{"color":{"x":0.3,"y":0.4}}`,
			want:    map[string]any{"color": map[string]any{"x": 0.3, "y": 0.4}},
			changed: true,
		},
		{
			name:    "a nested object with a key less is a change",
			before:  []string{`{"color":{"x":0.3,"y":0.4}}`},
			payload: `{"color":{"x":0.3}}`,
			want:    map[string]any{"color": map[string]any{"x": 0.3}},
			changed: true,
		},
		{
			name:    "a nested object repeating a key is compared by its last value",
			before:  []string{`{"color":{"x":2,"y":1}}`},
			payload: `{"color":{"x":1,"y":1,"x":2}}`,
			want:    map[string]any{"color": map[string]any{"x": 2.0, "y": 1.0}},
		},
		{
			name:    "a nested object repeating a key can hide a missing one",
			before:  []string{`{"color":{"x":2,"y":1}}`},
			payload: `{"color":{"x":2,"x":2}}`,
			want:    map[string]any{"color": map[string]any{"x": 2.0}},
			changed: true,
		},
		{
			name:    "an invalid nested value makes the payload text",
			payload: `{"color":{"x":1e999}}`,
			want:    map[string]any{"value": `{"color":{"x":1e999}}`},
			changed: true,
		},
		{
			name:    "a value of another type is a change",
			before:  []string{`{"state":"1"}`},
			payload: `{"state":1}`,
			want:    map[string]any{"state": 1.0},
			changed: true,
		},
		{
			name:    "a key given twice counts once, the last one",
			before:  []string{`{"a":1}`},
			payload: `{"a":2,"a":1}`,
			want:    map[string]any{"a": 1.0},
		},
		{
			name:    "a JSON number is kept as the value",
			before:  []string{`{"battery":90}`},
			payload: `21.5`,
			want:    map[string]any{"battery": 90.0, "value": 21.5},
			changed: true,
		},
		{
			name:    "a JSON string is kept as the value",
			payload: `"hello"`,
			want:    map[string]any{"value": "hello"},
			changed: true,
		},
		{
			name:    "a JSON boolean is kept as the value",
			payload: ` true `,
			want:    map[string]any{"value": true},
			changed: true,
		},
		{
			name:    "JSON null removes the value",
			before:  []string{`7`},
			payload: `null`,
			want:    map[string]any{},
			changed: true,
		},
		{
			name:    "text that is not JSON is kept as a string",
			payload: `ON`,
			want:    map[string]any{"value": "ON"},
			changed: true,
		},
		{
			name:    "a broken object is kept as a string",
			payload: `{"occupancy":tru`,
			want:    map[string]any{"value": `{"occupancy":tru`},
			changed: true,
		},
		{
			name:    "a JSON array is kept as a string",
			payload: `[1, 2]`,
			want:    map[string]any{"value": "[1, 2]"},
			changed: true,
		},
		{
			name:    "invalid UTF-8 that is not JSON is kept with replacement characters",
			payload: "a\xffb",
			want:    map[string]any{"value": "a\ufffdb"},
			changed: true,
		},
		{
			name:    "invalid UTF-8 inside a JSON string is replaced like encoding/json does",
			payload: "{\"name\":\"x\xfe\xffy\"}",
			want:    map[string]any{"name": "x\ufffd\ufffdy"},
			changed: true,
		},
		{
			name:    "escapes in keys and values are decoded",
			payload: `{"a\"b":"line\nbreak \u00e9 \ud83d\ude00"}`,
			want:    map[string]any{"a\"b": "line\nbreak é 😀"},
			changed: true,
		},
		{
			name:    "an empty payload is ignored",
			before:  []string{`{"occupancy":true}`},
			payload: ``,
			want:    map[string]any{"occupancy": true},
		},
		{
			name:    "a number out of range is not JSON and is kept as a string",
			payload: `1e400`,
			want:    map[string]any{"value": "1e400"},
			changed: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFolder(t)
			for _, p := range tc.before {
				f.msg("home/dev", p)
			}
			before, _ := f.r.Device("dev")
			e, out := f.send(hearth.KindMessage, "home/dev", tc.payload)
			if e.Device != "dev" {
				t.Errorf("event device = %q, want dev", e.Device)
			}
			got, ok := f.r.Device("dev")
			if tc.want == nil || (len(tc.want) == 0 && !ok) {
				return
			}
			if !ok {
				t.Fatalf("device unknown after the message")
			}
			if !reflect.DeepEqual(got.State, tc.want) {
				t.Errorf("state = %#v, want %#v", got.State, tc.want)
			}
			if !tc.changed {
				if len(out) != 0 {
					t.Errorf("emitted %d events, want none: %+v", len(out), out)
				}
				if got.Seq != before.Seq {
					t.Errorf("seq moved from %d to %d without a change", before.Seq, got.Seq)
				}
				return
			}
			if len(out) != 1 {
				t.Fatalf("emitted %d events, want one", len(out))
			}
			se := out[0]
			if se.Kind != hearth.KindState || se.Device != "dev" || se.Topic != "home/dev" || se.Cause.Seq != e.Seq || !se.Time.Equal(e.Time) {
				t.Errorf("state event = %+v", se)
			}
			if p := decodeJSON(t, se.Payload); !reflect.DeepEqual(p, tc.want) {
				t.Errorf("event payload = %s, want %v", se.Payload, tc.want)
			}
			wantPrev := before.State
			if wantPrev == nil {
				wantPrev = map[string]any{}
			}
			if p := decodeJSON(t, se.Prev); !reflect.DeepEqual(p, wantPrev) {
				t.Errorf("event prev = %s, want %v", se.Prev, wantPrev)
			}
			if got.Seq != e.Seq || !got.Updated.Equal(e.Time) {
				t.Errorf("device seq/updated = %d/%v, want %d/%v", got.Seq, got.Updated, e.Seq, e.Time)
			}
		})
	}
}

func TestFirstStatePrevIsEmptyObject(t *testing.T) {
	f := newFolder(t)
	out := f.msg("home/lamp", `{"state":"ON"}`)
	if len(out) != 1 || string(out[0].Prev) != "{}" || string(out[0].Payload) != `{"state":"ON"}` {
		t.Fatalf("first state event = %+v", out)
	}
	out = f.msg("home/lamp", `{"brightness":3}`)
	if len(out) != 1 || string(out[0].Prev) != `{"state":"ON"}` || string(out[0].Payload) != `{"brightness":3,"state":"ON"}` {
		t.Fatalf("second state event = prev %s payload %s", out[0].Prev, out[0].Payload)
	}
}

func TestStateMapsAreNotChangedOnceHandedOut(t *testing.T) {
	f := newFolder(t)
	f.msg("home/lamp", `{"state":"ON","brightness":10}`)
	held, _ := f.r.Device("lamp")
	f.msg("home/lamp", `{"brightness":20,"state":null}`)
	want := map[string]any{"state": "ON", "brightness": 10.0}
	if !reflect.DeepEqual(held.State, want) {
		t.Fatalf("a state handed out changed to %v", held.State)
	}
	now, _ := f.r.Device("lamp")
	if !reflect.DeepEqual(now.State, map[string]any{"brightness": 20.0}) {
		t.Fatalf("new state = %v", now.State)
	}
}

func TestAvailability(t *testing.T) {
	cases := []struct {
		name     string
		before   []string
		payload  string
		want     hearth.Availability
		wantPrev string
		changed  bool
	}{
		{name: "online on a new device is recorded", payload: "online", want: hearth.Online, changed: true},
		{name: "offline after online is a change", before: []string{"online"}, payload: "offline", want: hearth.Offline, wantPrev: "online", changed: true},
		{name: "online twice is one change", before: []string{"online"}, payload: "online", want: hearth.Online},
		{name: "the Zigbee2MQTT JSON form is understood", before: []string{"online"}, payload: `{"state":"offline"}`, want: hearth.Offline, wantPrev: "online", changed: true},
		{name: "anything else is ignored", before: []string{"online"}, payload: "maybe", want: hearth.Online},
		{name: "an empty payload is ignored", before: []string{"offline"}, payload: "", want: hearth.Offline},
		{name: "a JSON object without a state is ignored", before: []string{"offline"}, payload: `{"x":1}`, want: hearth.Offline},
		{name: "invalid UTF-8 is ignored", before: []string{"offline"}, payload: "\xff\xfe", want: hearth.Offline},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFolder(t)
			for _, p := range tc.before {
				f.msg("home/plug/availability", p)
			}
			e, out := f.send(hearth.KindMessage, "home/plug/availability", tc.payload)
			if e.Device != "plug" {
				t.Errorf("event device = %q, want plug", e.Device)
			}
			got, _ := f.r.Device("plug")
			if got.Availability != tc.want {
				t.Errorf("availability = %q, want %q", got.Availability, tc.want)
			}
			if !tc.changed {
				if len(out) != 0 {
					t.Errorf("emitted %+v, want nothing", out)
				}
				return
			}
			if len(out) != 1 {
				t.Fatalf("emitted %d events, want one", len(out))
			}
			a := out[0]
			if a.Kind != hearth.KindAvailability || a.Device != "plug" || string(a.Payload) != string(tc.want) ||
				string(a.Prev) != tc.wantPrev || a.Cause.Seq != e.Seq {
				t.Errorf("availability event = %+v (payload %q prev %q)", a, a.Payload, a.Prev)
			}
			if got.Seq != e.Seq {
				t.Errorf("device seq = %d, want %d", got.Seq, e.Seq)
			}
			if got.State == nil {
				t.Errorf("a device known only by availability has a nil state map")
			}
		})
	}
}

func TestDevicesAreSortedByID(t *testing.T) {
	f := newFolder(t)
	for _, id := range []string{"c", "a", "d", "b"} {
		f.msg("home/"+id, `{"x":1}`)
	}
	f.msg("home/aa/availability", "online")
	var ids []string
	for _, d := range f.r.Devices() {
		ids = append(ids, d.ID)
	}
	if want := []string{"a", "aa", "b", "c", "d"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("ids = %v, want %v", ids, want)
	}
	if _, ok := f.r.Device("zz"); ok {
		t.Fatalf("an unknown device is reported known")
	}
}

func TestRestoreAndApplyLogged(t *testing.T) {
	r := New("home", nil)
	at := time.Unix(1700000000, 0).UTC()
	r.Restore([]hearth.DeviceState{
		{ID: "lamp", State: map[string]any{"state": "ON", "brightness": 200, "gone": nil}, Availability: hearth.Online, Seq: 7, Updated: at},
		{ID: "", State: map[string]any{"x": 1.0}},
	})
	got, ok := r.Device("lamp")
	want := hearth.DeviceState{ID: "lamp", State: map[string]any{"state": "ON", "brightness": 200.0}, Availability: hearth.Online, Seq: 7, Updated: at}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("restored = %+v, want %+v", got, want)
	}
	if n := len(r.Devices()); n != 1 {
		t.Fatalf("%d devices after restore, want 1", n)
	}

	// A restored state compares equal to the same values arriving again.
	var out []hearth.Event
	e := hearth.Event{Seq: 8, Kind: hearth.KindMessage, Topic: "home/lamp", Payload: []byte(`{"brightness":200}`)}
	r.Apply(&e, func(d hearth.Event) { out = append(out, d) })
	if len(out) != 0 {
		t.Fatalf("restored state changed by equal values: %+v", out)
	}

	r.ApplyLogged(hearth.Event{Seq: 10, Time: at.Add(time.Second), Kind: hearth.KindState, Device: "lamp",
		Payload: []byte(`{"state":"OFF"}`), Cause: hearth.Cause{Seq: 9}})
	r.ApplyLogged(hearth.Event{Seq: 12, Time: at.Add(2 * time.Second), Kind: hearth.KindAvailability, Topic: "home/lamp/availability",
		Payload: []byte("offline"), Cause: hearth.Cause{Seq: 11}})
	r.ApplyLogged(hearth.Event{Seq: 13, Kind: hearth.KindState, Device: "lamp", Payload: []byte(`not json`)})
	r.ApplyLogged(hearth.Event{Seq: 14, Kind: hearth.KindMessage, Topic: "home/lamp", Payload: []byte(`{"state":"ON"}`)})
	got, _ = r.Device("lamp")
	want = hearth.DeviceState{ID: "lamp", State: map[string]any{"state": "OFF"}, Availability: hearth.Offline, Seq: 11, Updated: at.Add(2 * time.Second)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after replay = %+v, want %+v", got, want)
	}

	// The next live change carries the replayed state as Prev.
	e = hearth.Event{Seq: 15, Kind: hearth.KindMessage, Topic: "home/lamp", Payload: []byte(`{"state":"ON"}`)}
	r.Apply(&e, func(d hearth.Event) { out = append(out, d) })
	if len(out) != 1 || string(out[0].Prev) != `{"state":"OFF"}` {
		t.Fatalf("after replay, change = %+v", out)
	}
}

func TestMaxDevicesBoundsTheRegistry(t *testing.T) {
	var logs bytes.Buffer
	g := newRigWith(t, Options{BaseTopic: "home", MaxDevices: 3, Adapters: Adapters(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, id := range []string{"a", "b", "c"} {
		if out := g.msgs("home/"+id, `{"state":"ON"}`); len(out) != 1 {
			t.Fatalf("device %s under the bound: emitted %+v, want its state", id, out)
		}
	}
	t.Run("a new id past the bound makes no device", func(t *testing.T) {
		if out := g.msgs("home/reading_1732000000", `{"value":1}`); len(out) != 0 {
			t.Errorf("emitted %+v, want nothing", out)
		}
		if out := g.msgs("home/reading_1732000001/availability", "online"); len(out) != 0 {
			t.Errorf("availability emitted %+v, want nothing", out)
		}
		if got := g.ids(); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
			t.Errorf("devices = %v", got)
		}
		if n := g.r.Refused(); n != 2 {
			t.Errorf("Refused() = %d, want 2", n)
		}
	})
	t.Run("a message that would make no device anyway is not counted", func(t *testing.T) {
		g.msgs("home/reading_1732000002", `{}`)
		g.msgs("home/reading_1732000003", ``) // clears a retained message
		if n := g.r.Refused(); n != 2 {
			t.Errorf("Refused() = %d, want still 2", n)
		}
	})
	t.Run("the adapters keep no records of refused ids", func(t *testing.T) {
		for i := range 20 {
			g.msgs(fmt.Sprintf("zigbee2mqtt/reading_%d", i), `{"value":1}`)
			g.msgs(fmt.Sprintf("tele/reading_%d/STATE", i), `{"POWER":"ON"}`)
			g.msgs(fmt.Sprintf("tele/reading_%d/SENSOR", i), `{"AM2301":{"Temperature":21}}`)
		}
		g.r.mu.RLock()
		meta := len(g.r.meta)
		g.r.mu.RUnlock()
		if meta > 3 {
			t.Errorf("%d adapter records after 60 refused messages, want at most max_devices, 3", meta)
		}
		if got := g.ids(); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
			t.Errorf("devices = %v", got)
		}
	})
	t.Run("the devices it holds keep folding", func(t *testing.T) {
		if out := g.msgs("home/a", `{"state":"OFF"}`); len(out) != 1 || g.state("a")["state"] != "OFF" {
			t.Errorf("emitted %+v, state %v", out, g.state("a"))
		}
	})
	t.Run("the refusal is logged once a minute, naming the device and the bound", func(t *testing.T) {
		// The rig's events are a second apart: the 62 refusals so far
		// span a minute, so the warning came twice.
		text := logs.String()
		if n := strings.Count(text, "too many devices"); n != 2 {
			t.Errorf("%d warnings, want 2:\n%s", n, text)
		}
		if !strings.Contains(text, "device=reading_1732000000") || !strings.Contains(text, "max_devices=3") {
			t.Errorf("warning = %s", text)
		}
	})
	t.Run("a negative bound is refused", func(t *testing.T) {
		if _, err := NewRegistry(Options{MaxDevices: -1}); err == nil || !strings.Contains(err.Error(), "max devices -1") {
			t.Errorf("err = %v", err)
		}
	})
}

// TestMessagesTheRegistryCannotUseAreLoggedAndSaidOnce sends what the
// native convention cannot make sense of: a topic level that is no device
// id (a device of it could be neither shown nor commanded through the
// API), and availability that is neither online nor offline. Each leaves
// the devices as they were and is said as a warning, once a minute of the
// events' time whatever the number of such messages.
func TestMessagesTheRegistryCannotUseAreLoggedAndSaidOnce(t *testing.T) {
	var logs bytes.Buffer
	g := newRigWith(t, Options{BaseTopic: "home", Adapters: Adapters(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	g.msgs("home/lamp", `{"state":"ON"}`)
	for _, level := range []string{"a b", "tab\there", "nl\nhere", "c\x01x", strings.Repeat("x", 200)} {
		e, out := g.send(hearth.KindMessage, "home/"+level, []byte(`{"state":"ON"}`))
		if len(out) != 0 || e.Device != "" {
			t.Errorf("home/%q made device %q: %+v", level, e.Device, out)
		}
	}
	for _, payload := range []string{"banana", "ONLINE!", `{"state":"maybe"}`} {
		if out := g.msgs("home/lamp/availability", payload); len(out) != 0 {
			t.Errorf("availability %q emitted %+v", payload, out)
		}
	}
	if got := g.ids(); !reflect.DeepEqual(got, []string{"lamp"}) {
		t.Errorf("devices = %v", got)
	}
	text := logs.String()
	if n := strings.Count(text, "no device id"); n != 1 {
		t.Errorf("the bad ids were said %d times, want once in these seconds:\n%s", n, text)
	}
	if n := strings.Count(text, `says neither \"online\" nor \"offline\"`); n != 1 || !strings.Contains(text, "payload=banana") {
		t.Errorf("the bad availability was said %d times, want once naming the payload:\n%s", n, text)
	}
}

// TestAButtonsActionIsAnEventNotAState presses a button the same way twice:
// each press is a state change carrying the action, and the state kept has
// none, so that a device trigger on action == "single" fires for each. A
// state replayed from the log or a snapshot keeps none either.
func TestAButtonsActionIsAnEventNotAState(t *testing.T) {
	for _, topic := range []string{"zigbee2mqtt/hall_button", "home/hall_button"} {
		t.Run(topic, func(t *testing.T) {
			g := newRig(t)
			for press := range 2 {
				out := g.msgs(topic, `{"action":"single","battery":90}`)
				if len(out) != 1 || !strings.Contains(string(out[0].Payload), `"action":"single"`) {
					t.Fatalf("press %d emitted %+v, want a state event with the action", press+1, out)
				}
				if st := g.state("hall_button"); st["action"] != nil || st["battery"] != 90.0 {
					t.Fatalf("press %d: the state kept is %v, want the battery and no action", press+1, st)
				}
			}
			if out := g.msgs(topic, `{"battery":90}`); len(out) != 0 {
				t.Errorf("a report with nothing new emitted %+v", out)
			}
		})
	}
	t.Run("replayed and restored", func(t *testing.T) {
		g := newRig(t)
		g.r.ApplyLogged(hearth.Event{Seq: 1, Kind: hearth.KindState, Device: "b1", Payload: []byte(`{"action":"double","battery":80}`)})
		g.r.Restore(append(g.r.Devices(), hearth.DeviceState{ID: "b2", State: map[string]any{"action": "hold", "battery": 70.0}}))
		for _, id := range []string{"b1", "b2"} {
			if st := g.state(id); st["action"] != nil || st["battery"] == nil {
				t.Errorf("%s: %v", id, st)
			}
		}
	})
}
