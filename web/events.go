package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"hearth"
)

// The page sizes of GET /api/events: a larger limit is clamped.
const (
	defaultEventsLimit = 100
	maxEventsLimit     = 1000
)

// maxCauses bounds a chain of causes; a real chain is a handful of links.
const maxCauses = 32

// loggedWait bounds how long the causes of an event the stream has
// delivered wait for the log to commit it: the store holds a batch nobody
// waits for up to a second (store.DefaultQuietDelay) to share its commit.
const loggedWait = 3 * time.Second

// inferWindow is how long before a device's state message a command to it
// is taken as its likely cause: MQTT does not carry the command's id back.
const inferWindow = 10 * time.Second

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	if s.opts.Log == nil {
		unavailable(w, "the event log")
		return
	}
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

// parseEventQuery reads ?limit=&before=&device=&topic=&kind= and says which
// is wrong. A limit above the maximum is clamped to it.
func parseEventQuery(r *http.Request) (hearth.EventQuery, error) {
	v := r.URL.Query()
	q := hearth.EventQuery{Limit: defaultEventsLimit, Device: v.Get("device"), Topic: v.Get("topic"), Kind: hearth.Kind(v.Get("kind"))}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return q, fmt.Errorf("limit %q: want a whole number above 0 (at most %d are returned)", s, maxEventsLimit)
		}
		q.Limit = int(min(n, maxEventsLimit))
	}
	if s := v.Get("before"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return q, fmt.Errorf("before %q: want a sequence number above 0", s)
		}
		q.Before = n
	}
	if q.Kind != "" && !q.Kind.Valid() {
		return q, fmt.Errorf("kind %q: want one of message, state, availability, command, run, notification, gap", q.Kind)
	}
	return q, nil
}

// causeLink is one event of a chain of causes and how it was reached.
type causeLink struct {
	// Via is "event" for the event asked about, "cause" for an event named
	// by the previous one's cause, "inferred" for a command that most likely
	// made a device send the previous message.
	Via   string       `json:"via"`
	Event hearth.Event `json:"event"`
}

// causesBody is the answer of GET /api/events/{seq}/causes.
type causesBody struct {
	Chain []causeLink `json:"chain"`
	// Missing is the sequence number of a cause no longer in the log, if any.
	Missing uint64 `json:"missing,omitempty"`
}

// causes walks back from an event along Cause.Seq to the event that
// started it all. A device's state message has no cause of its own (MQTT
// does not carry the command's id to the device and back), so when a
// command to the same device shortly precedes it, that command is taken as
// the likely cause and marked "inferred".
func (s *Server) causes(w http.ResponseWriter, r *http.Request) {
	if s.opts.Log == nil {
		unavailable(w, "the event log")
		return
	}
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("seq %q: want a sequence number above 0", r.PathValue("seq")))
		return
	}
	ctx := r.Context()
	if err := s.awaitLogged(ctx, seq); err != nil {
		if ctx.Err() != nil {
			return // the client went
		}
		w.Header().Set("Retry-After", "2")
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("event %d is not in the log yet: %v; try again", seq, err))
		return
	}
	e, err := s.opts.Log.Event(ctx, seq)
	if notFound(err) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no event %d in the log", seq))
		return
	}
	if err != nil {
		s.log.Error("read event", "seq", seq, "err", err)
		writeError(w, http.StatusInternalServerError, "could not read the event log")
		return
	}
	out := causesBody{Chain: []causeLink{{Via: "event", Event: e}}}
	for len(out.Chain) < maxCauses {
		cur := out.Chain[len(out.Chain)-1].Event
		if c := cur.Cause.Seq; c != 0 && c < cur.Seq {
			next, err := s.opts.Log.Event(ctx, c)
			if notFound(err) {
				out.Missing = c
				break
			}
			if err != nil {
				s.log.Error("read cause", "seq", c, "err", err)
				writeError(w, http.StatusInternalServerError, "could not read the event log")
				return
			}
			out.Chain = append(out.Chain, causeLink{Via: "cause", Event: next})
			continue
		}
		cmd, ok, err := s.inferCommand(r, cur)
		if err != nil {
			s.log.Error("infer cause", "seq", cur.Seq, "err", err)
			writeError(w, http.StatusInternalServerError, "could not read the event log")
			return
		}
		if !ok {
			break
		}
		out.Chain = append(out.Chain, causeLink{Via: "inferred", Event: cmd})
	}
	writeJSON(w, http.StatusOK, out)
}

// awaitLogged waits until the log holds event seq when the stream has
// published it: a page asks for the causes of a change the moment the
// stream shows it, which is before the store commits it. An event the
// stream has not published is left to the log to answer (404).
func (s *Server) awaitLogged(ctx context.Context, seq uint64) error {
	if s.opts.Stream == nil || seq >= s.opts.Stream.NextSeq() {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, loggedWait)
	defer cancel()
	err := s.opts.Stream.WaitDurable(wctx, seq)
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("the log is behind")
	}
	return err
}

// inferCommand finds the command that most likely made a device send the
// state message e: the newest command to the device within inferWindow
// before it, among the device's last few events.
func (s *Server) inferCommand(r *http.Request, e hearth.Event) (hearth.Event, bool, error) {
	if e.Kind != hearth.KindMessage || e.Device == "" || e.Topic != s.opts.BaseTopic+"/"+e.Device {
		return hearth.Event{}, false, nil
	}
	recent, err := s.opts.Log.Events(r.Context(), hearth.EventQuery{Device: e.Device, Before: e.Seq, Limit: 20})
	if err != nil {
		return hearth.Event{}, false, err
	}
	for _, c := range recent {
		if e.Time.Sub(c.Time) > inferWindow {
			break
		}
		if c.Kind == hearth.KindCommand {
			return c, true, nil
		}
		if c.Kind == hearth.KindMessage && c.Topic == e.Topic {
			break // an earlier state message answered any older command
		}
	}
	return hearth.Event{}, false, nil
}
