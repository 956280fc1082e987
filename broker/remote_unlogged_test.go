package broker

import (
	"errors"
	"testing"

	"hearth/internal/mosquittotest"
)

func TestRemoteWaitsForTheDisk(t *testing.T) {
	m := mosquittotest.Start(t, "")
	sensor := pahoClient(t, m.Addr, "meter", nil)

	t.Run("messages that arrive while the disk refuses the log are delivered, and acknowledged once it takes them", func(t *testing.T) {
		bus := newBus(t, false)
		r := newReader(t, bus)
		hub := startRemote(t, remoteConfig(m.URL(), "hub-disk"), bus)
		bus.FailDurable(errors.New("database or disk is full"))

		// Both reach the bus (automations act on them) though neither can
		// be logged yet; the second shows that the inbox did not give up.
		publish(t, sensor, "home/meter", 1, []byte("1"))
		checkMessage(t, r.next(), "home/meter", "1", 1, "")
		publish(t, sensor, "home/meter", 1, []byte("2"))
		second := r.next()
		checkMessage(t, second, "home/meter", "2", 1, "")

		bus.FailDurable(nil)
		bus.MarkDurable(second.Seq)
		_ = hub.Close() // acknowledges what the log holds, within the drain

		// Both were acknowledged: a new session gets neither again.
		bus2 := newBus(t, true)
		r2 := newReader(t, bus2)
		startRemote(t, remoteConfig(m.URL(), "hub-disk"), bus2)
		publish(t, sensor, "home/meter", 1, []byte("marker"))
		checkMessage(t, r2.next(), "home/meter", "marker", 1, "")
	})
}
