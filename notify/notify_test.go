package notify

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"hearth"
)

func TestChannels(t *testing.T) {
	t.Run("the page channel is delivered at once and is a default", func(t *testing.T) {
		bus, log := newBus(t)
		h := newHook(t, nil)
		n := start(t, Options{Channels: []ChannelConfig{webhookChannel("phone", h.srv.URL)}, Events: bus})
		if got := n.Channels(); !slices.Equal(got, []string{"page", "phone"}) {
			t.Errorf("channels %v", got)
		}
		ev, err := n.Notify(context.Background(), hearth.Notification{Message: "hello"})
		if err != nil {
			t.Fatal(err)
		}
		var payload hearth.Notification
		_ = json.Unmarshal(ev.Payload, &payload)
		if !slices.Equal(payload.Channels, []string{"page"}) || payload.Priority != hearth.PriorityNormal {
			t.Errorf("payload %s", ev.Payload)
		}
		// The page's outcome follows its notification at once, in log order.
		evs := log.waitFor(t, "the page's outcome", final(ev.Seq, "page"))
		if got := outcomeText(outcomesOf(evs, ev.Seq, "page")); got != "delivered/1" {
			t.Errorf("page outcomes %s", got)
		}
		if len(h.requests()) != 0 {
			t.Errorf("a webhook that is not a default was posted to")
		}
	})

	t.Run("default channels take the notifications that name none", func(t *testing.T) {
		bus, log := newBus(t)
		h := newHook(t, nil)
		ch := webhookChannel("phone", h.srv.URL)
		ch.Default = true
		n := start(t, Options{Channels: []ChannelConfig{ch, {Name: "page", Page: &PageConfig{}}}, Events: bus})
		if !slices.Equal(n.Channels(), []string{"phone", "page"}) || !slices.Equal(n.Defaults(), []string{"phone"}) {
			t.Errorf("channels %v, defaults %v", n.Channels(), n.Defaults())
		}
		ev, _ := n.Notify(context.Background(), hearth.Notification{Message: "hello"})
		log.waitFor(t, "the delivery", final(ev.Seq, "phone"))
		if len(outcomesOf(log.all(), ev.Seq, "page")) != 0 {
			t.Error("the page, configured as no default, got it")
		}
	})

	t.Run("a notification that cannot be sent is refused and not logged", func(t *testing.T) {
		bus, _ := newBus(t)
		n := start(t, Options{Events: bus})
		for _, bad := range []hearth.Notification{
			{Message: "x", Channels: []string{"pager"}},
			{Message: " "},
			{Message: "x", Priority: "loud"},
		} {
			if _, err := n.Notify(context.Background(), bad); err == nil {
				t.Errorf("%+v was taken", bad)
			}
		}
		if _, err := n.Notify(context.Background(), hearth.Notification{Message: "x", Channels: []string{"pager"}}); err == nil || !strings.Contains(err.Error(), `no channel named "pager" (channels: page)`) {
			t.Errorf("unknown channel: %v", err)
		}
		if next := bus.NextSeq(); next != 1 {
			t.Errorf("%d events were logged", next-1)
		}
	})
}

