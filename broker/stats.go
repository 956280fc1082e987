package broker

import "sync/atomic"

// Stats are the embedded broker's counters, for /metrics.
type Stats struct {
	// ClientsConnected is how many MQTT clients are connected now.
	ClientsConnected int64
	// MessagesReceived and MessagesSent count PUBLISH packets in and out.
	MessagesReceived, MessagesSent int64
	// BytesReceived and BytesSent count bytes on the wire.
	BytesReceived, BytesSent int64
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
	}
}
