package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"hearth"
)

// sseMsg is one message of an event stream: a named event, a log event
// with its id, or a comment.
type sseMsg struct {
	event, id, data, comment string
}

// sseClient reads a stream over real HTTP.
type sseClient struct {
	resp   *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
}

// openStream connects to /api/events/stream with query q and, when
// lastID is not empty, a Last-Event-ID header. Cleanup disconnects.
func openStream(t *testing.T, base, q, lastID string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/events/stream"+q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	c := &sseClient{resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
	t.Cleanup(c.close)
	return c
}

func (c *sseClient) close() {
	c.cancel()
	c.resp.Body.Close()
}

// next reads the next message, skipping the retry field.
func (c *sseClient) next(t *testing.T) sseMsg {
	t.Helper()
	var m sseMsg
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("read stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if m != (sseMsg{}) {
				return m
			}
		case strings.HasPrefix(line, ":"):
			m.comment = strings.TrimSpace(line[1:])
		default:
			field, value, _ := strings.Cut(line, ": ")
			switch field {
			case "event":
				m.event = value
			case "id":
				m.id = value
			case "data":
				m.data = value
			case "retry":
			default:
				t.Fatalf("unknown field in %q", line)
			}
		}
	}
}

// hello reads the first message and checks that it is the hello.
func (c *sseClient) hello(t *testing.T) (next uint64, resumed bool) {
	t.Helper()
	m := c.next(t)
	var h struct {
		NextSeq uint64 `json:"next_seq"`
		Resumed bool
	}
	if m.event != "hello" || json.Unmarshal([]byte(m.data), &h) != nil {
		t.Fatalf("first message %+v, want hello", m)
	}
	return h.NextSeq, h.Resumed
}

// event reads the next message and checks that it is a log event whose
// id is its seq.
func (c *sseClient) event(t *testing.T) eventOut {
	t.Helper()
	m := c.next(t)
	var e eventOut
	if m.event != "" || json.Unmarshal([]byte(m.data), &e) != nil || m.id != strconv.FormatUint(e.Seq, 10) {
		t.Fatalf("message %+v, want a log event with its seq as id", m)
	}
	return e
}

func TestStreamDeliversEventsInOrder(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.house(t)
	c := openStream(t, s.http.URL, "", "")
	next, resumed := c.hello(t)
	if resumed || next != s.bus.NextSeq() {
		t.Fatalf("hello next %d resumed %v; want next %d, not resumed", next, resumed, s.bus.NextSeq())
	}
	for i := range 50 {
		s.publish(t, "home/living_temp", fmt.Sprintf(`{"temperature":%d}`, i))
	}
	// Each message makes a state event: 100 events, in log order.
	for i := range 100 {
		e := c.event(t)
		if e.Seq != next+uint64(i) {
			t.Fatalf("event %d has seq %d, want %d", i, e.Seq, next+uint64(i))
		}
		if i%2 == 1 && (e.Kind != hearth.KindState || e.Device != "living_temp" || !strings.Contains(string(e.Payload), fmt.Sprintf(`"temperature":%d`, i/2))) {
			t.Fatalf("event %d: %+v %s", i, e, e.Payload)
		}
	}
}

func TestStreamFilters(t *testing.T) {
	s := newStack(t, stackOptions{})
	c := openStream(t, s.http.URL, "?kind=state,availability&device=door", "")
	c.hello(t)
	s.publish(t, "home/lamp", `{"state":"ON"}`)
	s.publish(t, "home/door", `{"contact":true}`)
	s.publish(t, "home/door/availability", `offline`)
	if e := c.event(t); e.Kind != hearth.KindState || e.Device != "door" {
		t.Fatalf("first %+v", e)
	}
	if e := c.event(t); e.Kind != hearth.KindAvailability || string(e.Payload) != `"offline"` {
		t.Fatalf("second %+v %s", e, e.Payload)
	}
	t.Run("an unknown kind is a 400", func(t *testing.T) {
		var e errorBody
		if code := get(t, s.http.URL+"/api/events/stream?kind=state,nonsense", &e); code != 400 || !strings.Contains(e.Error, "nonsense") {
			t.Fatalf("%d %+v", code, e)
		}
	})
}

