package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"hearth"
	"hearth/automations"
	"hearth/store"
	"hearth/web"
)

// maxWhatIfEvents bounds the events a what-if from the page holds in
// memory: a few hundred bytes each, so tens of megabytes at most on a Pi.
const maxWhatIfEvents = 200_000

// webAutomations gives the web page what the engine alone cannot: a reload
// of the automations file and what-if runs over the log.
type webAutomations struct{ a *App }

var (
	_ web.Reloader     = webAutomations{}
	_ web.WhatIfRunner = webAutomations{}
)

// webReloader is what the page reloads the automations with, nil when the
// hub has no automations file (the demo): the page then says so.
func (a *App) webReloader() web.Reloader {
	if a.automationsPath == "" {
		return nil
	}
	return webAutomations{a}
}

// Reload reloads the automations file as App.Reload does, and says what
// changed; mistakes come back as a *web.ProblemsError.
func (w webAutomations) Reload(ctx context.Context) (web.ReloadChanges, error) {
	path := w.a.automationsPath
	ch, err := w.a.engine.Reload(path)
	if err != nil {
		return web.ReloadChanges{}, problemsOf(path, err)
	}
	w.a.log.Info("automations reloaded", "by", "web", "path", path, "changes", ch.String())
	return web.ReloadChanges{Added: ch.Added, Changed: ch.Changed, Removed: ch.Removed, Unchanged: ch.Unchanged}, nil
}

// WhatIf runs the automations in yaml against the log's events from from
// on, with the engine's base topic, location and device states.
func (w webAutomations) WhatIf(ctx context.Context, yaml []byte, from, until time.Time) (web.WhatIfAnswer, error) {
	const name = "what-if.yaml"
	// Loaded by the engine, which knows the devices: a likely typo or a
	// device not heard of is said, as when the file itself is loaded.
	set, err := w.a.engine.LoadBytes(name, yaml)
	if err != nil {
		return web.WhatIfAnswer{}, problemsOf(name, err)
	}
	events, err := logEvents(ctx, w.a.store, from, maxWhatIfEvents)
	if err != nil {
		return web.WhatIfAnswer{}, err
	}
	res, err := w.a.engine.WhatIf(ctx, set, events, until)
	if err != nil {
		return web.WhatIfAnswer{}, err
	}
	return web.WhatIfAnswer{Run: res, Warnings: problemList(set.Warnings())}, nil
}

// problemsOf turns a load error into the page's list of problems: every
// problem of a *automations.LoadError, or the error itself as one.
func problemsOf(file string, err error) *web.ProblemsError {
	var le *automations.LoadError
	if !errors.As(err, &le) {
		return &web.ProblemsError{Problems: []hearth.AutomationProblem{{File: file, Message: err.Error()}}}
	}
	return &web.ProblemsError{Problems: problemList(le.Problems)}
}

// problemList is the page's form of the automations' problems.
func problemList(ps []automations.Problem) []hearth.AutomationProblem {
	out := make([]hearth.AutomationProblem, len(ps))
	for i, p := range ps {
		out[i] = hearth.AutomationProblem{File: p.File, Line: p.Line, Column: p.Column, Automation: p.Automation, Message: p.Msg}
	}
	return out
}

// logEvents reads the log's events from the first at or after from, in
// order; more than limit of them (when limit > 0) is an error wrapping
// web.ErrTooManyEvents.
func logEvents(ctx context.Context, st *store.Store, from time.Time, limit int) ([]hearth.Event, error) {
	first, err := st.FirstSeqSince(ctx, from)
	if err != nil {
		return nil, err
	}
	var events []hearth.Event
	err = st.Replay(ctx, first, func(e hearth.Event) error {
		if limit > 0 && len(events) == limit {
			return fmt.Errorf("more than %d events since %s: %w", limit, from.Format(time.RFC3339), web.ErrTooManyEvents)
		}
		events = append(events, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the log: %w", err)
	}
	return events, nil
}