func TestAFailingChannelHoldsNoOther(t *testing.T) {
	bus, log := newBus(t)
	release := make(chan struct{})
	stuck := newHook(t, func(int, *http.Request) (int, string) {
		<-release
		return http.StatusOK, ""
	})
	defer close(release) // before the servers close (cleanups run after)
	down := webhookChannel("down", "http://"+closedPort(t))
	phone := newHook(t, nil)
	n := start(t, Options{Channels: []ChannelConfig{webhookChannel("stuck", stuck.srv.URL), down, webhookChannel("phone", phone.srv.URL)},
		Events: bus, Sleep: (&sleeps{}).sleep})

	first, err := n.Notify(context.Background(), hearth.Notification{Message: "one", Channels: []string{"stuck", "down", "phone", "page"}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := n.Notify(context.Background(), hearth.Notification{Message: "two", Channels: []string{"stuck", "phone"}})
	if err != nil {
		t.Fatalf("a stuck channel held Notify: %v", err)
	}
	evs := log.waitFor(t, "the other channels' outcomes", func(evs []hearth.Event) bool {
		return final(first.Seq, "down")(evs) && final(first.Seq, "phone")(evs) && final(second.Seq, "phone")(evs)
	})
	if got := outcomeText(outcomesOf(evs, first.Seq, "down")); got != "retrying/1 retrying/2 failed/3" {
		t.Errorf("down: %s", got)
	}
	if len(outcomesOf(evs, first.Seq, "stuck")) != 0 {
		t.Errorf("stuck has an outcome already")
	}
	if got := len(phone.requests()); got != 2 {
		t.Errorf("phone got %d requests", got)
	}
	release <- struct{}{}
	release <- struct{}{}
	log.waitFor(t, "the stuck channel's deliveries", func(evs []hearth.Event) bool {
		return final(first.Seq, "stuck")(evs) && final(second.Seq, "stuck")(evs)
	})
}

func TestClose(t *testing.T) {
	t.Run("closing ends a try and fails what is queued", func(t *testing.T) {
		bus, log := newBus(t)
		entered := make(chan struct{}, 1)
		stuck := newHook(t, func(_ int, r *http.Request) (int, string) {
			entered <- struct{}{}
			<-r.Context().Done()
			return http.StatusOK, ""
		})
		ch := webhookChannel("stuck", stuck.srv.URL)
		n, err := New(Options{Channels: []ChannelConfig{ch}, Events: bus})
		if err != nil {
			t.Fatal(err)
		}
		first, _ := n.Notify(context.Background(), hearth.Notification{Message: "one", Channels: []string{"stuck"}})
		second, _ := n.Notify(context.Background(), hearth.Notification{Message: "two", Channels: []string{"stuck"}})
		<-entered
		n.Close()
		evs := log.waitFor(t, "both failures", func(evs []hearth.Event) bool {
			return final(first.Seq, "stuck")(evs) && final(second.Seq, "stuck")(evs)
		})
		a, b := outcomesOf(evs, first.Seq, "stuck"), outcomesOf(evs, second.Seq, "stuck")
		if a[0].Outcome != hearth.OutcomeFailed || a[0].Error != "the hub stopped during the try" {
			t.Errorf("the notification being tried: %+v", a)
		}
		if b[0].Outcome != hearth.OutcomeFailed || b[0].Error != "the hub stopped before it was sent" {
			t.Errorf("the queued notification: %+v", b)
		}
		if _, err := n.Notify(context.Background(), hearth.Notification{Message: "late"}); !errors.Is(err, ErrClosed) {
			t.Errorf("Notify after Close: %v", err)
		}
	})

	t.Run("a full queue fails the notification at once", func(t *testing.T) {
		bus, log := newBus(t)
		release := make(chan struct{})
		entered := make(chan struct{}, 1)
		stuck := newHook(t, func(int, *http.Request) (int, string) {
			entered <- struct{}{}
			<-release
			return http.StatusOK, ""
		})
		defer close(release)
		ch := webhookChannel("stuck", stuck.srv.URL)
		ch.Queue = 1
		n := start(t, Options{Channels: []ChannelConfig{ch}, Events: bus})
		send := func() hearth.Event {
			ev, _ := n.Notify(context.Background(), hearth.Notification{Message: "x", Channels: []string{"stuck"}})
			return ev
		}
		send() // being sent: the queue is free again once the try has begun
		<-entered
		send()         // queued
		last := send() // one too many
		evs := log.waitFor(t, "the refusal", final(last.Seq, "stuck"))
		if got := outcomesOf(evs, last.Seq, "stuck"); got[0].Error != "1 notifications are already waiting for this channel" {
			t.Errorf("outcome %+v", got)
		}
	})
}

func TestChannelConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  ChannelConfig
		want string
	}{
		{"a channel needs a kind", ChannelConfig{Name: "x"}, "channel x: set exactly one of webhook, email or page"},
		{"a name with a space", ChannelConfig{Name: "my phone", Page: &PageConfig{}}, `name "my phone"`},
		{"a webhook needs a URL", ChannelConfig{Name: "w", Webhook: &WebhookConfig{}}, "want a url"},
		{"a webhook URL must be http", ChannelConfig{Name: "w", Webhook: &WebhookConfig{URL: "ftp://h/secret-token"}}, "webhook url ftp://h/…: want http:// or https://"},
		{"an unknown format", ChannelConfig{Name: "w", Webhook: &WebhookConfig{URL: "http://h", Format: "xml"}}, `format "xml"`},
		{"a missing url_file", ChannelConfig{Name: "w", Webhook: &WebhookConfig{URLFile: "/nonexistent/url"}}, "url_file: open /nonexistent/url"},
		{"an email without recipients or a good sender", ChannelConfig{Name: "m", Email: &EmailConfig{Host: "smtp.example", From: "nobody"}}, `from "nobody"`},
		{"an unknown tls mode", ChannelConfig{Name: "m", Email: &EmailConfig{Host: "smtp.example", TLS: "ssl", From: "a@b", To: []string{"c@d"}}}, `tls "ssl"`},
		{"a password and a password file", ChannelConfig{Name: "m", Email: &EmailConfig{Host: "h", From: "a@b", To: []string{"c@d"}, Username: "u", Password: "hunter2", PasswordFile: "/x"}}, "set one, not both"},
		{"too many tries", ChannelConfig{Name: "p", Page: &PageConfig{}, Tries: 11}, "tries 11"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Options{Channels: []ChannelConfig{tc.cfg}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret-token") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("a secret is in the error: %v", err)
			}
		})
	}

	t.Run("two channels with one name", func(t *testing.T) {
		_, err := New(Options{Channels: []ChannelConfig{webhookChannel("a", "http://h"), webhookChannel("a", "http://i")}})
		if err == nil || !strings.Contains(err.Error(), "channel a: the name is used twice") {
			t.Fatalf("New: %v", err)
		}
	})

	t.Run("the config file's shape reads strictly", func(t *testing.T) {
		src := `
- name: phone
  default: true
  webhook: {url: "https://ntfy.example/house", format: ntfy, headers: {Authorization: "Bearer tk_secret"}}
  tries: 5
  backoff: 2s
  timeout: 5s
- name: mail
  email: {host: smtp.example.com, from: hub@example.com, to: [me@example.com], username: hub, password_file: /etc/hearth/smtp}
- name: page
  page: {}
`
		var got []ChannelConfig
		if err := yaml.UnmarshalWithOptions([]byte(src), &got, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].Kind() != "webhook" || got[0].Webhook.Headers["Authorization"] != "Bearer tk_secret" || got[0].Backoff.String() != "2s" ||
			got[1].Kind() != "email" || got[1].Email.PasswordFile != "/etc/hearth/smtp" || got[2].Kind() != "page" || !got[0].Default {
			t.Errorf("read %+v", got)
		}
		var bad []ChannelConfig
		if err := yaml.UnmarshalWithOptions([]byte("- name: x\n  webhook: {url: http://h, password: p}\n"), &bad, yaml.Strict(), yaml.DisallowUnknownField()); err == nil {
			t.Error("an unknown key was taken")
		}
		out, err := yaml.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "tk_secret") || strings.Contains(string(out), "/house") || !strings.Contains(string(out), "Authorization: (hidden)") {
			t.Errorf("printed:\n%s", out)
		}
	})
}
