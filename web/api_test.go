package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"hearth"
)

func TestDevicesAPI(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.house(t)
	url := s.http.URL

	t.Run("the list has every device sorted by id, with its state", func(t *testing.T) {
		var list []deviceJSON
		if code := get(t, url+"/api/devices", &list); code != 200 {
			t.Fatalf("status %d", code)
		}
		var ids []string
		for _, d := range list {
			ids = append(ids, d.ID)
		}
		if got := strings.Join(ids, " "); got != "front_door hall_light hall_motion kitchen_light living_temp" {
			t.Fatalf("ids %s", got)
		}
		if list[0].Availability != hearth.Online || list[4].State["temperature"] != 21.3 {
			t.Fatalf("states %+v", list)
		}
	})
	t.Run("one device has its state and the seq of its last change", func(t *testing.T) {
		var d deviceJSON
		if code := get(t, url+"/api/devices/hall_light", &d); code != 200 || d.State["state"] != "OFF" || d.Seq != 1 {
			t.Fatalf("%d %+v", code, d)
		}
	})
	cases := []struct{ name, path string }{
		{"an unknown device is a 404 naming it", "/api/devices/nope"},
		{"the history of an unknown device is a 404", "/api/devices/nope/history?attr=temperature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e errorBody
			if code := get(t, url+c.path, &e); code != 404 || !strings.Contains(e.Error, `"nope"`) {
				t.Fatalf("%d %+v", code, e)
			}
		})
	}
	t.Run("a device id with a wildcard or a control character is a 400, by the registry's rule", func(t *testing.T) {
		for _, id := range []string{"a+b", "a%01b", strings.Repeat("x", 129)} {
			var e errorBody
			if code := get(t, url+"/api/devices/"+id, &e); code != 400 || !strings.Contains(e.Error, "not valid") {
				t.Fatalf("%s: %d %+v", id, code, e)
			}
		}
	})
}

