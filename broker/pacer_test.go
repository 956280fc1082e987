package broker

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
)

func TestRetainedBurstLargerThanTheQueueArrivesWhole(t *testing.T) {
	const retained = 600
	for _, tc := range []struct {
		name string
		qos  byte
	}{
		{"a QoS 0 subscriber to # gets every retained message", 0},
		{"a QoS 1 subscriber to # gets every retained message", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A queue of 8 packets per client: without pacing, mochi would
			// drop all but a handful of the burst.
			h := startHub(t, Config{MaximumClientWritesPending: 8}, true)
			pub := pahoClient(t, h.addr, "publisher", nil)
			for i := range retained {
				tok := pub.Publish(fmt.Sprintf("house/sensor/%d/config", i), 1, true, []byte(`{"n":1}`))
				if !tok.WaitTimeout(wait) || tok.Error() != nil {
					t.Fatalf("publish %d: %v", i, tok.Error())
				}
			}

			got := make(chan string, retained+1)
			sub := pahoClient(t, h.addr, "subscriber", func(o *paho.ClientOptions) {
				o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
					if m.Retained() {
						got <- m.Topic()
					}
				})
			})
			if tok := sub.Subscribe("#", tc.qos, nil); !tok.WaitTimeout(wait) || tok.Error() != nil {
				t.Fatalf("subscribe: %v", tok.Error())
			}
			seen := map[string]bool{}
			timeout := time.After(wait)
			for len(seen) < retained {
				select {
				case topic := <-got:
					seen[topic] = true
				case <-timeout:
					t.Fatalf("got %d of %d retained messages", len(seen), retained)
				}
			}
		})
	}
}

func TestRetainedBurstLargerThanTheSendBufferReachesASlowSubscriber(t *testing.T) {
	// 8 MB of retained messages for a subscriber whose socket is full and
	// whose send buffer holds 16 KB: without pacing, mochi would hand the
	// whole burst to its send queue at once and the subscriber would be cut
	// off as a slow consumer.
	const retained, size = 512, 16 << 10
	h := startHub(t, Config{Limits: Limits{SendBuffer: 16 << 10}, WriteTimeout: time.Minute}, true)
	pub := pahoClient(t, h.addr, "publisher", nil)
	payload := bytes.Repeat([]byte("r"), size)
	for i := range retained {
		tok := pub.Publish(fmt.Sprintf("house/camera/%d/snapshot", i), 1, true, payload)
		if !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}

	sub := dialSmallBuffer(t, h.addr)
	sub.connect(4, "slow", 60)
	sub.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe},
		PacketID:    1,
		Filters:     packets.Subscriptions{{Filter: "house/#", Qos: 0}},
	})
	// It reads nothing until bytes wait in its send queue: its socket is
	// full, and the rest of the burst has to wait for it.
	cl, ok := h.server.Clients.Get("slow")
	if !ok {
		t.Fatal("subscriber not connected")
	}
	q := sendQueueOf(cl.Net.Conn)
	eventually(t, "bytes wait in the subscriber's send queue", func() bool {
		queued, _, failed := q.state()
		return queued > 0 || failed
	})
	if _, _, failed := q.state(); failed {
		t.Fatalf("the subscriber was cut off before it read anything: the burst overflowed its send buffer\n%s", h.logs)
	}

	seen := map[string]bool{}
	for len(seen) < retained {
		pk, err := sub.read()
		if err != nil {
			t.Fatalf("after %d of %d retained messages: %v", len(seen), retained, err)
		}
		if pk.FixedHeader.Type == packets.Publish {
			seen[pk.TopicName] = true
		}
	}
	if strings.Contains(h.logs.String(), "slow consumer") {
		t.Fatalf("the subscriber was cut off as a slow consumer:\n%s", h.logs)
	}
}
