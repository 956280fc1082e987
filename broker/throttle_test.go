package broker

import (
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"hearth"
)

// busCount counts, on the bus, the messages one client published, checking
// at each one that no more arrived than its rate allows since start.
type busCount struct {
	stop func() // stops counting; the test's cleanup calls it too

	mu       sync.Mutex
	n        int
	payloads map[string]int
	over     string // the first time the bound was broken
}

func countOnBus(t *testing.T, bus *hearth.Bus, client string, rate, burst float64, start time.Time) *busCount {
	t.Helper()
	c := &busCount{payloads: map[string]int{}}
	c.stop = onBus(t, bus, "count", func(evs []hearth.Event) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, e := range evs {
			if e.Kind != hearth.KindMessage || e.Client != client {
				continue
			}
			c.n++
			c.payloads[string(e.Payload)]++
			// The bucket is full when the client's first message comes,
			// which is after start; a message reaches the bus after its
			// wait. So this bound holds however slow the machine is.
			elapsed := time.Since(start).Seconds()
			if limit := rate*elapsed + burst; float64(c.n) > limit && c.over == "" {
				c.over = fmt.Sprintf("%d messages on the bus %.3f s after the start, want at most %.0f × %.3f + %.0f = %.1f",
					c.n, elapsed, rate, elapsed, burst, limit)
			}
		}
	})
	return c
}

func (c *busCount) get() (int, map[string]int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.payloads, c.over
}

func TestPublishRate(t *testing.T) {
	const (
		rate  = 100.0
		burst = 50
		sent  = 300 // 2.5 s of waiting at the rate, after the burst
		calm  = 20  // from the client beside it, within its burst
	)
	h := startHub(t, Config{Limits: Limits{PublishRate: rate, PublishBurst: burst}}, true)
	start := time.Now()
	count := countOnBus(t, h.bus, "flooder", rate, burst, start)
	flooder := pahoClient(t, h.addr, "flooder", nil)
	quiet := pahoClient(t, h.addr, "calm", nil)

	// The flooder sends everything at once, QoS 1, without waiting for
	// acknowledgements: as fast as it can.
	toks := make([]paho.Token, sent)
	for i := range toks {
		toks[i] = flooder.Publish("home/flood", 1, false, []byte(fmt.Sprintf("m%d", i)))
	}
	// Past its burst the flooder waits for each message: the calm client
	// publishes meanwhile.
	eventually(t, "the flooder through its burst", func() bool { n, _, _ := count.get(); return n >= burst })
	for i := range calm {
		publish(t, quiet, "home/calm", 1, []byte(fmt.Sprintf("c%d", i)))
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("flood message %d: not acknowledged within %v: %v", i, wait, tok.Error())
		}
	}
	eventually(t, "every flood message on the bus", func() bool { n, _, _ := count.get(); return n >= sent })

	t.Run("a client publishing as fast as it can is held to the rate", func(t *testing.T) {
		if _, _, over := count.get(); over != "" {
			t.Fatal(over)
		}
	})
	t.Run("nothing it sent at QoS 1 is lost or doubled", func(t *testing.T) {
		n, payloads, _ := count.get()
		if n != sent || len(payloads) != sent {
			t.Fatalf("%d messages on the bus, %d different, want %d", n, len(payloads), sent)
		}
		for i := range sent {
			if p := fmt.Sprintf("m%d", i); payloads[p] != 1 {
				t.Fatalf("message %s on the bus %d times", p, payloads[p])
			}
		}
	})
	t.Run("a client beside it is not held", func(t *testing.T) {
		logs := h.logs.String()
		if n := countLines(logs, "faster than its limit", "client=calm"); n != 0 {
			t.Fatalf("calm was held to the rate:\n%s", logs)
		}
		if st := h.Stats().PublishRate; st.Held != 1 {
			t.Fatalf("clients held %d times, want once (the flooder)", st.Held)
		}
		if held(h.throttle, "calm") || !held(h.throttle, "flooder") {
			t.Fatalf("held: calm %v, flooder %v; want only the flooder", held(h.throttle, "calm"), held(h.throttle, "flooder"))
		}
	})
	t.Run("the flooder is logged once, with its limit", func(t *testing.T) {
		logs := h.logs.String()
		if n := countLines(logs, "level=WARN", "faster than its limit", "client=flooder", "publish_rate_per_client=100", "publish_burst_per_client=50"); n != 1 {
			t.Fatalf("%d lines say the flooder was held, want 1:\n%s", n, logs)
		}
	})
	t.Run("the time it waited is counted", func(t *testing.T) {
		if st := h.Stats().PublishRate; st.Waited <= 0 || st.Waiting != 0 {
			t.Fatalf("stats %+v: want time waited, and nobody waiting now", st)
		}
	})
}

// held reports whether client's bucket ran dry since it was last full.
func held(th *throttle, client string) bool {
	th.mu.Lock()
	defer th.mu.Unlock()
	b := th.buckets.m[client]
	return b != nil && b.held
}

