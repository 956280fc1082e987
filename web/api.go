package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

	"hearth"
)

// maxBodyBytes bounds a request body: a command or a device's name is a
// few hundred bytes.
const maxBodyBytes = 16 << 10

// route is one endpoint of the API: a ServeMux pattern and its handler.
type route struct {
	pattern string
	handler http.HandlerFunc
}

// apiRoutes lists the API's endpoints; tests walk it to check that every
// one is guarded.
func (s *Server) apiRoutes() []route {
	return []route{
		{"GET /api/devices", s.listDevices},
		{"GET /api/devices/{id}", s.withDevice(s.getDevice)},
		{"PUT /api/devices/{id}", s.withDevice(s.putDevice)},
		{"POST /api/devices/{id}/set", s.withDevice(s.setDevice)},
		{"GET /api/devices/{id}/history", s.withDevice(s.history)},
		{"POST /api/alarm", s.alarmCommand},
		{"GET /api/notifications", s.listNotifications},
		{"GET /api/events", s.listEvents},
		{"GET /api/events/stream", s.stream},
		{"GET /api/events/{seq}/causes", s.causes},
		{"GET /api/automations", s.listAutomations},
		{"POST /api/automations/reload", s.reloadAutomations},
		{"POST /api/automations/whatif", s.whatIf},
		{"GET /api/automations/{id}", s.getAutomation},
		{"GET /api/automations/{id}/traces", s.automationTraces},
		{"POST /api/automations/{id}/{action}", s.automationAction},
		{"POST /api/login", s.login},
		{"POST /api/logout", s.logout},
		{"POST /api/setup", s.setupUser},
		{"GET /api/me", s.me},
		{"GET /api/tokens", s.listTokens},
		{"POST /api/tokens", s.createToken},
		{"DELETE /api/tokens/{id}", s.revokeToken},
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	if s.opts.Metrics != nil {
		mux.Handle("GET /metrics", s.opts.Metrics)
	}
	// probe knows the API's paths alone, to tell a wrong method (405) from
	// a path that is no endpoint (404).
	probe := http.NewServeMux()
	for _, rt := range s.apiRoutes() {
		mux.HandleFunc(rt.pattern, rt.handler)
		probe.HandleFunc(rt.pattern, http.NotFound)
	}
	mux.HandleFunc("GET /setup", func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/"
		s.assets.ServeHTTP(w, r2)
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(probe, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: this endpoint takes %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
			return
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	mux.Handle("/", s.assets)
	return securityHeaders(s.guard(mux))
}

// allowedMethods lists the methods probe has an endpoint for at r's path.
func allowedMethods(probe *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pattern := probe.Handler(r2); pattern != "" {
			allow = append(allow, m)
		}
	}
	return allow
}

// securityHeaders sets the headers every answer carries. The policy allows
// only the hub's own scripts, styles and connections: no inline script, no
// inline style attribute, nothing from elsewhere.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// healthz says whether the hub is well: "ok", or "degraded" with 503 while
// the log cannot be written (the house keeps working, but nothing new is
// kept and QoS 1 messages are refused), so that a monitor raises the alarm.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	status, code := "ok", http.StatusOK
	var logErr error
	if p := s.opts.Progress; p != nil {
		if logErr = p.DurableErr(); logErr != nil {
			status, code = "degraded", http.StatusServiceUnavailable
		}
	}
	var brokerErr error
	if b := s.opts.Broker; b != nil {
		if brokerErr = b.ConnErr(); brokerErr != nil {
			status, code = "degraded", http.StatusServiceUnavailable
		}
	}
	if s.opts.Accounts != nil && currentUser(r) == "" && !s.isLocal(r) {
		// Without a login, say only whether the hub is well.
		writeJSON(w, code, map[string]any{"status": status})
		return
	}
	body := map[string]any{
		"status": status,
		"uptime": time.Since(s.start).Round(time.Second).String(),
	}
	if p := s.opts.Progress; p != nil {
		body["next_seq"] = p.NextSeq()
		body["durable_seq"] = p.Durable()
	}
	if logErr != nil {
		body["log_error"] = logErr.Error()
	}
	if brokerErr != nil {
		body["broker_error"] = brokerErr.Error()
	}
	writeJSON(w, code, body)
}

// unavailable answers 503 for a part of the hub that is not wired.
func unavailable(w http.ResponseWriter, what string) {
	writeError(w, http.StatusServiceUnavailable, what+" is not available on this hub")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
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

// notFound reports whether err says that something asked for does not exist:
// the root package's sentinels, or any error with a NotFound() bool method
// (the store's), so that web needs no import of the packages it is given.
func notFound(err error) bool {
	var nf interface{ NotFound() bool }
	return errors.Is(err, hearth.ErrNoAutomation) || (errors.As(err, &nf) && nf.NotFound())
}

// readJSON decodes a request body of at most maxBodyBytes into v, refusing
// unknown fields and trailing data. The error says what is wrong, for a 400
// (or a 413 when too large, see bodyStatus).
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return readJSONMax(w, r, v, maxBodyBytes)
}

// readJSONMax is readJSON for a body of at most limit bytes.
func readJSONMax(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !jsonContentType(ct) {
		return fmt.Errorf("content type %q: want application/json", ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &bodyTooLarge{limit: tooBig.Limit}
		}
		return fmt.Errorf("read body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("the body is empty: want a JSON object")
		}
		return fmt.Errorf("the body is not valid: %s", jsonProblem(err))
	}
	if dec.More() {
		return errors.New("the body has data after its JSON value")
	}
	return nil
}

// jsonProblem says what encoding/json found wrong with a body in the
// words of the JSON the client sent, not of the Go type it was decoded
// into: "name: want a string, got a number" rather than "cannot unmarshal
// number into Go struct field DeviceMeta.name of type string".
func jsonProblem(err error) string {
	var (
		typ *json.UnmarshalTypeError
		syn *json.SyntaxError
	)
	switch {
	case errors.As(err, &typ):
		where := "the body"
		if typ.Field != "" {
			where = typ.Field
		}
		return fmt.Sprintf("%s: want %s, got %s", where, jsonKindOf(typ.Type), withArticle(typ.Value))
	case errors.As(err, &syn):
		return fmt.Sprintf("not JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends too soon"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// jsonKindOf names the JSON that decodes into t.
func jsonKindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonKindOf(t.Elem())
	}
	return "another kind of value"
}

// withArticle puts "a" or "an" before the kind of JSON value encoding/json
// names ("number", "array", "object"...).
func withArticle(kind string) string {
	switch kind {
	case "array":
		return "a list"
	case "object":
		return "an object"
	case "bool":
		return "true or false"
	}
	if kind != "" && strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

func jsonContentType(ct string) bool {
	return ct == "application/json" || bytes.HasPrefix([]byte(ct), []byte("application/json;"))
}

// bodyTooLarge is the error of a body over maxBodyBytes.
type bodyTooLarge struct{ limit int64 }

func (e *bodyTooLarge) Error() string {
	return fmt.Sprintf("the body is larger than %d bytes", e.limit)
}

// bodyStatus is the status for an error of readJSON.
func bodyStatus(err error) int {
	var big *bodyTooLarge
	if errors.As(err, &big) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}
