package main

import "context"

// target is something the load generator drives: the hub, or a peer a user
// would run instead.
type target interface {
	// Name names it in tables, JSON and the chart.
	Name() string
	// Addr is the MQTT broker's host:port.
	Addr() string
	// CommandTopic is the topic on which the light of pair i hears its
	// command (for mosquitto-echo, the sensor's own topic).
	CommandTopic(i int) string
	// Pids names the processes whose CPU, memory and writes count.
	Pids() map[string]int
	// Settle waits until the target has finished with what it was sent
	// (the hub: the log is durable up to its last event).
	Settle(ctx context.Context) error
	// Info returns figures about the target's state to keep in the report.
	Info(ctx context.Context) map[string]any
	// Close stops every process it started.
	Close() error
}

// problemCounter is a target that counts things that spoil a run (the
// hub's storm guard pausing automations); measure reports what a run added.
type problemCounter interface {
	problems() map[string]int64
}
