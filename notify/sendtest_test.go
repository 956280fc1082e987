package notify

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// hubConfig reads the notify section of a hub.yaml, as `hub notify test`
// does.
func hubConfig(t *testing.T, src string) []ChannelConfig {
	t.Helper()
	var cfg struct {
		Notify struct {
			Channels []ChannelConfig `yaml:"channels"`
		} `yaml:"notify"`
	}
	if err := yaml.UnmarshalWithOptions([]byte(src), &cfg, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg.Notify.Channels
}

func TestSendTest(t *testing.T) {
	h := newHook(t, nil)
	closed := closedPort(t)
	channels := hubConfig(t, fmt.Sprintf(`
notify:
  channels:
    - name: phone
      webhook: {url: "%s/hooks/secret-id"}
    - name: old_phone
      webhook: {url: "http://%s/hooks/secret-id"}
    - name: mail
      email: {host: 127.0.0.1, from: hub@example.com, to: [me@example.com], username: hub, password_file: /nonexistent/smtp-password}
`, h.srv.URL, closed))

	cases := []struct {
		name    string
		channel string
		ok      bool
		want    string
	}{
		{"a working webhook is delivered", "phone", true,
			"phone (webhook " + h.srv.URL + "/…): delivered\n"},
		{"an unreachable webhook says what failed", "old_phone", false,
			"old_phone (webhook http://" + closed + "/…): failed: connect: cannot connect to " + closed + ": connection refused (a later try may pass; notifications try this channel 3 times)\n"},
		{"a channel that is not configured is named with those that are", "pager", false,
			`pager: no channel named "pager" (channels: page, phone, old_phone, mail)` + "\n"},
		{"a channel whose config is wrong says why", "mail", false,
			"mail: notify: channel mail: email password_file: open /nonexistent/smtp-password: no such file or directory\n"},
		{"the page has nothing to send", "page", true,
			"page (the hub's page): nothing to send: the page shows the notifications in the hub's log\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := SendTest(context.Background(), channels, tc.channel, &out)
			if (err == nil) != tc.ok {
				t.Errorf("SendTest: %v", err)
			}
			if out.String() != tc.want {
				t.Errorf("printed\n  %q\nwant\n  %q", out.String(), tc.want)
			}
			if strings.Contains(out.String(), "secret-id") {
				t.Errorf("the URL's secret path was printed")
			}
		})
	}
	if reqs := h.requests(); len(reqs) != 1 || !strings.Contains(string(reqs[0].Body), `"title":"Hearth test"`) {
		t.Errorf("the working webhook got %+v", reqs)
	}
}
