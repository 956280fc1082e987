package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"hearth"
)

// maxEventsLimit caps one page of events.
const maxEventsLimit = 1000

var deviceID = regexp.MustCompile(`^[^/#+\s]{1,128}$`)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /api/devices", s.listDevices)
	mux.HandleFunc("GET /api/devices/{id}", s.getDevice)
	mux.HandleFunc("GET /api/events", s.listEvents)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{
		"status": "ok",
		"uptime": time.Since(s.start).Round(time.Second).String(),
	}
	if p := s.opts.Progress; p != nil {
		body["next_seq"] = p.NextSeq()
		body["durable_seq"] = p.Durable()
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request) {
	devices := s.opts.Devices.Devices()
	if devices == nil {
		devices = []hearth.DeviceState{}
	}
	writeJSON(w, http.StatusOK, devices)
}

func (s *Server) getDevice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !deviceID.MatchString(id) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("device id %q is not valid: one topic level, no wildcards or spaces", id))
		return
	}
	d, ok := s.opts.Devices.Device(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no device %q", id))
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q, err := parseEventQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	events, err := s.opts.Log.Events(r.Context(), q)
	if err != nil {
		s.log.Error("read events", "err", err)
		writeError(w, http.StatusInternalServerError, "could not read the event log")
		return
	}
	if events == nil {
		events = []hearth.Event{}
	}
	writeJSON(w, http.StatusOK, events)
}

// parseEventQuery reads ?limit=&before=&device=&topic=&kind= and says which is wrong.
func parseEventQuery(r *http.Request) (hearth.EventQuery, error) {
	v := r.URL.Query()
	q := hearth.EventQuery{Limit: 100, Device: v.Get("device"), Topic: v.Get("topic"), Kind: hearth.Kind(v.Get("kind"))}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxEventsLimit {
			return q, fmt.Errorf("limit %q: want a whole number from 1 to %d", s, maxEventsLimit)
		}
		q.Limit = n
	}
	if s := v.Get("before"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return q, fmt.Errorf("before %q: want a sequence number above 0", s)
		}
		q.Before = n
	}
	if q.Kind != "" && !q.Kind.Valid() {
		return q, fmt.Errorf("kind %q: want one of message, state, availability, command, run", q.Kind)
	}
	return q, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client may have gone; nothing to do about it
}

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}
