package notify

import (
	"context"
	"errors"
	"io"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"

	"hearth"
)

// emailChannel configures a channel to s, trusting its certificate.
func emailChannel(s *smtpServer, mode, caFile string) ChannelConfig {
	return ChannelConfig{Name: "mail", Email: &EmailConfig{
		Host: "127.0.0.1", Port: s.port(), TLS: mode, CAFile: caFile,
		From: "Hearth <hub@home.example>", To: []string{"me@home.example", "you@home.example"},
	}}
}

// readMail parses a message and returns its headers and decoded body.
func readMail(t *testing.T, data string) (mail.Header, string) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("not a mail: %v\n%s", err, data)
	}
	var body io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(m.Body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return m.Header, string(b)
}

func TestEmailDelivery(t *testing.T) {
	serverTLS, caFile := testCert(t)
	const password = "p4ss-w0rd-for-smtp"
	cases := []struct {
		name     string
		implicit bool
		mode     string
	}{
		{"a mail goes through STARTTLS with a password", false, "starttls"},
		{"a mail goes through TLS from the start", true, "tls"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSMTP(t, &smtpServer{tls: serverTLS, implicit: tc.implicit, user: "hub", pass: password})
			bus, log := newBus(t)
			ch := emailChannel(srv, tc.mode, caFile)
			ch.Email.Username, ch.Email.PasswordFile = "hub", writeSecret(t, password)
			n := start(t, Options{Channels: []ChannelConfig{ch}, Events: bus})
			ev, err := n.Notify(context.Background(), hearth.Notification{Title: "Alarm", Message: "Motion in the hall while armed away.\nSecond line.",
				Priority: hearth.PriorityUrgent, Channels: []string{"mail"}, Automation: "alarm", Cause: hearth.Cause{Run: "alarm#4"}})
			if err != nil {
				t.Fatal(err)
			}
			evs := log.waitFor(t, "the delivery", final(ev.Seq, "mail"))
			if got := outcomeText(outcomesOf(evs, ev.Seq, "mail")); got != "delivered/1" {
				t.Fatalf("outcomes %s: %+v", got, outcomesOf(evs, ev.Seq, "mail"))
			}
			msgs := srv.messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages", len(msgs))
			}
			m := msgs[0]
			if m.From != "<hub@home.example>" || strings.Join(m.To, ",") != "<me@home.example>,<you@home.example>" || !m.TLS || m.User != "hub" {
				t.Errorf("envelope %+v", m)
			}
			h, body := readMail(t, m.Data)
			if h.Get("Subject") != "Alarm" || h.Get("Importance") != "urgent" || !strings.Contains(h.Get("From"), "hub@home.example") || h.Get("Date") == "" {
				t.Errorf("headers %v", h)
			}
			if !strings.Contains(body, "Motion in the hall while armed away.\nSecond line.") || !strings.Contains(body, "automation alarm (run alarm#4)") {
				t.Errorf("body %q", body)
			}
		})
	}

	t.Run("a message with no title is sent with its first line as the subject", func(t *testing.T) {
		srv := startSMTP(t, &smtpServer{})
		bus, log := newBus(t)
		n := start(t, Options{Channels: []ChannelConfig{emailChannel(srv, "none", "")}, Events: bus})
		ev, _ := n.Notify(context.Background(), hearth.Notification{Message: "Washing machine done\nbay 2", Channels: []string{"mail"}})
		log.waitFor(t, "the delivery", final(ev.Seq, "mail"))
		if msgs := srv.messages(); len(msgs) != 1 {
			t.Fatalf("%d messages", len(msgs))
		} else if h, _ := readMail(t, msgs[0].Data); h.Get("Subject") != "Washing machine done" {
			t.Errorf("subject %q", h.Get("Subject"))
		}
	})

	t.Run("a reply asking to try later is retried", func(t *testing.T) {
		tries := 0
		srv := startSMTP(t, &smtpServer{reply: func(verb, arg string) string {
			if verb == "MAIL" {
				if tries++; tries == 1 {
					return "451 4.3.0 greylisted, try again later"
				}
			}
			return ""
		}})
		bus, log := newBus(t)
		s := &sleeps{}
		n := start(t, Options{Channels: []ChannelConfig{emailChannel(srv, "none", "")}, Events: bus, Sleep: s.sleep})
		ev, _ := n.Notify(context.Background(), hearth.Notification{Message: "hi", Channels: []string{"mail"}})
		evs := log.waitFor(t, "the delivery", final(ev.Seq, "mail"))
		got := outcomesOf(evs, ev.Seq, "mail")
		if outcomeText(got) != "retrying/1 delivered/2" || got[0].Error != "smtp: MAIL FROM <hub@home.example>: 451 4.3.0 greylisted, try again later" {
			t.Errorf("outcomes %+v", got)
		}
		if len(srv.messages()) != 1 {
			t.Errorf("%d messages", len(srv.messages()))
		}
	})
}

