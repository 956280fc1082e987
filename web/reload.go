package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"hearth"
)

// Reloader reloads the automations from their files. cmd/hub adapts the
// hub's reload to it.
type Reloader interface {
	// Reload reads the automations again and swaps them in, and says what
	// changed. Files with mistakes are not swapped in: the error is then a
	// *ProblemsError, and the automations loaded before keep running.
	Reload(ctx context.Context) (ReloadChanges, error)
}

// ReloadChanges says what a reload changed, by automation id.
type ReloadChanges struct {
	// Added are new; Changed had a different definition (their runs and
	// timers were cancelled); Removed are gone; Unchanged kept their runs.
	Added     []string `json:"added"`
	Changed   []string `json:"changed"`
	Removed   []string `json:"removed"`
	Unchanged []string `json:"unchanged"`
}

// Summary says what changed in a sentence: "added a, b; changed c".
func (c ReloadChanges) Summary() string {
	var parts []string
	for _, p := range []struct {
		what string
		ids  []string
	}{{"added", c.Added}, {"changed", c.Changed}, {"removed", c.Removed}} {
		if len(p.ids) > 0 {
			parts = append(parts, p.what+" "+strings.Join(p.ids, ", "))
		}
	}
	if len(parts) == 0 {
		return "nothing changed"
	}
	return strings.Join(parts, "; ")
}

// ProblemsError is the mistakes found in automations YAML, all at once;
// nothing of it was loaded. The API answers it with 422 and the list.
type ProblemsError struct {
	Problems []hearth.AutomationProblem
}

// Error names the number of mistakes and the first one.
func (e *ProblemsError) Error() string {
	if len(e.Problems) == 0 {
		return "the automations have mistakes"
	}
	p := e.Problems[0]
	where := p.File
	if p.Line > 0 {
		where = fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
	}
	msg := fmt.Sprintf("%s: %s", where, p.Message)
	if n := len(e.Problems); n > 1 {
		msg += fmt.Sprintf(" (and %d more)", n-1)
	}
	return msg
}

// problemsBody is the answer to YAML with mistakes.
type problemsBody struct {
	Error    string                     `json:"error"`
	Problems []hearth.AutomationProblem `json:"problems"`
}

// reloadBody is the answer to a reload that swapped the automations in.
type reloadBody struct {
	ReloadChanges
	Summary string `json:"summary"`
}

// reloadAutomations serves POST /api/automations/reload.
func (s *Server) reloadAutomations(w http.ResponseWriter, r *http.Request) {
	if s.opts.Reloader == nil {
		writeError(w, http.StatusServiceUnavailable, "reloading is not available on this hub: it was started without an automations file")
		return
	}
	ch, err := s.opts.Reloader.Reload(r.Context())
	var pe *ProblemsError
	switch {
	case errors.As(err, &pe):
		writeJSON(w, http.StatusUnprocessableEntity, problemsBody{
			Error:    fmt.Sprintf("the automations were not reloaded: %d mistake%s; the automations loaded before keep running", len(pe.Problems), plural(len(pe.Problems))),
			Problems: nonNil(pe.Problems),
		})
		return
	case err != nil:
		s.log.Error("reload automations", "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	ch.Added, ch.Changed, ch.Removed, ch.Unchanged = nonNil(ch.Added), nonNil(ch.Changed), nonNil(ch.Removed), nonNil(ch.Unchanged)
	writeJSON(w, http.StatusOK, reloadBody{ReloadChanges: ch, Summary: ch.Summary()})
}

// nonNil makes a nil list an empty one, which JSON writes as [].
func nonNil[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
