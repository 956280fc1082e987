package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// recorder runs one request against h in process.
func recorder(h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
	return rec
}

func TestHistoryAPI(t *testing.T) {
	s := newStack(t, stackOptions{})
	// A thermometer reporting every minute for three hours, an hour ago.
	start := time.Now().Add(-4 * time.Hour).Truncate(time.Minute)
	for i := range 180 {
		s.clock.set(start.Add(time.Duration(i) * time.Minute))
		s.publish(t, "home/living_temp", fmt.Sprintf(`{"temperature":%d,"humidity":40}`, 20+i%10))
	}
	s.clock.set(time.Time{})
	s.durable(t)
	base := s.http.URL + "/api/devices/living_temp/history?attr=temperature"
	iso := func(t time.Time) string { return url.QueryEscape(t.Format(time.RFC3339)) }

	t.Run("a range in 30-minute steps gives min, avg and max per bucket", func(t *testing.T) {
		var h historyBody
		code := get(t, base+"&from="+iso(start)+"&to="+iso(start.Add(3*time.Hour))+"&step=30m", &h)
		if code != 200 || len(h.Points) != 6 || h.StepMS != 30*60*1000 || h.Step != "30m0s" {
			t.Fatalf("%d %+v", code, h)
		}
		p := h.Points[0]
		if p.Min != 20 || p.Max != 29 || p.Avg != 24.5 || p.Count != 30 || !p.Time.Equal(start) {
			t.Fatalf("first point %+v", p)
		}
	})
	t.Run("the default range is the last day in about 300 points", func(t *testing.T) {
		var h historyBody
		if code := get(t, base, &h); code != 200 || h.To.Sub(h.From) != 24*time.Hour || h.StepMS != 288000 {
			t.Fatalf("%d from %s to %s step %s", code, h.From, h.To, h.Step)
		}
		n := 0
		for _, p := range h.Points {
			n += p.Count
		}
		if n != 180 {
			t.Fatalf("%d values in the last day, want 180", n)
		}
	})
	t.Run("a range after the last change has the value carried in", func(t *testing.T) {
		var h historyBody
		if code := get(t, base+"&from=-1h", &h); code != 200 || len(h.Points) != 1 || h.Points[0].Count != 0 || h.Points[0].Avg != 29 {
			t.Fatalf("%d %+v", code, h)
		}
	})
	t.Run("a too fine step is coarsened to at most 2000 points", func(t *testing.T) {
		var h historyBody
		if code := get(t, base+"&from=-168h&step=1s", &h); code != 200 || time.Duration(h.StepMS)*time.Millisecond*maxHistoryPoints < 168*time.Hour {
			t.Fatalf("%d step %s", code, h.Step)
		}
	})
	t.Run("a text attribute has no points", func(t *testing.T) {
		s.publish(t, "home/living_temp", `{"mode":"eco"}`)
		s.durable(t)
		var h historyBody
		if code := get(t, strings.Replace(base, "temperature", "mode", 1), &h); code != 200 || len(h.Points) != 0 {
			t.Fatalf("%d %+v", code, h)
		}
	})
	bad := []struct {
		name, query, says string
	}{
		{"a missing attribute", "/api/devices/living_temp/history", "attr is required"},
		{"a quoted attribute", `/api/devices/living_temp/history?attr=a"b`, "attr"},
		{"a from after to", "&from=" + iso(start) + "&to=" + iso(start.Add(-time.Hour)), "must be before"},
		{"a from equal to to", "&from=" + iso(start) + "&to=" + iso(start), "must be before"},
		{"a from that is no time", "&from=yesterday", "from"},
		{"a to that is no time", "&to=2025-13-45", "to"},
		{"a step that is no duration", "&step=fast", "step"},
		{"a step under a second", "&step=10ms", "step"},
		{"a negative step", "&step=-5m", "step"},
		{"a range of years", "&from=-87600h", "at most"},
	}
	for _, c := range bad {
		t.Run(c.name+" is a 400 saying what is wrong", func(t *testing.T) {
			target := base + c.query
			if strings.HasPrefix(c.query, "/") {
				target = s.http.URL + c.query
			}
			var e errorBody
			if code := get(t, target, &e); code != 400 || !strings.Contains(e.Error, c.says) {
				t.Fatalf("%d %+v, want 400 saying %q", code, e, c.says)
			}
		})
	}
}

func TestCeilStep(t *testing.T) {
	for _, c := range []struct {
		span time.Duration
		n    int
		want time.Duration
	}{
		{time.Hour, 300, 12 * time.Second},
		{24 * time.Hour, 300, 288 * time.Second},
		{7 * 24 * time.Hour, 300, 2016 * time.Second},
		{time.Minute, 300, time.Second},
		{1001 * time.Second, 1000, 2 * time.Second},
	} {
		t.Run(fmt.Sprintf("%s in %d buckets is %s each", c.span, c.n, c.want), func(t *testing.T) {
			if got := ceilStep(c.span, c.n); got != c.want {
				t.Fatalf("got %s", got)
			}
		})
	}
}
