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
	walk   chan struct{}  // a motion sensor's: someone walks past it now (House.Walk)
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
		case <-s.walk:
			m, ok := s.model.(*motion)
			if !ok {
				continue
			}
			for _, st := range m.walkIn() {
				s.report(ctx, st)
			}
		case <-t.C:
			s.report(ctx, s.model.step())
		}
	}
}

// report publishes what the model says (nothing for nil), or the whole
// state in steady mode.
func (s *sensor) report(ctx context.Context, st map[string]any) {
	if s.steady {
		for k, v := range st {
			s.last[k] = v
		}
		st = s.last
	}
	if st == nil {
		return
	}
	if err := s.publishState(ctx, st, false); err != nil && ctx.Err() == nil {
		s.log.Warn("publish state", "error", err)
	}
}
