package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"hearth"
)

// webhook POSTs a notification to a URL.
type webhook struct {
	url     string
	addr    string // host:port, for errors (the URL may be a secret)
	format  string
	headers Headers
	client  *http.Client
	timeout time.Duration
}

// maxRetryAfter caps how long a server's Retry-After may hold a channel.
const maxRetryAfter = time.Minute

func newWebhook(c ChannelConfig, client *http.Client) (*webhook, error) {
	w := c.Webhook
	u, err := url.Parse(w.URL)
	if err != nil {
		return nil, errors.New("webhook url: not a URL") // checked before: unreachable
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if w.CAFile != "" {
		cfg, err := tlsConfig(u.Hostname(), w.CAFile)
		if err != nil {
			return nil, err
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg
		client = &http.Client{Transport: tr}
	}
	// A webhook that moved is a configuration to fix, not a redirect to
	// follow: a POST followed through a 301 would arrive as a GET.
	c2 := *client
	c2.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &webhook{url: w.URL, addr: net.JoinHostPort(u.Hostname(), port), format: w.Format, headers: w.Headers, client: &c2, timeout: c.Timeout}, nil
}

// webhookBody is the JSON a json-format webhook receives.
type webhookBody struct {
	Title      string          `json:"title,omitempty"`
	Message    string          `json:"message"`
	Priority   hearth.Priority `json:"priority"`
	Automation string          `json:"automation,omitempty"`
	Run        string          `json:"run,omitempty"`
	Time       time.Time       `json:"time"`
	Seq        uint64          `json:"seq,omitempty"`
}

// ntfyPriority maps priorities onto ntfy's 1 (min) to 5 (max).
var ntfyPriority = map[hearth.Priority]string{
	hearth.PriorityLow: "2", hearth.PriorityNormal: "3", hearth.PriorityHigh: "4", hearth.PriorityUrgent: "5",
}

// request builds the body and content type of m in the webhook's format.
func (w *webhook) request(ctx context.Context, m message) (*http.Request, error) {
	var body []byte
	ctype := "application/json"
	extra := http.Header{}
	switch w.format {
	case "slack":
		text := slackEscape(m.Message)
		if m.Title != "" {
			text = "*" + slackEscape(m.Title) + "*\n" + text
		}
		body, _ = json.Marshal(map[string]string{"text": text}) // strings always marshal
	case "ntfy":
		body, ctype = []byte(m.Message), "text/plain; charset=utf-8"
		if m.Title != "" {
			extra.Set("Title", mime.QEncoding.Encode("utf-8", m.Title))
		}
		extra.Set("Priority", ntfyPriority[m.Priority])
	default:
		body, _ = json.Marshal(webhookBody{Title: m.Title, Message: m.Message, Priority: m.Priority,
			Automation: m.Automation, Run: m.Run, Time: m.Time, Seq: m.Seq})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Stage: StageConfig, Detail: "the url does not make a request"}
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "Hearth")
	for k, v := range extra {
		req.Header[k] = v
	}
	for k, v := range w.headers {
		req.Header.Set(k, v)
	}
	return req, nil
}

// send POSTs m once; a 2xx answer is delivered.
func (w *webhook) send(ctx context.Context, m message) error {
	req, err := w.request(ctx, m)
	if err != nil {
		return err
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return netError(err, w.addr, w.timeout)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
		return nil
	}
	return statusError(resp)
}

// statusError describes an answer other than 2xx with an excerpt of its
// body: 5xx, 408, 425 and 429 may pass on a later try, other 4xx and 3xx
// will not.
func statusError(resp *http.Response) *Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	detail := resp.Status
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if loc := resp.Header.Get("Location"); loc != "" {
			detail += ": the webhook moved to " + redactURL(loc) + " (change the url)"
		}
	} else if excerpt := oneLine(string(b)); excerpt != "" {
		detail += ": " + excerpt
	}
	code := resp.StatusCode
	e := &Error{Stage: StageHTTP, Detail: detail, Temporary: code >= 500 || code == 408 || code == 425 || code == 429}
	if s := resp.Header.Get("Retry-After"); s != "" && e.Temporary {
		if secs, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && secs > 0 {
			e.RetryAfter = min(time.Duration(secs)*time.Second, maxRetryAfter)
		} else if t, err := http.ParseTime(s); err == nil {
			e.RetryAfter = min(max(time.Until(t), 0), maxRetryAfter)
		}
	}
	return e
}

// slackEscape escapes the three characters Slack's mrkdwn reads as markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func (w *webhook) String() string { return fmt.Sprintf("webhook %s", w.addr) }

func (w *webhook) close() { w.client.CloseIdleConnections() }
