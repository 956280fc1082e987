package broker

import (
	"errors"
	"slices"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

func TestRefusedWhileTheLogCannotBeWritten(t *testing.T) {
	h := startHub(t, Config{}, true)
	r := newReader(t, h.bus)
	full := errors.New("database or disk is full")
	h.bus.FailDurable(full)

	// expectPingresp sends PINGREQ and checks that PINGRESP is the next
	// packet: mochi answers a client's packets in order, so nothing was
	// sent for the ones before it.
	expectPingresp := func(t *testing.T, c *raw) {
		t.Helper()
		c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
		if pk, err := c.read(); err != nil || pk.FixedHeader.Type != packets.Pingresp {
			t.Fatalf("got %+v (reason %#x), %v; want PINGRESP and nothing before it", pk.FixedHeader, pk.ReasonCode, err)
		}
	}

	t.Run("an MQTT 5 QoS 1 message gets a failure PUBACK and never reaches the bus", func(t *testing.T) {
		c := dialRaw(t, h.addr)
		c.connect(5, "camera5", 30)
		c.send(publishPacket("home/camera5", 1, 9, `{"motion":true}`))
		ack, err := c.read()
		if err != nil || ack.FixedHeader.Type != packets.Puback || ack.PacketID != 9 || ack.ReasonCode < 0x80 {
			t.Fatalf("got %+v reason %#x, %v; want a failure PUBACK for 9", ack.FixedHeader, ack.ReasonCode, err)
		}
		c.send(publishPacket("home/camera5", 0, 0, `{"motion":false}`))
		// The reader reads in log order: the QoS 1 message would come first.
		checkMessage(t, r.next(), "home/camera5", `{"motion":false}`, 0, "camera5")
	})

	t.Run("an MQTT 3.1.1 QoS 1 message is not acknowledged, and the client stays connected", func(t *testing.T) {
		c := dialRaw(t, h.addr)
		c.connect(4, "meter", 30)
		c.send(publishPacket("home/meter", 1, 5, `{"kwh":1}`))
		c.send(publishPacket("home/meter", 0, 0, `{"w":300}`))
		expectPingresp(t, c)
		checkMessage(t, r.next(), "home/meter", `{"w":300}`, 0, "meter")

		// The log works again: the client's next publish (its QoS 0
		// message still counts) ends the connection, so that the client
		// sends the refused message again on a new one, where it is logged
		// and acknowledged.
		h.bus.FailDurable(nil)
		c.send(publishPacket("home/meter", 0, 0, `{"w":310}`))
		if got := c.expectClosed(); slices.Contains(got, packets.Puback) {
			t.Fatalf("broker acknowledged a refused message (sent %v)", got)
		}
		checkMessage(t, r.next(), "home/meter", `{"w":310}`, 0, "meter")

		again := dialRaw(t, h.addr)
		again.connect(4, "meter", 30)
		pk := publishPacket("home/meter", 1, 5, `{"kwh":1}`)
		pk.FixedHeader.Dup = true
		again.send(pk)
		ack, err := again.read()
		if err != nil || ack.FixedHeader.Type != packets.Puback || ack.PacketID != 5 {
			t.Fatalf("got %+v, %v; want PUBACK 5 for the message sent again", ack.FixedHeader, err)
		}
		checkMessage(t, r.next(), "home/meter", `{"kwh":1}`, 1, "meter")
		expectPingresp(t, again) // and it stays connected
	})
}
