package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"hearth"
)

func TestSecretsAreInNoLogEventOrError(t *testing.T) {
	const (
		pathSecret   = "T000-B000-s3cr3t-path"
		tokenSecret  = "tok-s3cr3t-bearer"
		mailPassword = "smtp-s3cr3t-password"
	)
	secrets := []string{pathSecret, tokenSecret, mailPassword}

	bus, log := newBus(t)
	logger, logs := debugLogger()
	failing := newHook(t, func(int, *http.Request) (int, string) { return http.StatusInternalServerError, "internal error" })
	serverTLS, caFile := testCert(t)
	srv := startSMTP(t, &smtpServer{tls: serverTLS, user: "hub", pass: "another password"})

	withHeader := func(c ChannelConfig) ChannelConfig {
		c.Webhook.Headers = Headers{"Authorization": "Bearer " + tokenSecret}
		return c
	}
	mail := emailChannel(srv, "starttls", caFile)
	mail.Email.Username, mail.Email.PasswordFile = "hub", writeSecret(t, mailPassword)
	urlFile := webhookChannel("from-file", "")
	urlFile.Webhook.URL, urlFile.Webhook.URLFile = "", writeSecret(t, failing.srv.URL+"/hooks/"+pathSecret)
	channels := []ChannelConfig{
		withHeader(webhookChannel("failing", failing.srv.URL+"/hooks/"+pathSecret+"?token="+tokenSecret)),
		withHeader(webhookChannel("refused", "http://"+closedPort(t)+"/hooks/"+pathSecret)),
		withHeader(webhookChannel("unknown", "https://hearth-test.invalid/hooks/"+pathSecret)),
		urlFile,
		mail,
	}
	n := start(t, Options{Channels: channels, Events: bus, Logger: logger, Sleep: (&sleeps{}).sleep})
	for _, c := range channels {
		logger.Info("channel configured", "channel", c) // as the hub logs them: through LogValue
	}

	var names []string
	for _, c := range channels {
		names = append(names, c.Name)
	}
	ev, err := n.Notify(context.Background(), hearth.Notification{Message: "hello", Channels: names})
	if err != nil {
		t.Fatal(err)
	}
	evs := log.waitFor(t, "every channel's last outcome", func(evs []hearth.Event) bool {
		for _, c := range names {
			if !final(ev.Seq, c)(evs) {
				return false
			}
		}
		return true
	})
	var texts []string
	for _, c := range names {
		outs := outcomesOf(evs, ev.Seq, c)
		if last := outs[len(outs)-1]; last.Outcome != hearth.OutcomeFailed || last.Error == "" {
			t.Errorf("%s: %+v", c, last)
		}
		if err := n.Test(context.Background(), c); err == nil {
			t.Errorf("%s passed its test", c)
		} else {
			texts = append(texts, err.Error())
		}
	}
	js, _ := json.Marshal(evs)
	texts = append(texts, string(js), logs.String())
	for _, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("the secret %q is in:\n%s", s, text)
			}
		}
	}
	if !strings.Contains(logs.String(), "url=http://127.0.0.1") || !strings.Contains(logs.String(), "password=true") {
		t.Errorf("the channels were not logged at all:\n%s", logs)
	}
}