func TestPublishRateWaitEnds(t *testing.T) {
	cases := []struct {
		name  string
		leave func(t *testing.T, h *hub)
	}{
		{"a held client is let go when a new connection takes its client id over", func(t *testing.T, h *hub) {
			dialRaw(t, h.addr).connect(4, "held", 60)
		}},
		{"a held client is let go when the broker closes", func(t *testing.T, h *hub) {
			closed := make(chan struct{})
			go func() {
				_ = h.Close()
				close(closed)
			}()
			select {
			case <-closed:
			case <-time.After(wait):
				t.Fatalf("the broker did not close within %v", wait)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// One message an hour (below what the config accepts): only
			// the connection or the broker closing can end the wait.
			h := startHubWith(t, Config{Limits: Limits{PublishRate: 1, PublishBurst: 1}}, true,
				func(b *Broker) { b.throttle.buckets.rate = 1.0 / 3600 })
			c := dialRaw(t, h.addr)
			c.connect(4, "held", 60)
			for _, p := range []string{"first", "held back"} {
				c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "home/held", Payload: []byte(p)})
			}
			eventually(t, "the second message waiting", func() bool { return h.Stats().PublishRate.Waiting == 1 })
			tc.leave(t, h)
			eventually(t, "nothing waiting", func() bool { return h.Stats().PublishRate.Waiting == 0 })
			c.expectClosed()
		})
	}
}

func TestPublishRateTake(t *testing.T) {
	now := time.Unix(0, 0)
	th := newThrottle(Limits{PublishRate: 10, PublishBurst: 2}, func() time.Time { return now }, slog.New(slog.DiscardHandler), newNotes(time.Now))
	steps := []struct {
		name      string
		advance   time.Duration
		client    string
		wait      time.Duration
		wantFirst bool
	}{
		{"a new client has its burst", 0, "a", 0, false},
		{"a new client has its burst, second", 0, "a", 0, false},
		{"past the burst it waits a token's time", 0, "a", 100 * time.Millisecond, true},
		{"and the next one a token more; the same hold", 0, "a", 200 * time.Millisecond, false},
		{"another client has its own bucket", 0, "b", 0, false},
		{"once the tokens it owed are back it waits one token", 200 * time.Millisecond, "a", 100 * time.Millisecond, false},
		{"a bucket that refilled ends the hold", time.Second, "a", 0, false},
		{"so the next hold is a new one", 0, "a", 0, false},
		{"so the next hold is a new one, counted", 0, "a", 100 * time.Millisecond, true},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		w, first := th.take(s.client)
		if w.Round(time.Millisecond) != s.wait || first != s.wantFirst {
			t.Fatalf("%s: take(%s) = %v, %v; want %v, %v", s.name, s.client, w, first, s.wait, s.wantFirst)
		}
	}
}

func TestPublishRateConfig(t *testing.T) {
	cases := []struct {
		name   string
		limits Limits
		want   string // in the error; empty: accepted
	}{
		{"no rate means no limit", Limits{}, ""},
		{"a rate without a burst takes the default burst", Limits{PublishRate: 5}, ""},
		{"a negative rate is refused", Limits{PublishRate: -5}, "publish_rate_per_client -5: want 0 (no limit) or at least 1 message a second"},
		{"a rate below one a second is refused", Limits{PublishRate: 0.5}, "publish_rate_per_client 0.5"},
		{"an infinite rate is refused", Limits{PublishRate: math.Inf(1)}, "publish_rate_per_client +Inf"},
		{"a rate that is not a number is refused", Limits{PublishRate: math.NaN()}, "publish_rate_per_client NaN"},
		{"a negative burst is refused", Limits{PublishRate: 10, PublishBurst: -1}, "publish_burst_per_client -1: want at least 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bus := hearth.NewBus(hearth.BusOptions{})
			defer bus.Close()
			b, err := New(Config{Addr: "127.0.0.1:0", Limits: tc.limits}, bus)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				defer b.Close()
				if got := b.cfg.Limits.PublishBurst; got != DefaultPublishBurst {
					t.Fatalf("burst %d, want the default %d", got, DefaultPublishBurst)
				}
				if (b.throttle != nil) != (tc.limits.PublishRate > 0) {
					t.Fatalf("throttle %v for rate %v", b.throttle != nil, tc.limits.PublishRate)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestPublishRateForgetsQuietClients(t *testing.T) {
	now := time.Unix(0, 0)
	th := newThrottle(Limits{PublishRate: 10, PublishBurst: 2}, func() time.Time { return now }, slog.New(slog.DiscardHandler), newNotes(time.Now))
	for i := range 2000 {
		th.take(fmt.Sprintf("busy-%d", i))
	}
	now = now.Add(time.Second) // every bucket refills: these clients are forgotten at the next sweep
	for i := range 100 {
		th.take(fmt.Sprintf("new-%d", i))
	}
	th.mu.Lock()
	n := len(th.buckets.m)
	th.mu.Unlock()
	if n > 100 {
		t.Fatalf("%d buckets kept, want at most the 100 clients that published since their buckets refilled", n)
	}
}