func TestPutDevice(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.house(t)
	url := s.http.URL + "/api/devices/"

	t.Run("a name and room are stored and shown in the list", func(t *testing.T) {
		var d deviceJSON
		if code := call(t, "PUT", url+"hall_light", `{"name":"  Hall lamp ","room":"Hall"}`, &d); code != 200 || d.Name != "Hall lamp" || d.Room != "Hall" || d.State["state"] != "OFF" {
			t.Fatalf("%d %+v", code, d)
		}
		var list []deviceJSON
		get(t, s.http.URL+"/api/devices", &list)
		for _, d := range list {
			if d.ID == "hall_light" && (d.Name != "Hall lamp" || d.Room != "Hall") {
				t.Fatalf("list shows %+v", d)
			}
		}
		var one deviceJSON
		if get(t, url+"hall_light", &one); one.Room != "Hall" {
			t.Fatalf("device shows %+v", one)
		}
	})
	t.Run("a field left out is cleared", func(t *testing.T) {
		var d deviceJSON
		if code := call(t, "PUT", url+"hall_light", `{"room":"Hall"}`, &d); code != 200 || d.Name != "" || d.Room != "Hall" {
			t.Fatalf("%d %+v", code, d)
		}
	})
	bad := []struct {
		name, id, body string
		status         int
		says           string
	}{
		{"an unknown field is refused", "hall_light", `{"name":"x","colour":"red"}`, 400, "colour"},
		{"bad JSON is refused", "hall_light", `{"name":`, 400, "not valid"},
		{"an empty body is refused", "hall_light", ``, 400, "empty"},
		{"two JSON values are refused", "hall_light", `{"name":"a"} {"name":"b"}`, 400, "after"},
		{"a name of the wrong type is refused in JSON's words", "hall_light", `{"name":12}`, 400, "the body is not valid: name: want a string, got a number"},
		{"a list for the object is refused in JSON's words", "hall_light", `[{"name":"x"}]`, 400, "the body: want an object, got a list"},
		{"bad JSON says where", "hall_light", `{"name" "x"}`, 400, "not JSON at byte 9: invalid character"},
		{"a too long room is refused", "hall_light", fmt.Sprintf(`{"room":%q}`, strings.Repeat("r", 65)), 400, "room"},
		{"a control character is refused", "hall_light", `{"name":"a\u0007b"}`, 400, "printable"},
		{"a huge body is refused", "hall_light", `{"name":"` + strings.Repeat("x", 20000) + `"}`, 413, "larger"},
		{"an unknown device is a 404", "nope", `{"name":"x"}`, 404, "nope"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			var e errorBody
			if code := call(t, "PUT", url+c.id, c.body, &e); code != c.status || !strings.Contains(e.Error, c.says) {
				t.Fatalf("%d %+v, want %d saying %q", code, e, c.status, c.says)
			}
		})
	}
	t.Run("a body that is not JSON by its content type is refused", func(t *testing.T) {
		req, _ := http.NewRequest("PUT", url+"hall_light", strings.NewReader(`name=x`))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

func TestSetDevice(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.house(t)
	url := s.http.URL + "/api/devices/"

	t.Run("a command is logged with cause web and the light's new state follows", func(t *testing.T) {
		var ev json.RawMessage
		if code := call(t, "POST", url+"hall_light/set", `{"state":"ON", "brightness": 200}`, &ev); code != 202 {
			t.Fatalf("status %d: %s", code, ev)
		}
		var got struct {
			Seq     uint64
			Kind    string
			Topic   string
			Device  string
			Payload map[string]any
			Cause   hearth.Cause
		}
		if err := json.Unmarshal(ev, &got); err != nil {
			t.Fatal(err)
		}
		if got.Kind != "command" || got.Topic != "home/hall_light/set" || got.Device != "hall_light" || got.Cause.Source != "web" || got.Payload["brightness"] != 200.0 {
			t.Fatalf("event %s", ev)
		}
		cmds := s.cmd.commands()
		if len(cmds) != 1 || string(cmds[0].Payload) != `{"brightness":200,"state":"ON"}` || cmds[0].Cause != (hearth.Cause{Source: "web"}) {
			t.Fatalf("commands %+v", cmds)
		}
		var d deviceJSON
		if get(t, url+"hall_light", &d); d.State["state"] != "ON" || d.State["brightness"] != 200.0 {
			t.Fatalf("light %+v", d)
		}
		s.durable(t)
		logged, err := s.store.Event(t.Context(), got.Seq)
		if err != nil || logged.Cause.Source != "web" {
			t.Fatalf("logged %+v, %v", logged, err)
		}
	})
	bad := []struct {
		name, id, body string
		status         int
		says           string
	}{
		{"a body that is not an object is refused", "hall_light", `["ON"]`, 400, "not valid"},
		{"an empty object is refused", "hall_light", `{}`, 400, "at least one"},
		{"bad JSON is refused", "hall_light", `{"state":ON}`, 400, "not valid"},
		{"null is refused", "hall_light", `null`, 400, "at least one"},
		{"an unknown device is a 404", "nope", `{"state":"ON"}`, 404, "nope"},
		{"a huge body is refused", "hall_light", `{"x":"` + strings.Repeat("x", 20000) + `"}`, 413, "larger"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			before := len(s.cmd.commands())
			var e errorBody
			if code := call(t, "POST", url+c.id+"/set", c.body, &e); code != c.status || !strings.Contains(e.Error, c.says) {
				t.Fatalf("%d %+v, want %d saying %q", code, e, c.status, c.says)
			}
			if n := len(s.cmd.commands()); n != before {
				t.Fatalf("%d commands sent, want none", n-before)
			}
		})
	}
	t.Run("a command the device cannot take is a 400 saying which attribute and why", func(t *testing.T) {
		// As the hub's Commander refuses it before sending anything.
		why := fmt.Errorf("device hall_light: %w: brightness must be a number, got \"high\"", hearth.ErrBadCommand)
		s.cmd.failWith(why)
		defer s.cmd.failWith(nil)
		var e errorBody
		if code := call(t, "POST", url+"hall_light/set", `{"brightness":"high"}`, &e); code != 400 || e.Error != why.Error() {
			t.Fatalf("%d %+v, want 400 saying %q", code, e, why)
		}
	})
	t.Run("a command the broker cannot send is a 502 saying why", func(t *testing.T) {
		s.cmd.failWith(errBroken)
		defer s.cmd.failWith(nil)
		var e errorBody
		if code := call(t, "POST", url+"hall_light/set", `{"state":"OFF"}`, &e); code != 502 || !strings.Contains(e.Error, errBroken.Error()) {
			t.Fatalf("%d %+v", code, e)
		}
	})
}

func TestEventsAPI(t *testing.T) {
	s := newStack(t, stackOptions{})
	for i := range 5 {
		s.publish(t, "home/x", fmt.Sprintf(`{"n":%d}`, i))
	}
	s.durable(t)
	url := s.http.URL + "/api/events"

	t.Run("newest first with a limit", func(t *testing.T) {
		var evs []eventOut
		if code := get(t, url+"?limit=2", &evs); code != 200 || len(evs) != 2 || evs[0].Seq <= evs[1].Seq {
			t.Fatalf("%d %+v", code, evs)
		}
	})
	t.Run("filters and paging reach the log", func(t *testing.T) {
		var evs []struct {
			Seq     uint64
			Kind    string
			Payload map[string]any
		}
		if code := get(t, url+"?device=x&kind=state&before=8", &evs); code != 200 || len(evs) == 0 {
			t.Fatalf("%d %+v", code, evs)
		}
		for _, e := range evs {
			if e.Kind != "state" || e.Seq >= 8 {
				t.Fatalf("event %+v does not match", e)
			}
		}
	})
	t.Run("a huge limit is clamped", func(t *testing.T) {
		var evs []eventOut
		if code := get(t, url+"?limit=100000000", &evs); code != 200 || len(evs) != 10 {
			t.Fatalf("%d, %d events", code, len(evs))
		}
		q, err := parseEventQuery(httpRequest(t, "/api/events?limit=100000000"))
		if err != nil || q.Limit != maxEventsLimit {
			t.Fatalf("limit %d, %v", q.Limit, err)
		}
	})
	for _, bad := range []string{"limit=0", "limit=abc", "limit=-5", "before=-1", "before=x", "kind=nonsense"} {
		t.Run("bad parameter "+bad+" is a 400 naming it", func(t *testing.T) {
			var e errorBody
			code := get(t, url+"?"+bad, &e)
			name := strings.SplitN(bad, "=", 2)[0]
			if code != 400 || !strings.Contains(e.Error, name) {
				t.Fatalf("%d %+v", code, e)
			}
		})
	}
}

func httpRequest(t testing.TB, target string) *http.Request {
	t.Helper()
	r, err := http.NewRequest("GET", "http://hub"+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestUnknownEndpointIsJSON404(t *testing.T) {
	s := newStack(t, stackOptions{noStore: true})
	var e errorBody
	if code := get(t, s.http.URL+"/api/nothing", &e); code != 404 || e.Error == "" {
		t.Fatalf("%d %+v", code, e)
	}
}

func TestAWrongMethodIsA405SayingWhichTheEndpointTakes(t *testing.T) {
	s := newStack(t, stackOptions{noStore: true})
	for _, tc := range []struct{ method, path, allow, says string }{
		{"DELETE", "/api/devices/hall_light", "GET, PUT", "DELETE /api/devices/hall_light: this endpoint takes GET or PUT"},
		{"GET", "/api/devices/hall_light/set", "POST", "takes POST"},
		{"PUT", "/api/tokens/abc", "DELETE", "takes DELETE"},
	} {
		req, err := http.NewRequest(tc.method, s.http.URL+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e errorBody
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 405 || resp.Header.Get("Allow") != tc.allow || !strings.Contains(e.Error, tc.says) {
			t.Errorf("%s %s: %d Allow %q %+v (%v), want 405 Allow %q saying %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), e, err, tc.allow, tc.says)
		}
	}
}

func TestHealthz(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.publish(t, "home/x", `{"a":1}`)
	s.durable(t)
	var body map[string]any
	if code := get(t, s.http.URL+"/healthz", &body); code != 200 || body["status"] != "ok" || body["next_seq"] != 3.0 || body["durable_seq"] != 2.0 {
		t.Fatalf("%d %v", code, body)
	}
}

func TestMissingPartsAre503(t *testing.T) {
	srv := New(Options{Devices: devicesNone{}, Logger: testLogger(t)})
	h := srv.Handler()
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/events", ""},
		{"GET", "/api/events/1/causes", ""},
		{"GET", "/api/events/stream", ""},
		{"GET", "/api/automations", ""},
		{"POST", "/api/automations/x/run", ""},
	} {
		t.Run(c.method+" "+c.path+" without its part is a 503", func(t *testing.T) {
			rec := recorder(h, c.method, c.path, c.body)
			if rec.Code != 503 || !strings.Contains(rec.Body.String(), "not available") {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
		})
	}
}

// devicesNone is a read model with no devices.
type devicesNone struct{}

func (devicesNone) Device(string) (hearth.DeviceState, bool) { return hearth.DeviceState{}, false }
func (devicesNone) Devices() []hearth.DeviceState            { return nil }

// infoOf gives names and rooms as a devices file would.
type infoOf map[string]hearth.DeviceInfo

func (f infoOf) Info(id string) (hearth.DeviceInfo, bool) { i, ok := f[id]; return i, ok }

func TestNamesFromTheDevicesFile(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.house(t)
	s.web.opts.Info = infoOf{"hall_light": {ID: "hall_light", Name: "Hall lamp", Room: "Hall"}}
	url := s.http.URL + "/api/devices/hall_light"

	var d deviceJSON
	if get(t, url, &d); d.Name != "Hall lamp" || d.Room != "Hall" {
		t.Fatalf("from the file: %+v", d)
	}
	t.Run("a name set on the page wins", func(t *testing.T) {
		if call(t, "PUT", url, `{"name":"Ceiling","room":"Entrance"}`, &d); d.Name != "Ceiling" || d.Room != "Entrance" {
			t.Fatalf("%+v", d)
		}
		if get(t, url, &d); d.Name != "Ceiling" {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("clearing it on the page shows the file's again", func(t *testing.T) {
		if call(t, "PUT", url, `{}`, &d); d.Name != "Hall lamp" || d.Room != "Hall" {
			t.Fatalf("%+v", d)
		}
	})
}

func TestDevicesCarryTheirCapabilities(t *testing.T) {
	s := newStack(t, stackOptions{info: zigbeeHouse})
	s.publish(t, "home/front_lock", `{"state":"UNLOCK","battery":92}`)
	s.publish(t, "home/hall_motion", `{"occupancy":false,"voltage":3042}`)
	s.durable(t)

	var lock deviceJSON
	get(t, s.http.URL+"/api/devices/front_lock", &lock)
	want := []hearth.Capability{
		{Attr: "state", Type: "binary", Set: true, On: "LOCK", Off: "UNLOCK"},
		{Attr: "battery", Type: "numeric", Unit: "%"},
	}
	if lock.Kind != "lock" || !reflect.DeepEqual(lock.Capabilities, want) {
		t.Errorf("the lock is a %q with the capabilities %+v, want a lock with %+v", lock.Kind, lock.Capabilities, want)
	}
	t.Run("the list carries them too, trimmed to what the page uses", func(t *testing.T) {
		var list []map[string]any
		get(t, s.http.URL+"/api/devices", &list)
		for _, d := range list {
			if d["id"] != "hall_motion" {
				continue
			}
			caps, _ := json.Marshal(d["capabilities"])
			// Occupancy is neither set nor has a unit; a class is left out.
			if string(caps) != `[{"attr":"voltage","type":"numeric","unit":"mV"},{"attr":"device_temperature","type":"numeric","unit":"°C"}]` {
				t.Errorf("the motion sensor's capabilities are %s", caps)
			}
			return
		}
		t.Fatalf("no hall_motion in %v", list)
	})
	t.Run("a device the hub knows nothing of has none", func(t *testing.T) {
		s.publish(t, "home/mystery", `{"value":1}`)
		s.durable(t)
		var raw map[string]any
		if get(t, s.http.URL+"/api/devices/mystery", &raw); raw["capabilities"] != nil {
			t.Errorf("capabilities %v for an unknown device", raw["capabilities"])
		}
	})
}
