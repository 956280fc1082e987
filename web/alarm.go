package web

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"hearth"
)

// alarmID is the device id of the hub's alarm panel (docs/alarm.md).
const alarmID = "alarm"

// alarmActions are what the page may ask of the alarm panel.
var alarmActions = []string{"arm_away", "arm_home", "arm_night", "disarm"}

// alarmWait bounds the wait for the alarm's answer: its code check is slow
// on purpose (bcrypt), and commands from keypads queue before this one.
const alarmWait = 10 * time.Second

// maxAlarmCode bounds a code sent to the alarm, in bytes.
const maxAlarmCode = 64

// alarmRequest is the body of POST /api/alarm.
type alarmRequest struct {
	Action string `json:"action"`
	Code   string `json:"code,omitempty"`
}

// alarmPayload is the command POST /api/alarm sends the alarm: the
// request, and a ref the alarm's answer says back.
type alarmPayload struct {
	alarmRequest
	Ref string `json:"ref"`
}

// alarmAnswer is the answer of POST /api/alarm: the alarm's state after the
// command, the command's event, and what went wrong if anything did.
type alarmAnswer struct {
	Error string `json:"error,omitempty"`
	// Alarm is the alarm's state as it published it in answer.
	Alarm map[string]any `json:"alarm,omitempty"`
	// Command is the sequence number of the command's event in the log.
	Command uint64 `json:"command,omitempty"`
	// RetryAfter is, while codes are refused, how many seconds are left.
	RetryAfter int `json:"retry_after,omitempty"`
}

// cause is the cause of what a request asks for: the page, and the person
// logged in when there is one ("web user ann"), so that the log and the
// alarm's changed_by say who did it.
func cause(r *http.Request) hearth.Cause {
	if u := currentUser(r); u != "" {
		return hearth.Cause{Source: "web user " + u}
	}
	return hearth.Cause{Source: "web"}
}

// alarmCommand serves POST /api/alarm, {"action":"arm_away","code":"1234"}:
// the command goes to <base>/alarm/set through the Commander, exactly as a
// keypad's would over MQTT, so the alarm checks the code, counts wrong ones
// and refuses codes while locked out as it does for everyone, and its
// state says who acted. The handler then waits for the alarm's answer (its
// new state, saying the command's ref) to say how it went.
func (s *Server) alarmCommand(w http.ResponseWriter, r *http.Request) {
	if s.opts.Commander == nil || s.opts.Stream == nil {
		unavailable(w, "the alarm")
		return
	}
	before, ok := s.opts.Devices.Device(alarmID)
	if !ok {
		writeError(w, http.StatusNotFound, "this hub has no alarm panel: configure one under alarm: in the config file (docs/alarm.md)")
		return
	}
	var req alarmRequest
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, bodyStatus(err), err.Error())
		return
	}
	req.Action = strings.ToLower(strings.TrimSpace(req.Action))
	if !slices.Contains(alarmActions, req.Action) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("action %q: want one of %s", req.Action, strings.Join(alarmActions, ", ")))
		return
	}
	if len(req.Code) > maxAlarmCode {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("the code is longer than %d bytes", maxAlarmCode))
		return
	}
	// The ref tells the alarm's answer from its other publications; the
	// command's sequence number could not, as the alarm may run in another
	// process (--role), which numbers the command its own way.
	ref := rand.Text()
	payload, _ := json.Marshal(alarmPayload{req, ref}) // strings always marshal

	// Subscribe before sending, so that the answer cannot slip by.
	sub := s.opts.Stream.Subscribe("web alarm "+r.RemoteAddr, hearth.MayLag)
	defer sub.Close()
	ev, err := s.opts.Commander.Command(r.Context(), hearth.Command{
		Device: alarmID, Topic: s.opts.BaseTopic + "/" + alarmID + "/set", Payload: payload, Cause: cause(r),
	})
	if err != nil {
		s.commandFailed(w, alarmID, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), alarmWait)
	defer cancel()
	state, err := s.alarmAnswer(ctx, sub, ref)
	if err != nil {
		if r.Context().Err() == nil {
			s.log.Warn("the alarm did not answer", "command", ev.Seq, "err", err)
		}
		writeJSON(w, http.StatusGatewayTimeout, alarmAnswer{Command: ev.Seq,
			Error: fmt.Sprintf("the alarm did not answer within %s: the command is in the log as event %d", alarmWait, ev.Seq)})
		return
	}
	status, out := s.judgeAlarm(req, before.State, state)
	out.Alarm, out.Command = state, ev.Seq
	if out.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(out.RetryAfter))
	}
	writeJSON(w, status, out)
}

