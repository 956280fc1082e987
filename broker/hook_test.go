package broker

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"hearth"
)

func publishPacket(topic string, qos byte, id uint16, payload string) packets.Packet {
	return packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
		TopicName:   topic,
		PacketID:    id,
		Payload:     []byte(payload),
	}
}

func checkMessage(t *testing.T, ev hearth.Event, topic, payload string, qos byte, client string) {
	t.Helper()
	if ev.Kind != hearth.KindMessage || ev.Topic != topic || string(ev.Payload) != payload ||
		ev.QoS != qos || ev.Client != client || ev.Seq == 0 {
		t.Fatalf("event = %+v (payload %q), want a message on %s with %q, QoS %d, from %s",
			ev, ev.Payload, topic, payload, qos, client)
	}
}

func TestQoS1(t *testing.T) {
	t.Run("a paho publish becomes a message event and is acknowledged once logged", func(t *testing.T) {
		h := startHub(t, Config{}, true)
		r := newReader(t, h.bus)
		c := pahoClient(t, h.addr, "hall_motion", nil)

		publish(t, c, "home/hall_motion", 1, []byte(`{"occupancy":true}`))
		checkMessage(t, r.next(), "home/hall_motion", `{"occupancy":true}`, 1, "hall_motion")
	})

	t.Run("the PUBACK waits for the log to mark the event durable", func(t *testing.T) {
		h := startHub(t, Config{DurableTimeout: time.Hour}, false)
		r := newReader(t, h.bus)
		c := dialRaw(t, h.addr)
		c.connect(4, "sensor", 30)

		c.send(publishPacket("home/sensor", 1, 7, "21.5"))
		ev := r.next() // the hook has published the event and now waits
		checkMessage(t, ev, "home/sensor", "21.5", 1, "sensor")

		// Nothing may arrive before MarkDurable. (A broker that acked early
		// fails here; a slow machine cannot make this fail spuriously.)
		_ = c.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.br.Peek(1); !os.IsTimeout(err) {
			t.Fatalf("broker sent something before the event was durable (err %v)", err)
		}
		h.bus.MarkDurable(ev.Seq)
		ack, err := c.read()
		if err != nil || ack.FixedHeader.Type != packets.Puback || ack.PacketID != 7 {
			t.Fatalf("after MarkDurable: got %+v, %v; want PUBACK 7", ack.FixedHeader, err)
		}
	})

	t.Run("a v3.1.1 client whose message the log does not confirm is disconnected unacknowledged", func(t *testing.T) {
		h := startHub(t, Config{DurableTimeout: 100 * time.Millisecond}, false)
		r := newReader(t, h.bus)
		c := dialRaw(t, h.addr)
		c.connect(4, "sensor", 30)

		c.send(publishPacket("home/sensor", 1, 1, "21.5"))
		checkMessage(t, r.next(), "home/sensor", "21.5", 1, "sensor")
		if got := c.expectClosed(); slices.Contains(got, packets.Puback) {
			t.Fatalf("broker acknowledged a message the log never confirmed (sent %v)", got)
		}
	})

	t.Run("a v5 client whose message the log does not confirm gets a failure PUBACK", func(t *testing.T) {
		h := startHub(t, Config{DurableTimeout: 100 * time.Millisecond}, false)
		c := dialRaw(t, h.addr)
		c.connect(5, "sensor5", 30)

		c.send(publishPacket("home/sensor5", 1, 3, "21.5"))
		ack, err := c.read()
		if err != nil || ack.FixedHeader.Type != packets.Puback || ack.PacketID != 3 || ack.ReasonCode < 0x80 {
			t.Fatalf("got %+v reason %#x, %v; want a failure PUBACK for 3", ack.FixedHeader, ack.ReasonCode, err)
		}
		c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
		if pk, err := c.read(); err != nil || pk.FixedHeader.Type != packets.Pingresp {
			t.Fatalf("after the failure PUBACK: got %+v, %v; want the connection still served", pk.FixedHeader, err)
		}
	})
}

