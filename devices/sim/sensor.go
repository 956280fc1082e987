package sim

import (
	"context"
	"time"
)

// sensor runs a model on a link: it publishes the model's state when it
// connects and whatever each tick produces.
type sensor struct {
	*link
	model  model
	tick   time.Duration
	steady bool           // report the whole state at every tick
	last   map[string]any // the state reported so far, for steady reports
}

// setup announces the sensor and publishes its current state.
func (s *sensor) setup(ctx context.Context) error {
	if err := s.announce(ctx); err != nil {
		return err
	}
	s.last = s.model.initial()
	return s.publishState(ctx, s.last, false)
}

// run ticks the model until ctx is done.
func (s *sensor) run(ctx context.Context) {
	t := time.NewTicker(s.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.lost:
			s.reconnect(ctx, s.setup)
		case <-t.C:
			st := s.model.step()
			if s.steady {
				for k, v := range st {
					s.last[k] = v
				}
				st = s.last
			}
			if st == nil {
				continue
			}
			if err := s.publishState(ctx, st, false); err != nil && ctx.Err() == nil {
				s.log.Warn("publish state", "error", err)
			}
		}
	}
}
