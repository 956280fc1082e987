package main

import (
	"fmt"
	"time"

	"hearth/store"
)

// DiskTroubleConfig bounds what the hub holds in memory while the disk
// refuses the log (full, read-only, failing); see docs/reliability.md.
type DiskTroubleConfig struct {
	// HoldEvents is the most events held; 100,000 when 0.
	HoldEvents int `yaml:"hold_events,omitempty"`
	// HoldMB is the most memory they may take, in MiB; 32 when 0.
	HoldMB int `yaml:"hold_mb,omitempty"`

	// retryMax caps the wait between tries of the disk; tests shorten it.
	retryMax time.Duration
}

func (c DiskTroubleConfig) validate() error {
	if c.HoldEvents < 0 || c.HoldMB < 0 {
		return fmt.Errorf("disk_trouble: hold_events %d and hold_mb %d must not be negative (0 takes the default)", c.HoldEvents, c.HoldMB)
	}
	return nil
}

// store is what the store is told.
func (c DiskTroubleConfig) store() store.DiskTrouble {
	t := store.DiskTrouble{HoldEvents: c.HoldEvents, HoldBytes: int64(c.HoldMB) << 20, RetryMax: c.retryMax}
	if c.retryMax > 0 {
		t.RetryMin = min(c.retryMax, store.DefaultRetryMin)
	}
	return t
}