func TestQoS0DoesNotWaitForTheLog(t *testing.T) {
	// No store marks anything durable and the log wait is an hour: a QoS 0
	// publish that waited would hold the client's next packet that long.
	h := startHub(t, Config{DurableTimeout: time.Hour}, false)
	r := newReader(t, h.bus)
	c := dialRaw(t, h.addr)
	c.connect(4, "lux", 30)

	c.send(publishPacket("home/lux", 0, 0, `{"illuminance":12}`))
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
	if pk, err := c.read(); err != nil || pk.FixedHeader.Type != packets.Pingresp {
		t.Fatalf("got %+v, %v; want PINGRESP right after a QoS 0 publish", pk.FixedHeader, err)
	}
	checkMessage(t, r.next(), "home/lux", `{"illuminance":12}`, 0, "lux")
}

func TestWillIsLogged(t *testing.T) {
	h := startHub(t, Config{}, true)
	r := newReader(t, h.bus)
	c := dialRaw(t, h.addr)
	pk := connectPacket(4, "plug", 30)
	pk.Connect.WillFlag = true
	pk.Connect.WillTopic = "home/plug/availability"
	pk.Connect.WillPayload = []byte("offline")
	c.send(pk)
	if ack, err := c.read(); err != nil || ack.ReasonCode != 0 {
		t.Fatalf("connect: %+v, %v", ack, err)
	}

	_ = c.conn.Close() // gone without DISCONNECT: the broker publishes the will
	checkMessage(t, r.next(), "home/plug/availability", "offline", 0, "plug")
}

func TestKeepalive(t *testing.T) {
	h := startHub(t, Config{MaxKeepalive: time.Minute}, true)
	for _, tc := range []struct {
		name          string
		version       byte
		keepalive     uint16
		wantCode      byte
		wantServerKA  bool
		wantKeepalive uint16
	}{
		{"an MQTT 5 client asking for no keepalive is given the maximum", 5, 0, 0, true, 60},
		{"an MQTT 5 client asking for more than the maximum is given the maximum", 5, 1000, 0, true, 60},
		{"an MQTT 5 client within the maximum keeps its own", 5, 30, 0, false, 0},
		{"an MQTT 3.1.1 client within the maximum is accepted", 4, 60, 0, false, 0},
		{"an MQTT 3.1.1 client asking for no keepalive is accepted", 4, 0, 0, false, 0},
		{"an MQTT 3.1.1 client asking for more than the maximum is refused", 4, 61, 2, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, h.addr)
			ack := c.connect(tc.version, fmt.Sprintf("ka-%d-%d", tc.version, tc.keepalive), tc.keepalive)
			if ack.ReasonCode != tc.wantCode {
				t.Fatalf("CONNACK code %#x, want %#x", ack.ReasonCode, tc.wantCode)
			}
			p := ack.Properties
			if p.ServerKeepAliveFlag != tc.wantServerKA || p.ServerKeepAlive != tc.wantKeepalive {
				t.Fatalf("server keep alive %v %d, want %v %d",
					p.ServerKeepAliveFlag, p.ServerKeepAlive, tc.wantServerKA, tc.wantKeepalive)
			}
			if tc.wantCode != 0 {
				c.expectClosed()
			}
		})
	}
}

func TestConnackAdvertisesLimits(t *testing.T) {
	h := startHub(t, Config{}, true)
	c := dialRaw(t, h.addr)
	ack := c.connect(5, "v5", 30)
	if ack.ReasonCode != 0 {
		t.Fatalf("CONNACK code %#x", ack.ReasonCode)
	}
	if got := ack.Properties.MaximumPacketSize; got != DefaultMaxPacketSize {
		t.Errorf("Maximum Packet Size %d, want %d", got, DefaultMaxPacketSize)
	}
	if got := ack.Properties.ReceiveMaximum; got != DefaultReceiveMaximum {
		t.Errorf("Receive Maximum %d, want %d", got, DefaultReceiveMaximum)
	}
	if ack.Properties.TopicAliasMaximum != 0 {
		t.Errorf("Topic Alias Maximum %d, want none", ack.Properties.TopicAliasMaximum)
	}
}
