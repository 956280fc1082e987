package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"hearth"
)

// notifyTopic is the topic of a notification's event; its outcomes are on
// notifyTopic/<channel>.
const notifyTopic = "$hearth/notify"

// The page sizes of GET /api/notifications: a larger limit is clamped.
const (
	defaultNotificationsLimit = 30
	maxNotificationsLimit     = 200
)

// notificationScan bounds how many notifications one request reads from
// the log to fill its page with those sent to the page.
const notificationScan = 2000

// notificationJSON is a notification as the page lists it.
type notificationJSON struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	hearth.Notification
}

// notificationsBody is the answer of GET /api/notifications.
type notificationsBody struct {
	// Channels are the page's channels: a notification on the live stream
	// is the page's when it names one of them.
	Channels []string `json:"channels"`
	// Notifications are the newest first.
	Notifications []notificationJSON `json:"notifications"`
	// More says that older ones may follow (?before= the last seq).
	More bool `json:"more"`
}

// pageChannels are the notification channels that show on the page.
func (s *Server) pageChannels() []string {
	if len(s.opts.PageChannels) == 0 {
		return []string{"page"}
	}
	return s.opts.PageChannels
}

// listNotifications serves GET /api/notifications?limit=&before=: the
// notifications sent to the page, newest first, from the log, so that a
// page opened again shows those it missed.
func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request) {
	if s.opts.Log == nil {
		unavailable(w, "the event log")
		return
	}
	limit, before, err := parseNotificationsQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if before == 0 && s.opts.Stream != nil {
		// The log commits a moment behind the stream: wait for what the
		// stream has carried so far, so that a page that reads this after
		// its stream said hello misses nothing in between.
		wctx, cancel := context.WithTimeout(r.Context(), replayWait)
		err := s.opts.Stream.WaitDurable(wctx, s.opts.Stream.NextSeq()-1)
		cancel()
		if err != nil {
			s.log.Debug("notifications: log behind the stream", "err", err)
		}
	}
	channels := s.pageChannels()
	out := notificationsBody{Channels: channels, Notifications: []notificationJSON{}}
	const batch = 200
	for scanned := 0; scanned < notificationScan; scanned += batch {
		evs, err := s.opts.Log.Events(r.Context(), hearth.EventQuery{Kind: hearth.KindNotification, Topic: notifyTopic, Before: before, Limit: batch})
		if err != nil {
			s.log.Error("read notifications", "err", err)
			writeError(w, http.StatusInternalServerError, "could not read the event log")
			return
		}
		for _, e := range evs {
			before = e.Seq
			var n hearth.Notification
			if json.Unmarshal(e.Payload, &n) != nil || !slices.ContainsFunc(n.Channels, func(c string) bool { return slices.Contains(channels, c) }) {
				continue
			}
			if len(out.Notifications) == limit {
				out.More = true
				writeJSON(w, http.StatusOK, out)
				return
			}
			out.Notifications = append(out.Notifications, notificationJSON{Seq: e.Seq, Time: e.Time, Notification: n})
		}
		if len(evs) < batch {
			break
		}
		// The scan stopped short of the log's start: older ones may follow.
		out.More = scanned+batch >= notificationScan
	}
	writeJSON(w, http.StatusOK, out)
}

// parseNotificationsQuery reads ?limit=&before= and says which is wrong.
func parseNotificationsQuery(r *http.Request) (limit int, before uint64, err error) {
	v := r.URL.Query()
	limit = defaultNotificationsLimit
	if x := v.Get("limit"); x != "" {
		n, err := strconv.ParseUint(x, 10, 64)
		if err != nil || n == 0 {
			return 0, 0, fmt.Errorf("limit %q: want a whole number above 0 (at most %d are returned)", x, maxNotificationsLimit)
		}
		limit = int(min(n, maxNotificationsLimit))
	}
	if x := v.Get("before"); x != "" {
		n, err := strconv.ParseUint(x, 10, 64)
		if err != nil || n == 0 {
			return 0, 0, fmt.Errorf("before %q: want a sequence number above 0", x)
		}
		before = n
	}
	return limit, before, nil
}