func TestEmailFailuresNameTheirStage(t *testing.T) {
	serverTLS, caFile := testCert(t)
	closed := closedPort(t)
	cases := []struct {
		name      string
		server    *smtpServer // nil: nothing listens
		mode      string
		ca        bool
		password  string
		stage     string
		detail    string
		temporary bool
	}{
		{"a wrong password is an auth failure", &smtpServer{tls: serverTLS, user: "hub", pass: "right"}, "starttls", true, "wrong",
			StageAuth, "AUTH: 535 5.7.8 Authentication credentials invalid", false},
		{"a server without STARTTLS is refused when STARTTLS is asked", &smtpServer{}, "starttls", true, "",
			StageTLS, "does not offer STARTTLS", false},
		{"a certificate nobody vouches for is a TLS failure", &smtpServer{tls: serverTLS}, "starttls", false, "",
			StageTLS, "the server's certificate: x509: certificate signed by unknown authority", false},
		{"TLS from the start against a plain server is a TLS failure", &smtpServer{}, "tls", true, "",
			StageTLS, "does not speak TLS on this port", false},
		{"a refused recipient is named", &smtpServer{reply: func(verb, arg string) string {
			if verb == "RCPT" && strings.Contains(arg, "you@") {
				return "550 5.1.1 no such user"
			}
			return ""
		}}, "none", false, "", StageSMTP, "RCPT TO <you@home.example>: 550 5.1.1 no such user", false},
		{"a login the server does not offer is an auth failure", &smtpServer{}, "none", false, "secret",
			StageAuth, "the server offers no AUTH", false},
		{"nothing listening is a connect failure", nil, "none", false, "",
			StageConnect, "cannot connect to " + closed + ": connection refused", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ch ChannelConfig
			if tc.server != nil {
				tc.server.implicit = tc.mode == "tls" && tc.server.tls != nil
				ch = emailChannel(startSMTP(t, tc.server), tc.mode, "")
			} else {
				ch = ChannelConfig{Name: "mail", Email: &EmailConfig{Host: "127.0.0.1", Port: portOf(closed), TLS: tc.mode, From: "hub@home.example", To: []string{"you@home.example"}}}
			}
			if tc.ca {
				ch.Email.CAFile = caFile
			}
			if tc.password != "" {
				ch.Email.Username, ch.Email.Password = "hub", tc.password
			}
			n := start(t, Options{Channels: []ChannelConfig{ch}})
			err := n.Test(context.Background(), "mail")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Test: %v, want an *Error", err)
			}
			if e.Stage != tc.stage || !strings.Contains(e.Detail, tc.detail) || e.Temporary != tc.temporary {
				t.Errorf("got %q (temporary %v), want stage %s with %q (temporary %v)", e, e.Temporary, tc.stage, tc.detail, tc.temporary)
			}
			if tc.password != "" && strings.Contains(err.Error(), tc.password) {
				t.Errorf("the password is in the error: %v", err)
			}
		})
	}
}

func portOf(addr string) int {
	s := &smtpServer{addr: addr}
	return s.port()
}