// alarmAnswer waits for the alarm's state that answers the command with
// ref: every command the alarm reads ends in a publication saying its ref,
// which the read model takes as the alarm's new state. Waiting for the
// state rather than the publication works wherever the alarm runs: in this
// process (the hub's own publish) or in another (a message through the
// broker), and a client's message on <base>/alarm is never taken for it
// when the alarm runs here.
func (s *Server) alarmAnswer(ctx context.Context, sub *hearth.Subscription, ref string) (map[string]any, error) {
	buf := make([]hearth.Event, streamBatch)
	for {
		evs, err := sub.Read(ctx, buf)
		for _, e := range evs {
			if e.Kind != hearth.KindState || e.Device != alarmID {
				continue
			}
			var st map[string]any
			if json.Unmarshal(e.Payload, &st) == nil && st["ref"] == ref {
				return st, nil
			}
		}
		// A gap may have skipped the answer: keep reading until the wait
		// ends, as the answer may still come.
		if err != nil && !errors.Is(err, hearth.ErrGap) {
			return nil, err
		}
	}
}

// judgeAlarm says what the alarm's answer means for the page: done, a
// wrong code, codes refused for a while, or an arming refused while the
// alarm is pending or triggered. prev is the alarm's state before the
// command, whose count of wrong codes tells a wrong code from a refusal.
func (s *Server) judgeAlarm(req alarmRequest, prev, st map[string]any) (int, alarmAnswer) {
	var out alarmAnswer
	state, _ := st["state"].(string)
	if ok, checked := st["code_ok"].(bool); checked && !ok {
		wrong := count(st["attempts"]) > count(prev["attempts"])
		locked, _ := time.Parse(time.RFC3339, fmt.Sprint(st["locked_until"]))
		if !locked.IsZero() {
			out.RetryAfter = max(1, int(math.Ceil(locked.Sub(s.now()).Seconds())))
		}
		switch {
		case wrong && out.RetryAfter > 0:
			out.Error = fmt.Sprintf("wrong code, and too many in a row: codes are refused for %s", seconds(out.RetryAfter))
			return http.StatusTooManyRequests, out
		case wrong:
			out.Error = "wrong code"
			return http.StatusForbidden, out
		case out.RetryAfter > 0:
			out.Error = fmt.Sprintf("too many wrong codes: codes are refused for another %s", seconds(out.RetryAfter))
			return http.StatusTooManyRequests, out
		case req.Code == "":
			out.Error = "the alarm needs its code"
			return http.StatusForbidden, out
		}
		out.Error = "the alarm refused the code"
		return http.StatusForbidden, out
	}
	if strings.HasPrefix(req.Action, "arm_") && (state == "pending" || state == "triggered") {
		out.Error = fmt.Sprintf("the alarm is %s: disarm it first", state)
		return http.StatusConflict, out
	}
	return http.StatusOK, out
}

// count reads a JSON number as a count, 0 when it is not one.
func count(v any) int {
	n, _ := v.(float64)
	return int(n)
}

// seconds says a number of seconds for people: "30 s", "2 min 5 s".
func seconds(n int) string {
	if n < 60 {
		return fmt.Sprintf("%d s", n)
	}
	if n%60 == 0 {
		return fmt.Sprintf("%d min", n/60)
	}
	return fmt.Sprintf("%d min %d s", n/60, n%60)
}
