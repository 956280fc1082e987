package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"hearth"
)

// Automations is what the page needs of the automation engine: the list with
// the last load's problems, and control over each automation. Methods return
// an error wrapping hearth.ErrNoAutomation for an id that is not loaded.
type Automations interface {
	// List returns every loaded automation and the problems of the last load.
	List(ctx context.Context) (hearth.AutomationList, error)
	// Get returns one automation, with its YAML.
	Get(ctx context.Context, id string) (hearth.AutomationInfo, error)
	// Enable lets an automation's triggers start runs again; remembered.
	Enable(ctx context.Context, id string) error
	// Disable stops an automation's triggers from starting runs; remembered.
	Disable(ctx context.Context, id string) error
	// Run starts a run now, skipping triggers and conditions, and returns
	// the run's name.
	Run(ctx context.Context, id string) (string, error)
	// Traces returns the newest runs of an automation, newest first, at
	// most limit.
	Traces(ctx context.Context, id string, limit int) ([]hearth.Trace, error)
}

// maxTraces caps one page of traces.
const maxTraces = 100

func (s *Server) listAutomations(w http.ResponseWriter, r *http.Request) {
	if s.opts.Automations == nil {
		unavailable(w, "the automation engine")
		return
	}
	l, err := s.opts.Automations.List(r.Context())
	if err != nil {
		s.automationError(w, "", err)
		return
	}
	if l.Automations == nil {
		l.Automations = []hearth.AutomationInfo{}
	}
	writeJSON(w, http.StatusOK, listBody{AutomationList: l, CanReload: s.opts.Reloader != nil})
}

// listBody is the answer of GET /api/automations: the list, and whether
// the page may offer a reload (the hub has an automations file).
type listBody struct {
	hearth.AutomationList
	CanReload bool `json:"can_reload"`
}

func (s *Server) getAutomation(w http.ResponseWriter, r *http.Request) {
	if s.opts.Automations == nil {
		unavailable(w, "the automation engine")
		return
	}
	id := r.PathValue("id")
	a, err := s.opts.Automations.Get(r.Context(), id)
	if err != nil {
		s.automationError(w, id, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) automationTraces(w http.ResponseWriter, r *http.Request) {
	if s.opts.Automations == nil {
		unavailable(w, "the automation engine")
		return
	}
	id := r.PathValue("id")
	limit := 20
	if x := r.URL.Query().Get("limit"); x != "" {
		n, err := strconv.ParseUint(x, 10, 64)
		if err != nil || n == 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want a whole number above 0 (at most %d are returned)", x, maxTraces))
			return
		}
		limit = int(min(n, maxTraces))
	}
	traces, err := s.opts.Automations.Traces(r.Context(), id, limit)
	if err != nil {
		s.automationError(w, id, err)
		return
	}
	if traces == nil {
		traces = []hearth.Trace{}
	}
	writeJSON(w, http.StatusOK, traces)
}

// automationAction serves POST /api/automations/{id}/enable, /disable and
// /run.
func (s *Server) automationAction(w http.ResponseWriter, r *http.Request) {
	if s.opts.Automations == nil {
		unavailable(w, "the automation engine")
		return
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	ctx := r.Context()
	var err error
	body := map[string]any{"id": id}
	switch action {
	case "enable":
		err = s.opts.Automations.Enable(ctx, id)
		body["enabled"] = true
	case "disable":
		err = s.opts.Automations.Disable(ctx, id)
		body["enabled"] = false
	case "run":
		var run string
		run, err = s.opts.Automations.Run(ctx, id)
		body["run"] = run
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: POST %s (want enable, disable or run)", r.URL.Path))
		return
	}
	if err != nil {
		s.automationError(w, id, err)
		return
	}
	status := http.StatusOK
	if action == "run" {
		status = http.StatusAccepted // the run goes on after the answer
	}
	writeJSON(w, status, body)
}

func (s *Server) automationError(w http.ResponseWriter, id string, err error) {
	if notFound(err) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no automation %q", id))
		return
	}
	if errors.Is(err, hearth.ErrBusy) {
		// A single automation that is running, or one at its max: the
		// page says so; nothing went wrong.
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	s.log.Error("automations", "id", id, "err", err)
	writeError(w, http.StatusInternalServerError, err.Error())
}
