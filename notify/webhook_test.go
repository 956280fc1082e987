package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"hearth"
)

func TestWebhookDelivery(t *testing.T) {
	t.Run("a notification is posted as JSON and its delivery logged with its cause", func(t *testing.T) {
		bus, log := newBus(t)
		h := newHook(t, nil)
		n := start(t, Options{Channels: []ChannelConfig{webhookChannel("phone", h.srv.URL+"/hook")}, Events: bus})
		cause := hearth.Cause{Seq: 7, Run: "door#3", Source: "automation"}
		ev, err := n.Notify(context.Background(), hearth.Notification{Title: "Door", Message: "The front door is open", Priority: hearth.PriorityHigh,
			Channels: []string{"phone"}, Automation: "door", Cause: cause})
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind != hearth.KindNotification || ev.Topic != "$hearth/notify" || ev.Cause != cause {
			t.Errorf("notification event %+v", ev)
		}
		var payload map[string]any
		if err := json.Unmarshal(ev.Payload, &payload); err != nil {
			t.Fatal(err)
		}
		wantPayload := map[string]any{"title": "Door", "message": "The front door is open", "priority": "high", "channels": []any{"phone"}, "automation": "door", "run": "door#3"}
		if js, want := mustJSON(payload), mustJSON(wantPayload); js != want {
			t.Errorf("payload %s, want %s", js, want)
		}
		evs := log.waitFor(t, "the delivery", final(ev.Seq, "phone"))
		if got := outcomeText(outcomesOf(evs, ev.Seq, "phone")); got != "delivered/1" {
			t.Errorf("outcomes %s", got)
		}
		reqs := h.requests()
		if len(reqs) != 1 {
			t.Fatalf("%d requests", len(reqs))
		}
		var body webhookBody
		if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
			t.Fatalf("body %s: %v", reqs[0].Body, err)
		}
		if body.Title != "Door" || body.Message != "The front door is open" || body.Priority != "high" || body.Automation != "door" ||
			body.Run != "door#3" || body.Seq != ev.Seq || !body.Time.Equal(ev.Time) {
			t.Errorf("body %s", reqs[0].Body)
		}
		if ct := reqs[0].Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		for _, o := range evs {
			if o.Topic == "$hearth/notify/phone" && o.Cause != (hearth.Cause{Seq: ev.Seq, Run: "door#3", Source: "notify"}) {
				t.Errorf("outcome cause %+v", o.Cause)
			}
		}
	})

	t.Run("a webhook that fails twice is retried and the third try is delivered", func(t *testing.T) {
		bus, log := newBus(t)
		h := newHook(t, func(n int, _ *http.Request) (int, string) {
			if n <= 2 {
				return http.StatusServiceUnavailable, "starting up"
			}
			return http.StatusOK, "ok"
		})
		s := &sleeps{}
		n := start(t, Options{Channels: []ChannelConfig{webhookChannel("phone", h.srv.URL)}, Events: bus, Sleep: s.sleep})
		ev, err := n.Notify(context.Background(), hearth.Notification{Message: "hello", Channels: []string{"phone"}})
		if err != nil {
			t.Fatal(err)
		}
		evs := log.waitFor(t, "the delivery", final(ev.Seq, "phone"))
		got := outcomesOf(evs, ev.Seq, "phone")
		if outcomeText(got) != "retrying/1 retrying/2 delivered/3" {
			t.Fatalf("outcomes %s", outcomeText(got))
		}
		if got[0].Error != "http: 503 Service Unavailable: starting up" || got[0].RetryAt.IsZero() {
			t.Errorf("first retry %+v", got[0])
		}
		if !slices.Equal(s.all(), []time.Duration{time.Second, 4 * time.Second}) {
			t.Errorf("back-offs %v, want [1s 4s]", s.all())
		}
		if len(h.requests()) != 3 {
			t.Errorf("%d requests", len(h.requests()))
		}
	})

	t.Run("a webhook that keeps failing is failed after its tries", func(t *testing.T) {
		bus, log := newBus(t)
		h := newHook(t, func(int, *http.Request) (int, string) { return http.StatusBadGateway, "" })
		s := &sleeps{}
		ch := webhookChannel("phone", h.srv.URL)
		ch.Tries, ch.Backoff = 4, 2*time.Second
		n := start(t, Options{Channels: []ChannelConfig{ch}, Events: bus, Sleep: s.sleep})
		ev, _ := n.Notify(context.Background(), hearth.Notification{Message: "hello", Channels: []string{"phone"}})
		evs := log.waitFor(t, "the failure", final(ev.Seq, "phone"))
		got := outcomesOf(evs, ev.Seq, "phone")
		if outcomeText(got) != "retrying/1 retrying/2 retrying/3 failed/4" || got[3].Error != "http: 502 Bad Gateway" {
			t.Errorf("outcomes %s, last %+v", outcomeText(got), got[len(got)-1])
		}
		if !slices.Equal(s.all(), []time.Duration{2 * time.Second, 8 * time.Second, 32 * time.Second}) {
			t.Errorf("back-offs %v", s.all())
		}
	})

	t.Run("a refused request is not tried again and says why", func(t *testing.T) {
		bus, log := newBus(t)
		h := newHook(t, func(int, *http.Request) (int, string) {
			return http.StatusUnauthorized, "{\"error\":\n  \"bad token\"}"
		})
		n := start(t, Options{Channels: []ChannelConfig{webhookChannel("phone", h.srv.URL)}, Events: bus, Sleep: (&sleeps{}).sleep})
		ev, _ := n.Notify(context.Background(), hearth.Notification{Message: "hello", Channels: []string{"phone"}})
		evs := log.waitFor(t, "the failure", final(ev.Seq, "phone"))
		got := outcomesOf(evs, ev.Seq, "phone")
		if outcomeText(got) != "failed/1" || got[0].Error != `http: 401 Unauthorized: {"error": "bad token"}` {
			t.Errorf("outcomes %+v", got)
		}
	})

	t.Run("a Retry-After longer than the back-off is waited", func(t *testing.T) {
		bus, log := newBus(t)
		h := newHook(t, func(n int, _ *http.Request) (int, string) {
			if n == 1 {
				return http.StatusTooManyRequests, "slow down"
			}
			return http.StatusOK, ""
		})
		h.srv.Config.Handler = retryAfter(h.srv.Config.Handler, "30")
		s := &sleeps{}
		n := start(t, Options{Channels: []ChannelConfig{webhookChannel("phone", h.srv.URL)}, Events: bus, Sleep: s.sleep})
		ev, _ := n.Notify(context.Background(), hearth.Notification{Message: "hello", Channels: []string{"phone"}})
		log.waitFor(t, "the delivery", final(ev.Seq, "phone"))
		if !slices.Equal(s.all(), []time.Duration{30 * time.Second}) {
			t.Errorf("back-offs %v", s.all())
		}
	})
}

