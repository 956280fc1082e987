package devices

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"

	"hearth"
)

// genJSON draws a JSON value of the shapes devices send, nested up to depth.
func genJSON(depth int) *rapid.Generator[any] {
	scalars := rapid.OneOf(
		rapid.Just[any](nil),
		rapid.Map(rapid.Bool(), func(b bool) any { return b }),
		rapid.Map(rapid.IntRange(-3, 300), func(i int) any { return float64(i) }),
		rapid.Map(rapid.Float64().Filter(func(f float64) bool { return !math.IsInf(f, 0) && !math.IsNaN(f) }),
			func(f float64) any { return f }),
		rapid.Map(rapid.SampledFrom([]string{"ON", "OFF", "", "idle", "a\"b", "é\n\t\u0001", "😀"}), func(s string) any { return s }),
		rapid.Map(rapid.String(), func(s string) any { return s }),
	)
	if depth == 0 {
		return scalars
	}
	return rapid.OneOf(scalars,
		rapid.Map(rapid.MapOfN(rapid.SampledFrom([]string{"x", "y", "state"}), genJSON(depth-1), 0, 3),
			func(m map[string]any) any { return m }),
		rapid.Map(rapid.SliceOfN(genJSON(depth-1), 0, 3), func(s []any) any { return s }),
	)
}

// genText draws JSON text the way a device might write it: keys can repeat
// (the last counts) and white space varies.
func genText(depth int) *rapid.Generator[[]byte] {
	return rapid.Custom(func(t *rapid.T) []byte {
		space := rapid.SampledFrom([]string{"", "", " ", "\n\t"})
		kind := 0
		if depth > 0 {
			kind = rapid.IntRange(0, 2).Draw(t, "kind")
		}
		switch kind {
		case 1:
			b := []byte("{" + space.Draw(t, "ws"))
			n := rapid.IntRange(0, 3).Draw(t, "members")
			for i := range n {
				if i > 0 {
					b = append(b, ',')
				}
				k := rapid.SampledFrom([]string{"occupancy", "state", "x", "y", "value"}).Draw(t, "key")
				b = append(b, `"`+k+`"`+space.Draw(t, "ws")+":"...)
				b = append(b, genText(depth-1).Draw(t, "member")...)
			}
			return append(b, '}')
		case 2:
			b := []byte("[")
			n := rapid.IntRange(0, 3).Draw(t, "elements")
			for i := range n {
				if i > 0 {
					b = append(b, ", "...)
				}
				b = append(b, genText(depth-1).Draw(t, "element")...)
			}
			return append(b, ']')
		}
		b, err := json.Marshal(genJSON(0).Draw(t, "scalar"))
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		return b
	})
}

// genPayload draws a state payload: mostly objects over a few keys, and
// sometimes a scalar, an array, or bytes that are not JSON at all.
func genPayload() *rapid.Generator[[]byte] {
	keys := rapid.SampledFrom([]string{"occupancy", "illuminance", "state", "brightness", "color", "value"})
	object := rapid.Custom(func(t *rapid.T) []byte {
		m := rapid.MapOfN(keys, genJSON(2), 0, 4).Draw(t, "object")
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("marshal %v: %v", m, err)
		}
		return b
	})
	other := rapid.Custom(func(t *rapid.T) []byte {
		b, err := json.Marshal(genJSON(1).Draw(t, "value"))
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		return b
	})
	text := rapid.Custom(func(t *rapid.T) []byte {
		b := []byte("{")
		n := rapid.IntRange(0, 4).Draw(t, "members")
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `"`+keys.Draw(t, "key")+`":`...)
			b = append(b, genText(2).Draw(t, "member")...)
		}
		return append(b, '}')
	})
	return rapid.OneOf(object, object, text, text, other,
		rapid.SliceOfN(rapid.Byte(), 0, 8),
		rapid.Map(rapid.SampledFrom([]string{"ON", "{", `{"a":}`, "\xff", "[1,", "online"}), func(s string) []byte { return []byte(s) }))
}

