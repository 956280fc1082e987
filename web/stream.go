package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"hearth"
)

const (
	// heartbeatEvery is how often an idle stream gets a comment, so that
	// proxies and the browser see it alive and a gone client is noticed.
	heartbeatEvery = 15 * time.Second
	// writeTimeout bounds one write to a client: a client that stops
	// reading is dropped instead of holding its handler forever.
	writeTimeout = 10 * time.Second
	// maxReplay bounds what a reconnecting page is replayed from the log;
	// further behind, it is told to re-read instead.
	maxReplay = 1000
	// replayWait bounds the wait for the log to catch up with the stream
	// before a replay.
	replayWait = 2 * time.Second
	// streamBatch is how many events one read of the subscription takes.
	streamBatch = 64
)

// streamFilter selects the events a stream sends; empty fields match all.
type streamFilter struct {
	device string
	kinds  []hearth.Kind
}

func (f streamFilter) match(e *hearth.Event) bool {
	return (f.device == "" || e.Device == f.device) && (len(f.kinds) == 0 || slices.Contains(f.kinds, e.Kind))
}

// stream serves GET /api/events/stream as Server-Sent Events:
//
//	event: hello   {"next_seq":N,"resumed":bool}  first; resumed false: re-read
//	id: <seq>      the event as JSON (the default "message" event)
//	event: gap     {"reason":"..."}  events were skipped: re-read
//	: ping         every 15 s
//
// Each client is a MayLag subscriber of the bus: a slow page never holds up
// the hub, it is told it fell behind. A reconnecting EventSource sends
// Last-Event-ID; what it missed is replayed from the log when that is at
// most maxReplay events, else resumed is false. Optional filters:
// ?device=ID and ?kind=state,availability.
//
// The handler runs on the request's goroutine and starts none: it ends when
// the client goes, the server closes or the bus closes.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if s.opts.Stream == nil {
		unavailable(w, "the live stream")
		return
	}
	f, err := parseStreamFilter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var last uint64
	resume := false
	if x := r.Header.Get("Last-Event-ID"); x != "" {
		// A malformed id is not the page's fault: start afresh.
		if n, err := strconv.ParseUint(x, 10, 64); err == nil {
			last, resume = n, true
		}
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel) // the server is closing
	defer stop()

	// Subscribe before reading NextSeq: every event from the subscription's
	// start on comes from it, everything before next from the log, and the
	// overlap is skipped by sequence number.
	sub := s.opts.Stream.Subscribe("web "+r.RemoteAddr, hearth.MayLag)
	defer sub.Close()
	next := s.opts.Stream.NextSeq()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	out := &sseWriter{w: w, rc: rc}

	var replay []hearth.Event
	if resume {
		replay, resume = s.replay(ctx, last, next)
	}
	out.printf("retry: 3000\n\n")
	out.event("hello", map[string]any{"next_seq": next, "resumed": resume})
	sent := next - 1
	if resume {
		sent = last
		for i := range replay {
			out.data(&replay[i], f)
			sent = replay[i].Seq
		}
	}
	if err := out.flush(); err != nil {
		return
	}

	buf := make([]hearth.Event, streamBatch)
	for {
		readCtx, readCancel := context.WithTimeout(ctx, s.heartbeat)
		batch, err := sub.Read(readCtx, buf)
		readCancel()
		switch {
		case errors.Is(err, hearth.ErrGap):
			out.event("gap", map[string]string{"reason": "the page fell behind the hub's events"})
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			out.printf(": ping\n\n")
		case err != nil:
			return // the client went, the server or the bus closed
		}
		for i := range batch {
			if batch[i].Seq > sent {
				out.data(&batch[i], f)
				sent = batch[i].Seq
			}
		}
		if err := out.flush(); err != nil {
			return
		}
	}
}

// replay returns the events after last and before next from the log, in
// order, and whether they are complete. It waits (briefly) for the log to
// hold them all: the store commits behind the bus.
func (s *Server) replay(ctx context.Context, last, next uint64) ([]hearth.Event, bool) {
	if last+1 >= next {
		return nil, last+1 == next // caught up; a larger id is another log's
	}
	if next-1-last > maxReplay || s.opts.Log == nil {
		return nil, false
	}
	wctx, cancel := context.WithTimeout(ctx, replayWait)
	defer cancel()
	if err := s.opts.Stream.WaitDurable(wctx, next-1); err != nil {
		s.log.Debug("replay: log behind", "next", next, "err", err)
		return nil, false
	}
	want := int(next - 1 - last)
	events, err := s.opts.Log.Events(ctx, hearth.EventQuery{Before: next, Limit: want})
	if err != nil {
		s.log.Error("replay: read log", "err", err)
		return nil, false
	}
	// Newest first and contiguous, or something is missing (retention).
	if len(events) != want || events[len(events)-1].Seq != last+1 {
		return nil, false
	}
	slices.Reverse(events)
	return events, true
}

func parseStreamFilter(r *http.Request) (streamFilter, error) {
	v := r.URL.Query()
	f := streamFilter{device: v.Get("device")}
	if x := v.Get("kind"); x != "" {
		for k := range strings.SplitSeq(x, ",") {
			if !hearth.Kind(k).Valid() {
				return f, fmt.Errorf("kind %q: want a comma-separated list of message, state, availability, command, run, notification, gap", k)
			}
			f.kinds = append(f.kinds, hearth.Kind(k))
		}
	}
	return f, nil
}

// sseWriter buffers one batch of Server-Sent Events and writes it with a
// deadline. After the first failure it writes nothing more.
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf bytes.Buffer
	err error
}

func (o *sseWriter) printf(format string, args ...any) { fmt.Fprintf(&o.buf, format, args...) }

// event adds a named event with a JSON body.
func (o *sseWriter) event(name string, v any) {
	b, _ := json.Marshal(v) // maps of plain values always marshal
	o.printf("event: %s\ndata: %s\n\n", name, b)
}

// data adds a log event, with its sequence number as the SSE id, if f
// matches it. encoding/json compacts a payload, so the data is one line.
func (o *sseWriter) data(e *hearth.Event, f streamFilter) {
	if !f.match(e) {
		return
	}
	b, err := json.Marshal(e)
	if err != nil || bytes.ContainsAny(b, "\r\n") {
		return // cannot happen for a valid event; never break the framing
	}
	o.printf("id: %d\ndata: %s\n\n", e.Seq, b)
}

func (o *sseWriter) flush() error {
	if o.err != nil {
		return o.err
	}
	if o.buf.Len() == 0 {
		return nil
	}
	_ = o.rc.SetWriteDeadline(time.Now().Add(writeTimeout)) // not every writer has deadlines
	if _, err := o.w.Write(o.buf.Bytes()); err != nil {
		o.err = err
		return err
	}
	o.buf.Reset()
	if err := o.rc.Flush(); err != nil {
		o.err = err
	}
	return o.err
}
