package main

import (
	"testing"
	"time"

	"hearth/automations"
)

func TestTheSoakAutomationsLoad(t *testing.T) {
	set, err := automations.LoadBytes("soak.yaml", []byte(automationsYAML(50, 10*time.Second)))
	if err != nil {
		t.Fatalf("the soak's automations do not load: %v", err)
	}
	// The probe's two, and one for each of the 10 motion sensors of 50 devices.
	if set.Len() != 12 {
		t.Errorf("%d automations, want 12", set.Len())
	}
}
