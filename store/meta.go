package store

import (
	"context"
	"fmt"

	"hearth"
)

// DeviceMeta returns the names and rooms people gave devices, by device id.
// A device nobody named is absent.
func (s *Store) DeviceMeta(ctx context.Context) (map[string]hearth.DeviceMeta, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, room FROM device_meta`)
	if err != nil {
		return nil, fmt.Errorf("device meta: %w", err)
	}
	defer rows.Close()
	out := map[string]hearth.DeviceMeta{}
	for rows.Next() {
		var (
			id string
			m  hearth.DeviceMeta
		)
		if err := rows.Scan(&id, &m.Name, &m.Room); err != nil {
			return nil, fmt.Errorf("device meta: %w", err)
		}
		out[id] = m
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("device meta: %w", err)
	}
	return out, nil
}

// SetDeviceMeta stores the name and room of device id, replacing what was
// there; an empty name and room forget the device's entry.
func (s *Store) SetDeviceMeta(ctx context.Context, id string, m hearth.DeviceMeta) error {
	// The writer connection is shared with the group commit; this one-row
	// statement waits behind a commit at most.
	var err error
	if m == (hearth.DeviceMeta{}) {
		_, err = s.w.ExecContext(ctx, `DELETE FROM device_meta WHERE id = ?`, id)
	} else {
		_, err = s.w.ExecContext(ctx, `INSERT INTO device_meta (id, name, room) VALUES (?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, room = excluded.room`, id, m.Name, m.Room)
	}
	if err != nil {
		return fmt.Errorf("set device meta %q: %w", id, err)
	}
	return nil
}
