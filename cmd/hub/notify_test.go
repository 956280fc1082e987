package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"hearth/notify"
)

func TestHubNotifyTestSaysWhetherAChannelWorks(t *testing.T) {
	var got []byte
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	defer receiver.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := l.Addr().String()
	l.Close() // nothing listens there now

	config := writeFile(t, "hub.yaml", fmt.Sprintf(`
notify:
  channels:
    - name: phone
      webhook: {url: %s/house}
    - name: gone
      webhook: {url: http://%s/house}
`, receiver.URL, nobody))

	t.Run("a working webhook is delivered", func(t *testing.T) {
		var out, errs bytes.Buffer
		if code := run([]string{"notify", "test", "phone", "--config", config}, &out, &errs); code != 0 {
			t.Fatalf("exit %d: %s%s", code, out.String(), errs.String())
		}
		if !strings.Contains(out.String(), "delivered") || len(got) == 0 {
			t.Fatalf("output %q, webhook got %q", out.String(), got)
		}
	})
	t.Run("an unreachable webhook says why", func(t *testing.T) {
		var out, errs bytes.Buffer
		if code := run([]string{"notify", "test", "gone", "--config", config}, &out, &errs); code != 1 {
			t.Fatalf("exit %d, want 1: %s%s", code, out.String(), errs.String())
		}
		if msg := out.String() + errs.String(); !strings.Contains(msg, "connect") && !strings.Contains(msg, "refused") {
			t.Fatalf("the failure does not say the connection was refused: %q", msg)
		}
	})
}

func TestPageChannels(t *testing.T) {
	hook := &notify.WebhookConfig{URL: "https://example.org/hook"}
	for name, tc := range map[string]struct {
		chans []notify.ChannelConfig
		want  string
	}{
		"the page alone when none is configured":     {nil, "[page]"},
		"a page channel of the config file is added": {[]notify.ChannelConfig{{Name: "wall", Page: &notify.PageConfig{}}, {Name: "phone", Webhook: hook}}, "[page wall]"},
		"a webhook named page takes the name":        {[]notify.ChannelConfig{{Name: "page", Webhook: hook}}, "[]"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := fmt.Sprint(pageChannels(tc.chans)); got != tc.want {
				t.Fatalf("%s, want %s", got, tc.want)
			}
		})
	}
}
