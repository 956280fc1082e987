package hearth

import "time"

// Priority says how urgently a notification should reach people; channels
// that know priorities (ntfy, email's Importance) pass it on.
type Priority string

// The priorities of a notification, from the lowest.
const (
	PriorityLow    Priority = "low"
	PriorityNormal Priority = "normal"
	PriorityHigh   Priority = "high"
	PriorityUrgent Priority = "urgent"
)

// Priorities lists the priorities from the lowest.
func Priorities() []Priority {
	return []Priority{PriorityLow, PriorityNormal, PriorityHigh, PriorityUrgent}
}

// Valid reports whether p is one of the known priorities.
func (p Priority) Valid() bool {
	switch p {
	case PriorityLow, PriorityNormal, PriorityHigh, PriorityUrgent:
		return true
	}
	return false
}

// Notification is a message for people, sent through channels (the page,
// a webhook, email). Its JSON is the payload of its KindNotification event.
type Notification struct {
	// Title is the short line shown first; it may be empty.
	Title string `json:"title,omitempty"`
	// Message is the text.
	Message string `json:"message"`
	// Priority is low, normal, high or urgent; normal when empty.
	Priority Priority `json:"priority"`
	// Channels name the channels to send it through; the default channels
	// when empty.
	Channels []string `json:"channels"`
	// Automation is the id of the automation that sent it, if any.
	Automation string `json:"automation,omitempty"`
	// Run names the automation run that sent it; the notifier fills it in
	// from Cause.Run.
	Run string `json:"run,omitempty"`
	// Cause is the cause of its event: the run and the event that
	// triggered it.
	Cause Cause `json:"-"`
}

// The outcomes of a notification's delivery through one channel.
const (
	// OutcomeDelivered: the channel accepted it (the webhook answered 2xx,
	// the mail server took the message, the page has it in the log).
	OutcomeDelivered = "delivered"
	// OutcomeRetrying: a try failed and another follows at RetryAt.
	OutcomeRetrying = "retrying"
	// OutcomeFailed: the channel did not take it and no try follows.
	OutcomeFailed = "failed"
)

// NotificationOutcome is what became of a notification in one channel: the
// payload of a KindNotification event whose cause.seq is the notification's.
// A channel's last outcome is delivered or failed; retrying ones come before.
type NotificationOutcome struct {
	// Channel names the channel.
	Channel string `json:"channel"`
	// Outcome is delivered, retrying or failed.
	Outcome string `json:"outcome"`
	// Attempt counts the tries, from 1.
	Attempt int `json:"attempt"`
	// Error says what failed (no secrets: no password, token or URL path).
	Error string `json:"error,omitempty"`
	// RetryAt is when the next try starts, for a retrying outcome.
	RetryAt time.Time `json:"retry_at,omitzero"`
}
