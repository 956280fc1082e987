package main

import (
	"fmt"
	"os"

	"hearth/internal/benchhouse"
)

// writeAutomations writes benchhouse.Automations(n) to path.
func writeAutomations(path string, n int) error {
	if err := os.WriteFile(path, benchhouse.Automations(n), 0o600); err != nil {
		return fmt.Errorf("write automations: %w", err)
	}
	return nil
}
