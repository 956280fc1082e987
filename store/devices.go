package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"hearth"
)

// deviceChange says what e changes in the device read model: a KindState
// event whose payload is a JSON object replaces the device's state; a
// KindAvailability event whose payload is "online" or "offline" sets its
// availability. Anything else, or an event with no device, changes nothing.
// Run and RebuildDevices both fold through here, so the persisted table and
// the fold of the log cannot disagree.
func deviceChange(e hearth.Event) (state []byte, avail hearth.Availability, ok bool) {
	if e.Device == "" {
		return nil, "", false
	}
	switch e.Kind {
	case hearth.KindState:
		if isObject(e.Payload) {
			return e.Payload, "", true
		}
	case hearth.KindAvailability:
		switch a := hearth.Availability(e.Payload); a {
		case hearth.Online, hearth.Offline:
			return nil, a, true
		}
	}
	return nil, "", false
}

// isObject reports whether b is a JSON object, the only thing a device's
// state may be ("null" would decode into a map without error, so json.Valid
// alone is not enough).
func isObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}

// deviceRow is a device as the devices table holds it.
type deviceRow struct {
	id      string
	state   []byte
	avail   sql.NullString
	updated int64
	seq     int64
}

func (r deviceRow) deviceState() (hearth.DeviceState, error) {
	d := hearth.DeviceState{
		ID:           r.id,
		State:        map[string]any{},
		Availability: hearth.Availability(r.avail.String),
		Updated:      fromUnixNano(r.updated),
		Seq:          uint64(r.seq),
	}
	if len(r.state) > 0 {
		if err := json.Unmarshal(r.state, &d.State); err != nil {
			return hearth.DeviceState{}, fmt.Errorf("device %q: state: %w", r.id, err)
		}
	}
	return d, nil
}

// Devices returns the persisted device read model, sorted by id, and the
// sequence number of the last event it reflects. A device whose state is not
// known yet has an empty State map. Updated and Seq are those of the last
// state or availability event of the device.
func (s *Store) Devices(ctx context.Context) ([]hearth.DeviceState, uint64, error) {
	// One read transaction: the rows and state_seq come from the same snapshot.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("devices: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only

	var stateSeq int64
	err = tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'state_seq'`).Scan(&stateSeq)
	if err != nil && err != sql.ErrNoRows {
		return nil, 0, fmt.Errorf("devices: state_seq: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, state, availability, updated, seq FROM devices ORDER BY id`)
	if err != nil {
		return nil, 0, fmt.Errorf("devices: %w", err)
	}
	defer rows.Close()
	out := []hearth.DeviceState{}
	for rows.Next() {
		var r deviceRow
		if err := rows.Scan(&r.id, &r.state, &r.avail, &r.updated, &r.seq); err != nil {
			return nil, 0, fmt.Errorf("devices: %w", err)
		}
		d, err := r.deviceState()
		if err != nil {
			return nil, 0, fmt.Errorf("devices: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("devices: %w", err)
	}
	return out, uint64(stateSeq), nil
}

// RebuildDevices folds the log's state and availability events into the
// device read model they imply, sorted by id, the way Run maintains the
// devices table. It is for tests and repair: the result must equal Devices.
func (s *Store) RebuildDevices(ctx context.Context) ([]hearth.DeviceState, error) {
	rows, err := s.r.QueryContext(ctx,
		// "+kind": walk the table in seq order rather than sort the kind
		// index's rows, so a long log is streamed, not sorted.
		`SELECT seq, time, kind, device, payload, cause_seq FROM events
		WHERE +kind IN (?, ?) AND device <> '' ORDER BY seq`,
		string(hearth.KindState), string(hearth.KindAvailability))
	if err != nil {
		return nil, fmt.Errorf("rebuild devices: %w", err)
	}
	defer rows.Close()
	byID := map[string]*deviceRow{}
	for rows.Next() {
		var (
			e         hearth.Event
			seq, nano int64
			kind      string
		)
		if err := rows.Scan(&seq, &nano, &kind, &e.Device, &e.Payload, &e.Cause.Seq); err != nil {
			return nil, fmt.Errorf("rebuild devices: %w", err)
		}
		e.Kind = hearth.Kind(kind)
		state, avail, ok := deviceChange(e)
		if !ok {
			continue
		}
		r := byID[e.Device]
		if r == nil {
			r = &deviceRow{id: e.Device}
			byID[e.Device] = r
		}
		if state != nil {
			r.state = state
		}
		if avail != hearth.AvailabilityUnknown {
			r.avail = sql.NullString{String: string(avail), Valid: true}
		}
		e.Seq = uint64(seq)
		r.updated, r.seq = nano, int64(changeSeq(&e))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rebuild devices: %w", err)
	}
	out := make([]hearth.DeviceState, 0, len(byID))
	for _, r := range byID {
		d, err := r.deviceState()
		if err != nil {
			return nil, fmt.Errorf("rebuild devices: %w", err)
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// changeSeq is the Seq a device gets from a state or availability event:
// that of the message that changed it (the event's cause), as the device
// read model sets it when it folds the message.
func changeSeq(e *hearth.Event) uint64 {
	if e.Cause.Seq != 0 {
		return e.Cause.Seq
	}
	return e.Seq
}

// unixNano stores a time as Unix nanoseconds; the zero time is 0.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNano is the inverse of unixNano, in the local time zone like the
// times the bus stamps.
func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
