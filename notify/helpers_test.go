package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"hearth"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds how long a test waits for something that should happen.
const waitLimit = 10 * time.Second

// eventLog is every event published on a bus, read by a subscriber that
// must not miss any, as the store reads them.
type eventLog struct {
	mu      sync.Mutex
	evs     []hearth.Event
	changed chan struct{}
}

// newBus returns a bus and the log of its events; both stop at the end of
// the test.
func newBus(t *testing.T) (*hearth.Bus, *eventLog) {
	t.Helper()
	bus := hearth.NewBus(hearth.BusOptions{Size: 1024})
	l := &eventLog{changed: make(chan struct{})}
	sub := bus.Subscribe("log", hearth.MustNotMiss)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]hearth.Event, 64)
		for {
			evs, err := sub.Read(context.Background(), buf)
			if len(evs) > 0 {
				l.mu.Lock()
				l.evs = append(l.evs, evs...)
				close(l.changed)
				l.changed = make(chan struct{})
				l.mu.Unlock()
			}
			if err != nil {
				return // the bus is closed and drained
			}
		}
	}()
	t.Cleanup(func() {
		bus.Close()
		<-done
	})
	return bus, l
}

func (l *eventLog) all() []hearth.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.evs)
}

// waitFor waits until ok holds for the events logged so far.
func (l *eventLog) waitFor(t *testing.T, what string, ok func([]hearth.Event) bool) []hearth.Event {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		evs, changed := slices.Clone(l.evs), l.changed
		l.mu.Unlock()
		if ok(evs) {
			return evs
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("waited %v for %s; the log holds:\n%s", waitLimit, what, dump(evs))
		}
	}
}

// outcomesOf returns the outcomes logged for notification seq in a
// channel, in order, as "outcome/attempt".
func outcomesOf(evs []hearth.Event, seq uint64, channel string) []hearth.NotificationOutcome {
	var out []hearth.NotificationOutcome
	for _, ev := range evs {
		if ev.Kind != hearth.KindNotification || ev.Cause.Seq != seq || ev.Topic != "$hearth/notify/"+channel {
			continue
		}
		var o hearth.NotificationOutcome
		if err := json.Unmarshal(ev.Payload, &o); err == nil {
			out = append(out, o)
		}
	}
	return out
}

// final reports whether channel's last outcome for seq is final
// (delivered or failed).
func final(seq uint64, channel string) func([]hearth.Event) bool {
	return func(evs []hearth.Event) bool {
		got := outcomesOf(evs, seq, channel)
		return len(got) > 0 && got[len(got)-1].Outcome != hearth.OutcomeRetrying
	}
}

// outcomeText writes outcomes as "retrying/1 delivered/2".
func outcomeText(outs []hearth.NotificationOutcome) string {
	parts := make([]string, len(outs))
	for i, o := range outs {
		parts[i] = fmt.Sprintf("%s/%d", o.Outcome, o.Attempt)
	}
	return strings.Join(parts, " ")
}

func dump(evs []hearth.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		js, _ := json.Marshal(ev)
		b.Write(js)
		b.WriteByte('\n')
	}
	return b.String()
}

// sleeps records the back-offs asked for and returns at once, so retries
// take no time.
type sleeps struct {
	mu sync.Mutex
	ds []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.ds = append(s.ds, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ds)
}

// syncBuffer is a log written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// debugLogger logs everything, at debug level, into a buffer.
func debugLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// start makes a notifier that stops at the end of the test.
func start(t *testing.T, o Options) *Notifier {
	t.Helper()
	n, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(n.Close)
	return n
}

// hookRequest is one request a test webhook received.
type hookRequest struct {
	Header http.Header
	Body   []byte
}

// hook is a webhook receiver served by the test: respond says what to
// answer to the n-th request (from 1); 204 when nil.
type hook struct {
	srv     *httptest.Server
	respond func(n int, r *http.Request) (int, string)
	mu      sync.Mutex
	reqs    []hookRequest
}

func newHook(t *testing.T, respond func(n int, r *http.Request) (int, string)) *hook {
	t.Helper()
	h := &hook{respond: respond}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.reqs = append(h.reqs, hookRequest{Header: r.Header.Clone(), Body: body})
		n := len(h.reqs)
		h.mu.Unlock()
		status, text := http.StatusNoContent, ""
		if h.respond != nil {
			status, text = h.respond(n, r)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, text)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.reqs)
}

// webhookChannel configures a json webhook to url.
func webhookChannel(name, url string) ChannelConfig {
	return ChannelConfig{Name: name, Webhook: &WebhookConfig{URL: url}}
}
