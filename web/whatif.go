package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"hearth"
)

// WhatIfRunner runs automations written on the page against the events of
// the log, on a virtual clock, without publishing anything. cmd/hub adapts
// the engine and the store to it.
type WhatIfRunner interface {
	// WhatIf loads yaml and replays the log's events from from on, the
	// virtual clock running until until. YAML with mistakes is a
	// *ProblemsError; more events than the runner will hold in memory is
	// an error wrapping ErrTooManyEvents.
	WhatIf(ctx context.Context, yaml []byte, from, until time.Time) (WhatIfAnswer, error)
}

// WhatIfAnswer is a what-if run with what loading its YAML doubted
// (likely typos, devices not heard of), which the box shows above it.
type WhatIfAnswer struct {
	// Run is what the run would have done: the JSON object it marshals to
	// (automations.WhatIfResult) is the answer.
	Run any
	// Warnings are the load's doubts, with their places in the YAML.
	Warnings []hearth.AutomationProblem
}

// ErrTooManyEvents is wrapped by a WhatIfRunner that was asked to replay
// more events than it holds in memory; the API answers 422.
var ErrTooManyEvents = errors.New("too many events to replay")

const (
	// maxWhatIfBytes bounds a what-if body: an automations file, not a
	// command, so more than the 16 KiB of other bodies.
	maxWhatIfBytes = 256 << 10
	// maxWhatIfSince is how far back a what-if may replay.
	maxWhatIfSince = 7 * 24 * time.Hour
	// defaultWhatIfSince is how far back it replays when not told.
	defaultWhatIfSince = 24 * time.Hour
	// whatIfTimeout bounds one what-if run.
	whatIfTimeout = 2 * time.Minute
)

// whatIfRequest is the body of POST /api/automations/whatif.
type whatIfRequest struct {
	// YAML is an automations file, as it would be written.
	YAML string `json:"yaml"`
	// Since is how far back to replay: a duration such as "24h".
	Since string `json:"since"`
}

// whatIf serves POST /api/automations/whatif.
func (s *Server) whatIf(w http.ResponseWriter, r *http.Request) {
	if s.opts.WhatIf == nil {
		unavailable(w, "testing automations against the log")
		return
	}
	var req whatIfRequest
	if err := readJSONMax(w, r, &req, maxWhatIfBytes); err != nil {
		writeError(w, bodyStatus(err), err.Error())
		return
	}
	if strings.TrimSpace(req.YAML) == "" {
		writeError(w, http.StatusBadRequest, `yaml: empty; want the automations to test, as a file holds them`)
		return
	}
	since := defaultWhatIfSince
	if req.Since != "" {
		d, err := time.ParseDuration(req.Since)
		if err != nil || d <= 0 || d > maxWhatIfSince {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("since %q: want a duration above 0 and at most %s, such as \"24h\"", req.Since, shortDuration(maxWhatIfSince)))
			return
		}
		since = d
	}
	// A what-if replays up to a week of the log in memory: one at a time.
	select {
	case s.whatIfSlot <- struct{}{}:
		defer func() { <-s.whatIfSlot }()
	default:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusTooManyRequests, "another what-if is running; try again in a few seconds")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), whatIfTimeout)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel) // the server is closing
	defer stop()
	until := s.now()
	res, err := s.opts.WhatIf.WhatIf(ctx, []byte(req.YAML), until.Add(-since), until)
	var pe *ProblemsError
	switch {
	case errors.As(err, &pe):
		writeJSON(w, http.StatusUnprocessableEntity, problemsBody{
			Error:    fmt.Sprintf("the automations have %d mistake%s: %s", len(pe.Problems), plural(len(pe.Problems)), pe.Error()),
			Problems: nonNil(pe.Problems),
		})
	case errors.Is(err, ErrTooManyEvents):
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("%v: ask for a shorter time than %s", err, shortDuration(since)))
	case err != nil && ctx.Err() != nil && r.Context().Err() == nil:
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("the what-if took longer than %s and was stopped: ask for a shorter time", whatIfTimeout))
	case err != nil:
		s.log.Error("what-if", "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		body, err := whatIfBody(res)
		if err != nil {
			s.log.Error("what-if: answer", "err", err)
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, body)
	}
}

// whatIfBody is the answer to a what-if: the run's fields, with commands
// a list even when there are none (the engine leaves it nil), and the
// load's warnings, a list too.
func whatIfBody(a WhatIfAnswer) (map[string]json.RawMessage, error) {
	raw, err := json.Marshal(a.Run)
	if err != nil {
		return nil, fmt.Errorf("write the what-if's answer: %w", err)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil || body == nil {
		return nil, fmt.Errorf("the what-if's answer is not a JSON object: %.40s", raw)
	}
	if c := body["commands"]; c == nil || string(c) == "null" {
		body["commands"] = json.RawMessage("[]")
	}
	body["warnings"], _ = json.Marshal(nonNil(a.Warnings)) // plain strings and numbers
	return body, nil
}

// shortDuration writes 168h0m0s as 168h.
func shortDuration(d time.Duration) string {
	out := d.String()
	if strings.HasSuffix(out, "m0s") {
		out = strings.TrimSuffix(out, "0s")
	}
	if strings.HasSuffix(out, "h0m") {
		out = strings.TrimSuffix(out, "0m")
	}
	return out
}