func TestStreamResumesWithLastEventID(t *testing.T) {
	s := newStack(t, stackOptions{})
	c := openStream(t, s.http.URL, "", "")
	c.hello(t)
	s.publish(t, "home/a", `{"n":1}`)
	c.event(t)
	last := c.event(t)
	c.close()

	// Missed while away: 20 messages and their state events.
	for i := range 20 {
		s.publish(t, "home/a", fmt.Sprintf(`{"n":%d}`, i+2))
	}
	t.Run("a page a few events behind is replayed what it missed", func(t *testing.T) {
		c := openStream(t, s.http.URL, "", strconv.FormatUint(last.Seq, 10))
		if _, resumed := c.hello(t); !resumed {
			t.Fatal("not resumed")
		}
		for i := range 40 {
			if e := c.event(t); e.Seq != last.Seq+1+uint64(i) {
				t.Fatalf("replayed event %d has seq %d, want %d", i, e.Seq, last.Seq+1+uint64(i))
			}
		}
		// And it goes on live after the replay, without a hole or a repeat.
		s.publish(t, "home/a", `{"n":100}`)
		if e := c.event(t); e.Seq != last.Seq+41 {
			t.Fatalf("live event after replay has seq %d, want %d", e.Seq, last.Seq+41)
		}
	})
	t.Run("a page that is up to date is resumed with nothing to replay", func(t *testing.T) {
		c := openStream(t, s.http.URL, "", strconv.FormatUint(s.bus.NextSeq()-1, 10))
		if _, resumed := c.hello(t); !resumed {
			t.Fatal("not resumed")
		}
	})
	for _, c := range []struct{ name, id string }{
		{"a page too far behind is told to re-read", "1"},
		{"a page ahead of the log (another hub's) is told to re-read", "999999"},
		{"a malformed id is a fresh start", "abc"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.id == "1" {
				// More than the replay bound behind.
				for i := range maxReplay / 2 {
					s.publish(t, "home/b", fmt.Sprintf(`{"n":%d}`, i))
				}
			}
			cl := openStream(t, s.http.URL, "", c.id)
			if _, resumed := cl.hello(t); resumed {
				t.Fatal("resumed")
			}
		})
	}
}

func TestStreamTellsASlowPageItFellBehind(t *testing.T) {
	// No log: the ring is all there is, and it is small.
	s := newStack(t, stackOptions{noStore: true, ringSize: 64})
	c := openStream(t, s.http.URL, "", "")
	c.hello(t)
	// The page does not read. One event larger than the socket buffers
	// holds its handler in a write; meanwhile many more events overrun the
	// ring the handler's subscription reads from.
	big := `"` + strings.Repeat("x", 12<<20) + `"`
	first := s.publish(t, "elsewhere/big", big)
	for i := range 1000 {
		s.publish(t, "elsewhere/small", fmt.Sprintf(`{"n":%d}`, i))
	}
	last := s.bus.NextSeq() - 1
	var prev uint64
	gaps := 0
	for prev != last {
		m := c.next(t)
		switch {
		case m.event == "gap":
			gaps++
			continue
		case m.comment != "":
			continue
		}
		var e eventOut
		if err := json.Unmarshal([]byte(m.data), &e); err != nil || e.Seq <= prev || m.id != strconv.FormatUint(e.Seq, 10) {
			t.Fatalf("event %q after %d: %v", m.id, prev, err)
		}
		if prev == 0 && e.Seq != first.Seq && gaps == 0 {
			t.Fatalf("first event %d, want %d or a gap", e.Seq, first.Seq)
		}
		prev = e.Seq
	}
	if gaps == 0 {
		t.Fatal("no gap event, though the ring was overrun")
	}
}

func TestStreamHeartbeat(t *testing.T) {
	s := newStack(t, stackOptions{noStore: true})
	s.web.heartbeat = 20 * time.Millisecond
	c := openStream(t, s.http.URL, "", "")
	c.hello(t)
	if m := c.next(t); m.comment != "ping" {
		t.Fatalf("idle stream sent %+v, want a ping", m)
	}
}

func TestStreamEndsWhenTheServerCloses(t *testing.T) {
	s := newStack(t, stackOptions{noStore: true})
	c := openStream(t, s.http.URL, "", "")
	c.hello(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.web.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := c.r.ReadString('\n'); err != nil {
			return // the stream ended; goleak checks its goroutine is gone
		}
	}
}

func TestStreamEndsWhenTheBusCloses(t *testing.T) {
	s := newStack(t, stackOptions{noStore: true})
	c := openStream(t, s.http.URL, "", "")
	c.hello(t)
	s.bus.Close()
	for {
		if _, err := c.r.ReadString('\n'); err != nil {
			return
		}
	}
}

func TestStreamOutlivesTheReadTimeout(t *testing.T) {
	s := newStack(t, stackOptions{noStore: true})
	srv := New(Options{Addr: "127.0.0.1:0", Devices: s.reg, Stream: s.bus, Logger: testLogger(t)})
	srv.readTimeout = 100 * time.Millisecond
	srv.heartbeat = 30 * time.Millisecond
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	c := openStream(t, "http://"+srv.Addr().String(), "", "")
	c.hello(t)
	// Ten pings span three read timeouts; a stream cut by one would end.
	for range 10 {
		if m := c.next(t); m.comment != "ping" {
			t.Fatalf("got %+v, want a ping", m)
		}
	}
	e := s.publish(t, "home/a", `{"n":1}`)
	for {
		m := c.next(t)
		if m.id == strconv.FormatUint(e.Seq, 10) {
			return
		}
	}
}
