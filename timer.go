package hearth

import "time"

// PendingTimer is a timer an automation waits on (a delay, a wait's timeout,
// a `for:` window), kept in the store so that it survives a restart.
type PendingTimer struct {
	// ID is unique among pending timers ("hall_light_on_motion#12/delay/2").
	ID string
	// Automation is the id of the automation that armed it.
	Automation string
	// Due is when it fires.
	Due time.Time
	// State is what the engine needs to resume or reconcile, as JSON.
	State []byte
}
