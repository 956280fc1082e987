package hearth

import (
	"context"
	"time"
)

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

// HistoryQuery asks for one numeric attribute of a device over a time range,
// in buckets of Step: the log's state events are read, not sampled.
type HistoryQuery struct {
	// Device and Attr name the device and the attribute ("temperature").
	Device string
	Attr   string
	// From (inclusive) and To (exclusive) bound the range.
	From, To time.Time
	// Step is the width of a bucket; every bucket with values is one point.
	Step time.Duration
}

// HistoryPoint summarises an attribute's values within one bucket. A boolean
// counts as 1 (true) or 0 (false). A point with Count 0 is the value the
// attribute had when the range began.
type HistoryPoint struct {
	// Time is the start of the bucket.
	Time time.Time `json:"time"`
	// Min, Avg and Max summarise the values in the bucket.
	Min float64 `json:"min"`
	Avg float64 `json:"avg"`
	Max float64 `json:"max"`
	// Count is how many state events carried the attribute in the bucket;
	// 0 for the value carried in from before the range.
	Count int `json:"count"`
}
