package automations

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"hearth"
)

func TestATraceIsWrittenAsJSONMarshalWritesIt(t *testing.T) {
	at := time.Date(2025, 11, 25, 20, 0, 0, 123456789, time.FixedZone("", 2*3600))
	step := func(text string) hearth.TraceStep { return hearth.TraceStep{Time: at, Kind: "condition", Text: text} }
	cases := []struct {
		name string
		tr   hearth.Trace
	}{
		{"a run's trace", hearth.Trace{
			RunSummary: hearth.RunSummary{Run: "hall#12", Started: at, Ended: at.Add(time.Millisecond), Outcome: "done"},
			Automation: "hall", Trigger: 42,
			Steps: []hearth.TraceStep{
				{Time: at, Kind: "trigger", Text: "device motion when occupancy == true", Result: "fired"},
				{Time: at, Kind: "condition", Text: "(states.lux.illuminance ?? 0) < 30 && a > 1 & b", Result: "true"},
				{Time: at, Kind: "command", Text: `set light {"brightness":200,"state":"ON"}`, Result: "sent", Seq: 43},
			}}},
		{"a run still going, with nothing optional", hearth.Trace{
			RunSummary: hearth.RunSummary{Run: "a#1", Started: at, Outcome: "running"}, Automation: "a", Steps: []hearth.TraceStep{}}},
		{"a trace without steps", hearth.Trace{RunSummary: hearth.RunSummary{Run: "a#-"}, Automation: "a"}},
		{"a failed run with values", hearth.Trace{
			RunSummary: hearth.RunSummary{Run: "a#2", Started: at, Ended: at, Outcome: "failed", Error: `command to "home/x/set": broker <down>`},
			Automation: "a",
			Steps: []hearth.TraceStep{{Time: at, Kind: "condition", Text: "x", Result: "false", Error: "boom",
				Values: map[string]any{"states.lux.illuminance": 80.0, "b<>": "&", "n": nil, "m": map[string]any{"z": []any{1.0, "é"}}}}},
		}},
		{"strings that need escaping", hearth.Trace{
			RunSummary: hearth.RunSummary{Run: `q"uote\back`, Started: at, Outcome: "done"}, Automation: "caf\u00e9",
			Steps: []hearth.TraceStep{step("line\nbreak\ttab"), step("\u2028 and \u2029"), step("bad \xff utf-8"), step("\x00\x1f\x7f"), step("")}}},
		{"times in UTC and at the zero", hearth.Trace{
			RunSummary: hearth.RunSummary{Run: "a#3", Started: time.Time{}, Ended: at.UTC(), Outcome: "done"}, Automation: "a",
			Steps: []hearth.TraceStep{{Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Kind: "action", Text: "delay 1s"}}}},
		{"a year JSON cannot write", hearth.Trace{RunSummary: hearth.RunSummary{Run: "a#4", Started: at.AddDate(9000, 0, 0)}, Automation: "a"}},
		{"a value JSON cannot write", hearth.Trace{RunSummary: hearth.RunSummary{Run: "a#5", Started: at}, Automation: "a",
			Steps: []hearth.TraceStep{{Time: at, Kind: "condition", Text: "x", Values: map[string]any{"x": math.NaN()}}}}},
		{"every field set", filled[hearth.Trace]()},
	}
	e := New(Options{})
	t.Cleanup(e.Close)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, wantErr := json.Marshal(tc.tr)
			for range 2 { // the second time from the reused buffer
				got, err := e.traceJSON(&tc.tr)
				if !bytes.Equal(got, want) || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
					t.Fatalf("got %s (error %v)\nwant %s (error %v)", got, err, want, wantErr)
				}
			}
		})
	}
}

// filled returns a T with every field set (strings to "<x&y>", numbers to
// 7, times to a time, maps to one entry), so that a field added to a trace
// is one the test sees.
func filled[T any]() T {
	var v T
	fill(reflect.ValueOf(&v).Elem())
	return v
}

func fill(v reflect.Value) {
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2025, 11, 25, 20, 0, 0, 5, time.UTC)))
		return
	case v.Type() == reflect.TypeFor[map[string]any]():
		v.Set(reflect.ValueOf(map[string]any{"k": "<v>"}))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("<x&y>")
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint64, reflect.Uint:
		v.SetUint(7)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i))
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i))
		}
		v.Set(s)
	default:
		panic("fill does not know " + v.Type().String())
	}
}

// FuzzTraceJSON checks that a trace with any text is written as
// json.Marshal writes it.
func FuzzTraceJSON(f *testing.F) {
	f.Add("a#1", "x < 1 && y > 2", "done", uint64(3), int64(0))
	f.Add("\"\\", "\u2028\xff\n", "", uint64(0), int64(-1))
	e := New(Options{})
	f.Cleanup(e.Close)
	f.Fuzz(func(t *testing.T, run, text, result string, seq uint64, ns int64) {
		at := time.Unix(0, ns).UTC()
		tr := hearth.Trace{RunSummary: hearth.RunSummary{Run: run, Started: at, Ended: at, Outcome: result, Error: text}, Automation: run, Trigger: seq,
			Steps: []hearth.TraceStep{{Time: at, Kind: text, Text: text, Result: result, Seq: seq, Error: result, Values: map[string]any{text: run}}}}
		want, wantErr := json.Marshal(tr)
		got, err := e.traceJSON(&tr)
		if !bytes.Equal(got, want) || (err == nil) != (wantErr == nil) {
			t.Fatalf("got %s (error %v)\nwant %s (error %v)", got, err, want, wantErr)
		}
	})
}