// referenceFold is the merge written plainly with encoding/json, to check the
// fast one against. It returns nil for a payload that changes nothing.
func referenceFold(old map[string]any, payload []byte) map[string]any {
	if len(payload) == 0 {
		return nil
	}
	var obj map[string]any
	if trimmed := bytes.TrimSpace(payload); len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(payload, &obj) != nil {
		var v any
		obj = map[string]any{"value": validString(payload)}
		if err := json.Unmarshal(payload, &v); err == nil {
			switch v.(type) {
			case []any, map[string]any:
			default:
				obj = map[string]any{"value": v}
			}
		}
	}
	next := maps.Clone(old)
	if next == nil {
		next = map[string]any{}
	}
	for k, v := range obj {
		if v == nil {
			delete(next, k)
		} else {
			next[k] = v
		}
	}
	return next
}

// TestReplayRebuildsReadModel checks the read model is a fold of the log: the
// state and availability events the registry emits, replayed through
// ApplyLogged on a fresh registry, give the same devices. It also checks the
// fast merge against a plain one (state and whether it changed after every
// message), that each state event's Prev is the previous one's Payload, and
// that Restore from the read model gives the read model.
func TestReplayRebuildsReadModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		live := New("home", nil)
		ids := rapid.SampledFrom([]string{"a", "b", "c"})
		subs := rapid.SampledFrom([]string{"", "", "", "/availability", "/set", "/button"})
		avail := rapid.SampledFrom([]string{"online", "offline", "on", "", `{"state":"offline"}`})
		n := rapid.IntRange(0, 40).Draw(t, "messages")

		var logged []hearth.Event
		lastState := map[string][]byte{}
		var seq uint64
		for i := 0; i < n; i++ {
			id, sub := ids.Draw(t, "id"), subs.Draw(t, "sub")
			var payload []byte
			if sub == "/availability" {
				payload = []byte(avail.Draw(t, "availability"))
			} else {
				payload = genPayload().Draw(t, "payload")
			}
			seq++
			e := hearth.Event{Seq: seq, Time: time.Unix(int64(seq), 0).UTC(), Kind: hearth.KindMessage,
				Topic: "home/" + id + sub, Payload: payload}
			emitted := len(logged)
			before, known := live.Device(id)
			live.Apply(&e, func(d hearth.Event) {
				seq++
				d.Seq = seq
				logged = append(logged, d)
			})
			if sub != "" {
				continue
			}
			want := map[string]any{}
			if known {
				want = before.State
			}
			changed := false
			if after := referenceFold(want, payload); after != nil && !reflect.DeepEqual(after, want) {
				want, changed = after, true
			}
			if changed != (len(logged) > emitted) {
				t.Fatalf("after %q: reference changed=%v, registry emitted %d events", payload, changed, len(logged)-emitted)
			}
			got, nowKnown := live.Device(id)
			if nowKnown != (known || changed) || nowKnown && !reflect.DeepEqual(got.State, want) {
				t.Fatalf("after %q the state is %#v (known %v), the reference says %#v", payload, got.State, nowKnown, want)
			}
		}
		for _, e := range logged {
			if e.Kind != hearth.KindState {
				continue
			}
			want, ok := lastState[e.Device]
			if !ok {
				want = []byte("{}")
			}
			if string(e.Prev) != string(want) {
				t.Fatalf("event %d prev = %s, want the previous payload %s", e.Seq, e.Prev, want)
			}
			lastState[e.Device] = e.Payload
		}

		replayed := New("home", nil)
		for _, e := range logged {
			replayed.ApplyLogged(e)
		}
		if got, want := replayed.Devices(), live.Devices(); !reflect.DeepEqual(got, want) {
			t.Fatalf("replayed read model differs:\n got  %+v\n want %+v", got, want)
		}

		restored := New("home", nil)
		restored.Restore(live.Devices())
		if got, want := restored.Devices(), live.Devices(); !reflect.DeepEqual(got, want) {
			t.Fatalf("restored read model differs:\n got  %+v\n want %+v", got, want)
		}
	})
}