// retryAfter sets a Retry-After header on every answer of h.
func retryAfter(h http.Handler, v string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", v)
		h.ServeHTTP(w, r)
	})
}

func TestWebhookFormats(t *testing.T) {
	cases := []struct {
		name    string
		format  string
		body    string
		headers map[string]string
	}{
		{"slack gets a text with the title in bold", "slack", `{"text":"*Door \u0026lt;front\u0026gt;*\nopen"}`, map[string]string{"Content-Type": "application/json"}},
		{"ntfy gets the message as the body and the title and priority as headers", "ntfy", "open",
			map[string]string{"Content-Type": "text/plain; charset=utf-8", "Title": "Door <front>", "Priority": "5", "Authorization": "Bearer tk_1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bus, log := newBus(t)
			h := newHook(t, nil)
			ch := webhookChannel("phone", h.srv.URL)
			ch.Webhook.Format = tc.format
			ch.Webhook.Headers = Headers{"Authorization": "Bearer tk_1"}
			n := start(t, Options{Channels: []ChannelConfig{ch}, Events: bus})
			ev, err := n.Notify(context.Background(), hearth.Notification{Title: "Door <front>", Message: "open", Priority: hearth.PriorityUrgent, Channels: []string{"phone"}})
			if err != nil {
				t.Fatal(err)
			}
			log.waitFor(t, "the delivery", final(ev.Seq, "phone"))
			reqs := h.requests()
			if len(reqs) != 1 || string(reqs[0].Body) != tc.body {
				t.Fatalf("requests %+v, want body %s", reqs, tc.body)
			}
			for k, v := range tc.headers {
				if got := reqs[0].Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestWebhookFailuresNameTheirStage(t *testing.T) {
	blocked := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-blocked:
		}
	}))
	defer slow.Close()
	defer close(blocked)
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tlsSrv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the handshakes this test fails on purpose
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()
	closed := closedPort(t)
	moved := httptest.NewServer(http.RedirectHandler("https://elsewhere.example/secret-path", http.StatusMovedPermanently))
	defer moved.Close()

	cases := []struct {
		name      string
		url       string
		timeout   time.Duration
		stage     string
		detail    string
		temporary bool
	}{
		{"a port nobody listens on is a connect failure", "http://" + closed + "/x", 0, StageConnect, "cannot connect to " + closed + ": connection refused", true},
		{"a name that does not resolve is a DNS failure", "http://hearth-test.invalid/x", 0, StageDNS, "cannot resolve hearth-test.invalid", true},
		{"a server that does not answer in time is a timeout", slow.URL, 200 * time.Millisecond, StageTimeout, "no answer from " + strings.TrimPrefix(slow.URL, "http://") + " within 200ms", true},
		{"a certificate nobody vouches for is a TLS failure", tlsSrv.URL, 0, StageTLS, "certificate", false},
		{"https to a plain HTTP server is a TLS failure", strings.Replace(plain.URL, "http:", "https:", 1), 0, StageTLS, "speaks plain HTTP", false},
		{"a webhook that moved is not followed", moved.URL, 0, StageHTTP, "301 Moved Permanently: the webhook moved to https://elsewhere.example/… (change the url)", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := webhookChannel("phone", tc.url)
			ch.Timeout = tc.timeout
			n := start(t, Options{Channels: []ChannelConfig{ch}})
			err := n.Test(context.Background(), "phone")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Test: %v, want an *Error", err)
			}
			if e.Stage != tc.stage || !strings.Contains(e.Detail, tc.detail) || e.Temporary != tc.temporary {
				t.Errorf("got %q (temporary %v), want stage %s with %q (temporary %v)", e, e.Temporary, tc.stage, tc.detail, tc.temporary)
			}
		})
	}

	t.Run("a working webhook passes the test", func(t *testing.T) {
		h := newHook(t, nil)
		n := start(t, Options{Channels: []ChannelConfig{webhookChannel("phone", h.srv.URL)}})
		if err := n.Test(context.Background(), "phone"); err != nil {
			t.Fatal(err)
		}
		if reqs := h.requests(); len(reqs) != 1 || !strings.Contains(string(reqs[0].Body), "test notification") {
			t.Errorf("requests %+v", reqs)
		}
	})

	t.Run("a ca_file makes a server's own certificate trusted", func(t *testing.T) {
		ch := webhookChannel("phone", tlsSrv.URL)
		ch.Webhook.CAFile = writePEM(t, tlsSrv.Certificate().Raw)
		n := start(t, Options{Channels: []ChannelConfig{ch}})
		if err := n.Test(context.Background(), "phone"); err != nil {
			t.Fatal(err)
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
