package automations

import (
	"context"

	"hearth"
)

// Persist keeps what the engine must remember across restarts: pending
// timers and which automations people turned off. The store implements it;
// without one (nil) nothing survives a restart.
type Persist interface {
	// SaveTimer stores or replaces a pending timer.
	SaveTimer(ctx context.Context, t hearth.PendingTimer) error
	// DeleteTimer forgets a timer that fired or was cancelled; unknown ids are fine.
	DeleteTimer(ctx context.Context, id string) error
	// Timers returns every pending timer, soonest first.
	Timers(ctx context.Context) ([]hearth.PendingTimer, error)
	// SetEnabled remembers whether an automation is enabled.
	SetEnabled(ctx context.Context, automation string, enabled bool) error
	// Disabled returns the ids of the automations people turned off.
	Disabled(ctx context.Context) ([]string, error)
}
