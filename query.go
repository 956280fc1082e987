package hearth

import "context"

// EventQuery selects events from the log, newest first.
type EventQuery struct {
	// Device, Topic and Kind filter when set.
	Device string
	Topic  string
	Kind   Kind
	// Before pages back: only events with a smaller sequence number (0: from the newest).
	Before uint64
	// Limit caps how many events come back.
	Limit int
}

// EventLog reads the append-only log.
type EventLog interface {
	// Events returns the events matching q, newest first.
	Events(ctx context.Context, q EventQuery) ([]Event, error)
}
