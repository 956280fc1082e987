package store

import (
	"context"
	"fmt"
	"strings"

	"hearth"
)

// LatestMessages returns, for every topic under the given prefixes, the
// newest message logged on it, in log order. The device adapters read
// retained configuration (Home Assistant discovery, Zigbee2MQTT's device
// list) from such messages; at start-up they are replayed from here, since
// the broker's retained copies do not outlive the process.
func (s *Store) LatestMessages(ctx context.Context, prefixes []string) ([]hearth.Event, error) {
	var out []hearth.Event
	for _, p := range prefixes {
		glob := globEscape(p) + "*"
		rows, err := s.r.QueryContext(ctx, `SELECT `+eventColumns+` FROM events
			WHERE seq IN (SELECT max(seq) FROM events WHERE kind = ? AND topic GLOB ? GROUP BY topic)
			ORDER BY seq`, string(hearth.KindMessage), glob)
		if err != nil {
			return nil, fmt.Errorf("latest messages under %s: %w", p, err)
		}
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("latest messages under %s: %w", p, err)
			}
			out = append(out, e)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("latest messages under %s: %w", p, err)
		}
	}
	return out, nil
}

// globEscape quotes GLOB's special characters in a literal prefix.
func globEscape(s string) string {
	r := strings.NewReplacer("*", "[*]", "?", "[?]", "[", "[[]")
	return r.Replace(s)
}
