package sim

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestApplyCommand(t *testing.T) {
	off := LightState{Brightness: 254}
	dim := LightState{On: true, Brightness: 30}
	cases := []struct {
		name    string
		from    LightState
		command string
		want    LightState
		wantErr string
	}{
		{"ON turns the light on at its level", off, `{"state":"ON"}`, LightState{On: true, Brightness: 254}, ""},
		{"OFF keeps the level for next time", dim, `{"state":"OFF"}`, LightState{Brightness: 30}, ""},
		{"TOGGLE turns an off light on", off, `{"state":"TOGGLE"}`, LightState{On: true, Brightness: 254}, ""},
		{"TOGGLE turns an on light off", dim, `{"state":"toggle"}`, LightState{Brightness: 30}, ""},
		{"state and brightness together", off, `{"state":"ON","brightness":200}`, LightState{On: true, Brightness: 200}, ""},
		{"OFF with a brightness sets the level and stays off", dim, `{"state":"OFF","brightness":99}`, LightState{Brightness: 99}, ""},
		{"TOGGLE with a brightness toggles from the old state", off, `{"state":"TOGGLE","brightness":99}`, LightState{On: true, Brightness: 99}, ""},
		{"a brightness alone turns the light on", off, `{"brightness":1}`, LightState{On: true, Brightness: 1}, ""},
		{"brightness 0 turns the light off", dim, `{"brightness":0}`, LightState{Brightness: 30}, ""},
		{"a fractional brightness is rounded", off, `{"brightness":99.6}`, LightState{On: true, Brightness: 100}, ""},
		{"unknown keys are ignored", off, `{"state":"ON","transition":3}`, LightState{On: true, Brightness: 254}, ""},
		{"text is not a command", dim, `ON`, dim, "not a JSON object"},
		{"null is not a command", dim, `null`, dim, "not a JSON object"},
		{"an array is not a command", dim, `[]`, dim, "not a JSON object"},
		{"an empty object says nothing", dim, `{}`, dim, "neither"},
		{"an unknown state is refused", dim, `{"state":"BLINK"}`, dim, "BLINK"},
		{"a state that is not a string is refused", dim, `{"state":true}`, dim, "not a string"},
		{"a brightness above 254 is refused", dim, `{"brightness":255}`, dim, "0 to 254"},
		{"a negative brightness is refused", dim, `{"brightness":-1}`, dim, "0 to 254"},
		{"a brightness that is not a number is refused", dim, `{"brightness":"50"}`, dim, "0 to 254"},
		{"a bad brightness spoils a good state", dim, `{"state":"OFF","brightness":900}`, dim, "0 to 254"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := applyCommand(tc.from, []byte(tc.command))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one mentioning %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatalf("error = %v", err)
			}
			if got != tc.want {
				t.Fatalf("state = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestMotionWalk(t *testing.T) {
	m := newMotion(rand.New(rand.NewPCG(1, 1)))
	if m.initial()["occupancy"] != false {
		t.Fatalf("a motion sensor starts with nobody there")
	}
	var arrivals []int // ticks between one departure and the next arrival
	occupied, since := false, 0
	for tick := 1; tick <= 20000; tick++ {
		since++
		st := m.step()
		if st == nil {
			continue
		}
		now := st["occupancy"].(bool)
		switch {
		case now && !occupied:
			arrivals = append(arrivals, since)
			since = 0
		case !now && occupied:
			if since < 10 || since > 40 {
				t.Fatalf("someone stayed %d ticks, want 10 to 40", since)
			}
			since = 0
		}
		occupied = now
	}
	if len(arrivals) < 200 {
		t.Fatalf("only %d arrivals in 20000 ticks", len(arrivals))
	}
	if first := arrivals[0]; first < 3 || first > 12 {
		t.Fatalf("the first person came after %d ticks, want 3 to 12", first)
	}
	for _, a := range arrivals[1:] {
		if a < 20 || a > 60 {
			t.Fatalf("an empty spell of %d ticks, want 20 to 60", a)
		}
	}
}

func TestDaylightCurve(t *testing.T) {
	cases := []struct {
		name    string
		hour    float64
		lo, hi  float64
		exactly bool
	}{
		{name: "midnight is dark", hour: 0, exactly: true},
		{name: "before dawn is dark", hour: 5.9, exactly: true},
		{name: "noon is brightest", hour: 12, lo: 599, hi: 600},
		{name: "mid-morning is bright", hour: 9, lo: 400, hi: 450},
		{name: "after dusk is dark", hour: 18.5, exactly: true},
		{name: "the next day repeats", hour: 36, lo: 599, hi: 600},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := daylight(tc.hour)
			if tc.exactly && v != 0 || !tc.exactly && (v < tc.lo || v > tc.hi) {
				t.Fatalf("daylight(%v) = %v", tc.hour, v)
			}
		})
	}

	// A sensor started at midnight with a day of 240 ticks reports dark
	// for the first quarter and bright around noon.
	l := newLightLevel(rand.New(rand.NewPCG(3, 3)), 0, 24.0/240)
	var reports []int
	for range 240 {
		if st := l.step(); st != nil {
			reports = append(reports, st["illuminance"].(int))
		}
	}
	if len(reports) != 24 {
		t.Fatalf("%d reports in 240 ticks, want one every 10", len(reports))
	}
	if reports[2] > 10 || reports[11] < 400 || reports[22] > 10 {
		t.Fatalf("reports over a day = %v", reports)
	}
}

func TestSameSeedSameHouse(t *testing.T) {
	run := func() []map[string]any {
		h, err := NewHouse(Demo(), Options{Rand: rand.New(rand.NewPCG(42, 42)), Tick: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for _, n := range h.nodes {
			if s, ok := n.(*sensor); ok {
				out = append(out, s.model.initial())
				for range 100 {
					if st := s.model.step(); st != nil {
						out = append(out, st)
					}
				}
			}
		}
		return out
	}
	if a, b := run(), run(); !reflect.DeepEqual(a, b) {
		t.Fatalf("two houses from the same seed behaved differently")
	}
}

func TestNewHouseRejectsBadSpecs(t *testing.T) {
	cases := []struct {
		name  string
		specs []Spec
		want  string
	}{
		{"an empty id", []Spec{{ID: "", Kind: Lamp}}, "one topic level"},
		{"an id of two levels", []Spec{{ID: "a/b", Kind: Lamp}}, "one topic level"},
		{"an id with a wildcard", []Spec{{ID: "a+", Kind: Lamp}}, "one topic level"},
		{"the same id twice", []Spec{{ID: "a", Kind: Lamp}, {ID: "a", Kind: Motion}}, "twice"},
		{"an unknown kind", []Spec{{ID: "a", Kind: "toaster"}}, "unknown kind"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			if _, err := NewHouse(tc.specs, Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
