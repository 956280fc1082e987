package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"hearth"
)

// What Prune keeps whatever its age, besides the tables it never touches:
// the newest state event and the newest availability event of every device,
// so that the log still folds into the devices table (RebuildDevices equals
// Devices); the newest run of every automation, from which the engine
// numbers its next runs; and the newest message on every topic under
// Retention.KeepTopics, the retained configuration start-up reads back.

// candidate is an event Prune considers deleting.
type candidate struct {
	seq                 int64
	kind, device, topic string
}

// keepGroup names the events of which Prune keeps the newest; "" for an
// event it may delete whatever comes after it.
func (p *pass) keepGroup(c candidate) string {
	switch hearth.Kind(c.kind) {
	case hearth.KindState, hearth.KindAvailability:
		if c.device != "" {
			return c.kind + "\x00" + c.device
		}
	case hearth.KindRun:
		return c.kind + "\x00" + c.topic
	case hearth.KindMessage:
		for _, pre := range p.r.KeepTopics {
			if strings.HasPrefix(c.topic, pre) {
				return c.kind + "\x00" + c.topic
			}
		}
	}
	return ""
}

// keepers returns the candidates that are the newest of their keep group
// in the whole log. Only the newest of a group within the chunk can be,
// and it is unless a newer event of the group follows. The check reads a
// snapshot that may be older than the delete, and the index tables only up
// to indexed_seq: both can miss a newer event, which keeps an event that
// could go (the next pass deletes it), never deletes one that must stay.
func (p *pass) keepers(ctx context.Context, cands []candidate) ([]int64, error) {
	newest := map[string]candidate{}
	for _, c := range cands {
		if g := p.keepGroup(c); g != "" {
			newest[g] = c
		}
	}
	keep := []int64{}
	for _, c := range newest {
		query, args := p.newerQuery(c)
		var newer bool
		if err := p.s.r.QueryRowContext(ctx, query, args...).Scan(&newer); err != nil {
			return nil, fmt.Errorf("events to keep: %w", err)
		}
		if !newer {
			keep = append(keep, c.seq)
		}
	}
	slices.Sort(keep)
	return keep, nil
}

// newerQuery asks whether an event of c's keep group follows c, through
// the index tables when the log has them, else the events table's indexes.
func (p *pass) newerQuery(c candidate) (string, []any) {
	// The column that narrows the group most, and its value.
	col, key, also, alsoVal := "topic", c.topic, "kind", c.kind
	switch hearth.Kind(c.kind) {
	case hearth.KindState:
		col, key, also, alsoVal = "device", c.device, "kind", c.kind
	case hearth.KindAvailability:
		// Availability events are few: the kind narrows best.
		col, key, also, alsoVal = "kind", c.kind, "device", c.device
	}
	if p.indexTables[col] {
		return `SELECT EXISTS (SELECT 1 FROM events_by_` + col + ` AS i CROSS JOIN events AS e ON e.seq = i.seq
			WHERE i.` + col + ` = ? AND i.seq > ? AND e.` + also + ` = ?)`, []any{key, c.seq, alsoVal}
	}
	// "+" keeps the planner on the index of col.
	return `SELECT EXISTS (SELECT 1 FROM events WHERE ` + col + ` = ? AND seq > ? AND +` + also + ` = ?)`, []any{key, c.seq, alsoVal}
}

// indexedColumns are the columns the log may have index tables for
// (events_by_<column>), filled in bulk by Run.
var indexedColumns = []string{"device", "topic", "kind"}

// inspect finds which index tables the log has.
func (p *pass) inspect(ctx context.Context) error {
	p.indexTables = map[string]bool{}
	p.swept = map[string]map[string]bool{}
	rows, err := p.s.r.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'events\_by\_%' ESCAPE '\'`)
	if err != nil {
		return fmt.Errorf("index tables: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("index tables: %w", err)
		}
		col := strings.TrimPrefix(name, "events_by_")
		if slices.Contains(indexedColumns, col) {
			p.indexTables[col] = true
			p.swept[col] = map[string]bool{}
		}
	}
	return rows.Err()
}

// noteDeleted remembers the keys of the deleted events, whose entries in
// the index tables sweepIndexes deletes at the end of the pass.
func (p *pass) noteDeleted(cands []candidate, keep []int64) {
	for _, c := range cands {
		if _, kept := slices.BinarySearch(keep, c.seq); kept {
			continue
		}
		for col, keys := range p.swept {
			switch col {
			case "device":
				keys[c.device] = true
			case "topic":
				keys[c.topic] = true
			case "kind":
				keys[c.kind] = true
			}
		}
	}
}

// sweepRows bounds the index entries one transaction of the sweep deletes
// (and one statement of it, so a key with many entries takes several).
const sweepRows = 500

// sweepIndexes deletes the index-table entries of the events this pass
// deleted: key by key over the range the pass went through, so that each
// page of an index table is written once a pass rather than once a chunk.
// Queries skip an entry whose event is gone (lookup.go) until then, and a
// crash before the sweep leaves entries that the next sweep of the same
// key deletes.
func (p *pass) sweepIndexes(ctx context.Context) error {
	type item struct{ col, key string }
	var items []item
	for _, col := range indexedColumns {
		keys := make([]string, 0, len(p.swept[col]))
		for k := range p.swept[col] {
			if k != "" {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			items = append(items, item{col, k})
		}
	}
	for len(items) > 0 {
		err := p.writeTx(ctx, func(tx *sql.Tx) error {
			for rows := int64(0); len(items) > 0 && rows < sweepRows; {
				it := items[0]
				// The key's entries below the cursor that remain are those
				// of kept events, a few: the walk to the ones to delete is
				// short, and the LIMIT bounds the statement.
				res, err := tx.ExecContext(ctx, `DELETE FROM events_by_`+it.col+` WHERE (`+it.col+`, seq) IN (
					SELECT i.`+it.col+`, i.seq FROM events_by_`+it.col+` AS i
					WHERE i.`+it.col+` = ? AND i.seq <= ? AND NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = i.seq)
					ORDER BY i.seq LIMIT ?)`, it.key, p.cursor, sweepRows)
				if err != nil {
					return fmt.Errorf("%s %q: %w", it.col, it.key, err)
				}
				n, err := res.RowsAffected()
				if err != nil {
					return err
				}
				rows += n
				if n < sweepRows {
					items = items[1:]
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("delete the index entries of pruned events: %w", err)
		}
	}
	return nil
}
