package broker

import (
	"sync/atomic"
	"time"
)

// Stats are the embedded broker's counters, for /metrics.
type Stats struct {
	// ClientsConnected is how many MQTT clients are connected now.
	ClientsConnected int64
	// MessagesReceived and MessagesSent count PUBLISH packets in and out.
	MessagesReceived, MessagesSent int64
	// BytesReceived and BytesSent count bytes on the wire.
	BytesReceived, BytesSent int64
	// PublishRate counts the clients held to Limits.PublishRate.
	PublishRate PublishRateStats
}

// PublishRateStats are the counters of the publish rate limit.
type PublishRateStats struct {
	// Held counts the times a client began to be held to its publish
	// rate: once per flood, not once per message.
	Held int64
	// Waiting is how many clients wait for their publish rate now.
	Waiting int64
	// Waited is the time clients spent waiting for it, in all.
	Waited time.Duration
}

// Stats returns the broker's counters.
func (b *Broker) Stats() Stats {
	info := b.server.Info
	return Stats{
		ClientsConnected: atomic.LoadInt64(&info.ClientsConnected),
		MessagesReceived: atomic.LoadInt64(&info.MessagesReceived),
		MessagesSent:     atomic.LoadInt64(&info.MessagesSent),
		BytesReceived:    atomic.LoadInt64(&info.BytesReceived),
		BytesSent:        atomic.LoadInt64(&info.BytesSent),
		PublishRate:      b.throttle.stats(),
	}
}
