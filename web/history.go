package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"hearth"
)

// History ranges and resolution.
const (
	// defaultHistoryRange is the range when from is not given.
	defaultHistoryRange = 24 * time.Hour
	// maxHistoryRange bounds to - from.
	maxHistoryRange = 366 * 24 * time.Hour
	// defaultHistoryPoints is how many buckets the default step makes: a
	// chart a phone's width wide has no use for more.
	defaultHistoryPoints = 300
	// maxHistoryPoints bounds the buckets; a finer step is coarsened.
	maxHistoryPoints = 2000
)

// historyBody is the answer of GET /api/devices/{id}/history.
type historyBody struct {
	Device string                `json:"device"`
	Attr   string                `json:"attr"`
	From   time.Time             `json:"from"`
	To     time.Time             `json:"to"`
	Step   string                `json:"step"`
	StepMS int64                 `json:"step_ms"`
	Points []hearth.HistoryPoint `json:"points"`
}

// history answers ?attr=&from=&to=&step= with the attribute's min, average
// and max per step. from and to are RFC 3339 times or durations back from
// now ("-24h"); to defaults to now, from to a day before to, step to what
// makes about 300 points. A step that would make more than 2,000 points is
// coarsened to 2,000.
func (s *Server) history(w http.ResponseWriter, r *http.Request, id string) {
	if s.opts.History == nil {
		unavailable(w, "history")
		return
	}
	q, err := s.parseHistory(r, id)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, ok := s.opts.Devices.Device(id); !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no device %q", id))
		return
	}
	points, err := s.opts.History.History(r.Context(), q)
	if err != nil {
		s.log.Error("read history", "device", id, "attr", q.Attr, "err", err)
		writeError(w, http.StatusInternalServerError, "could not read the history")
		return
	}
	if points == nil {
		points = []hearth.HistoryPoint{}
	}
	writeJSON(w, http.StatusOK, historyBody{
		Device: id, Attr: q.Attr, From: q.From, To: q.To,
		Step: q.Step.String(), StepMS: q.Step.Milliseconds(), Points: points,
	})
}

func (s *Server) parseHistory(r *http.Request, id string) (hearth.HistoryQuery, error) {
	v := r.URL.Query()
	now := s.now()
	q := hearth.HistoryQuery{Device: id, Attr: v.Get("attr"), To: now}
	switch {
	case q.Attr == "":
		return q, fmt.Errorf("attr is required: the attribute to chart, such as attr=temperature")
	case len(q.Attr) > 128 || strings.ContainsAny(q.Attr, "\"\\\x00"):
		return q, fmt.Errorf("attr %q: a top-level attribute name, without quotes or backslashes", q.Attr)
	}
	var err error
	if x := v.Get("to"); x != "" {
		if q.To, err = parseWhen(x, now); err != nil {
			return q, fmt.Errorf("to %q: %w", x, err)
		}
	}
	q.From = q.To.Add(-defaultHistoryRange)
	if x := v.Get("from"); x != "" {
		if q.From, err = parseWhen(x, now); err != nil {
			return q, fmt.Errorf("from %q: %w", x, err)
		}
	}
	span := q.To.Sub(q.From)
	switch {
	case span <= 0:
		return q, fmt.Errorf("from (%s) must be before to (%s)", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	case span > maxHistoryRange:
		return q, fmt.Errorf("from..to spans %s, at most %d days", span.Round(time.Hour), int(maxHistoryRange.Hours()/24))
	}
	q.Step = ceilStep(span, defaultHistoryPoints)
	if x := v.Get("step"); x != "" {
		if q.Step, err = time.ParseDuration(x); err != nil || q.Step < time.Second {
			return q, fmt.Errorf("step %q: want a duration of at least 1s, such as 5m or 1h", x)
		}
	}
	q.Step = max(q.Step, ceilStep(span, maxHistoryPoints))
	return q, nil
}

// ceilStep is the smallest whole-second step that cuts span into at most n
// buckets.
func ceilStep(span time.Duration, n int) time.Duration {
	step := (span + time.Duration(n) - 1) / time.Duration(n)
	return max(time.Second, (step + time.Second - 1).Truncate(time.Second))
}

// parseWhen reads an RFC 3339 time, or a negative duration back from now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if strings.HasPrefix(s, "-") {
		d, err := time.ParseDuration(s)
		if err != nil {
			return time.Time{}, fmt.Errorf("want an RFC 3339 time or a duration back from now such as -24h")
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want an RFC 3339 time such as 2025-01-02T15:04:05Z or a duration back from now such as -24h")
	}
	return t, nil
}
