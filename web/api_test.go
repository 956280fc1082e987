package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"hearth"
)

// fakeDevices and fakeLog stand in for the read model and the store, which
// the hub's end-to-end tests exercise for real.
type fakeDevices map[string]hearth.DeviceState

func (f fakeDevices) Device(id string) (hearth.DeviceState, bool) { d, ok := f[id]; return d, ok }
func (f fakeDevices) Devices() []hearth.DeviceState {
	var out []hearth.DeviceState
	for _, d := range f {
		out = append(out, d)
	}
	return out
}

type fakeLog struct {
	events []hearth.Event
	last   hearth.EventQuery
}

func (f *fakeLog) Events(_ context.Context, q hearth.EventQuery) ([]hearth.Event, error) {
	f.last = q
	var out []hearth.Event
	for i := len(f.events) - 1; i >= 0 && len(out) < q.Limit; i-- {
		if q.Before == 0 || f.events[i].Seq < q.Before {
			out = append(out, f.events[i])
		}
	}
	return out, nil
}

func newTestServer(t *testing.T) (*httptest.Server, *fakeLog) {
	t.Helper()
	devs := fakeDevices{"hall_light": {ID: "hall_light", State: map[string]any{"state": "ON"}, Seq: 7, Updated: time.Unix(100, 0)}}
	lg := &fakeLog{}
	for i := 1; i <= 5; i++ {
		lg.events = append(lg.events, hearth.Event{Seq: uint64(i), Kind: hearth.KindMessage, Topic: "home/x", Payload: []byte(`{"n":1}`)})
	}
	srv := httptest.NewServer(New(Options{Devices: devs, Log: lg}).Handler())
	t.Cleanup(srv.Close)
	return srv, lg
}

func get(t *testing.T, url string, into any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: content type %q, want application/json", url, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
	return resp.StatusCode
}

func TestDevicesAPI(t *testing.T) {
	srv, _ := newTestServer(t)

	var list []hearth.DeviceState
	if code := get(t, srv.URL+"/api/devices", &list); code != 200 || len(list) != 1 || list[0].ID != "hall_light" {
		t.Fatalf("list: %d %+v", code, list)
	}
	var one hearth.DeviceState
	if code := get(t, srv.URL+"/api/devices/hall_light", &one); code != 200 || one.State["state"] != "ON" || one.Seq != 7 {
		t.Fatalf("one: %d %+v", code, one)
	}
	var e errorBody
	if code := get(t, srv.URL+"/api/devices/nope", &e); code != 404 || !strings.Contains(e.Error, `"nope"`) {
		t.Fatalf("missing device: %d %+v", code, e)
	}
}

func TestEventsAPI(t *testing.T) {
	srv, lg := newTestServer(t)

	t.Run("newest first with a limit", func(t *testing.T) {
		var evs []json.RawMessage
		if code := get(t, srv.URL+"/api/events?limit=2", &evs); code != 200 || len(evs) != 2 {
			t.Fatalf("%d %s", code, evs)
		}
		var first struct {
			Seq     uint64
			Payload map[string]any
		}
		_ = json.Unmarshal(evs[0], &first)
		if first.Seq != 5 || first.Payload["n"] != 1.0 {
			t.Fatalf("first event %s", evs[0])
		}
	})
	t.Run("filters reach the log", func(t *testing.T) {
		var evs []json.RawMessage
		get(t, srv.URL+"/api/events?device=hall&topic=home/hall&kind=state&before=4", &evs)
		want := hearth.EventQuery{Device: "hall", Topic: "home/hall", Kind: hearth.KindState, Before: 4, Limit: 100}
		if lg.last != want {
			t.Fatalf("query %+v, want %+v", lg.last, want)
		}
	})
	for _, bad := range []string{"limit=0", "limit=abc", "limit=100000", "before=-1", "kind=nonsense"} {
		t.Run("bad parameter "+bad+" is a 400 naming it", func(t *testing.T) {
			var e errorBody
			code := get(t, srv.URL+"/api/events?"+bad, &e)
			name := strings.SplitN(bad, "=", 2)[0]
			if code != 400 || !strings.Contains(e.Error, name) {
				t.Fatalf("%d %+v", code, e)
			}
		})
	}
}

func TestUnknownEndpointIsJSON404(t *testing.T) {
	srv, _ := newTestServer(t)
	var e errorBody
	if code := get(t, srv.URL+"/api/nothing", &e); code != 404 || e.Error == "" {
		t.Fatalf("%d %+v", code, e)
	}
}

func TestHealthz(t *testing.T) {
	srv, _ := newTestServer(t)
	var body map[string]any
	if code := get(t, srv.URL+"/healthz", &body); code != 200 || body["status"] != "ok" {
		t.Fatalf("%d %v", code, body)
	}
}
