package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"hearth"
)

// email sends a notification through an SMTP server. go-mail's smtp client
// speaks the protocol and its Msg writes the message; the steps are driven
// here so that a failure names its stage (DNS, connect, TLS, auth, which
// SMTP command).
type email struct {
	cfg     EmailConfig
	tls     *tls.Config
	helo    string
	timeout time.Duration
	now     func() time.Time
}

func newEmail(c ChannelConfig, now func() time.Time) (*email, error) {
	e := &email{cfg: *c.Email, timeout: c.Timeout, now: now, helo: "localhost"}
	if c.Email.TLS != "none" {
		cfg, err := tlsConfig(c.Email.Host, c.Email.CAFile)
		if err != nil {
			return nil, err
		}
		e.tls = cfg
	}
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		e.helo = h
	}
	return e, nil
}

// send delivers m in one SMTP session.
func (e *email) send(ctx context.Context, m message) (err error) {
	addr := e.cfg.addr()
	msg, err := e.compose(m)
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return netError(err, addr, e.timeout)
	}
	defer conn.Close()
	// Every read and write ends by the try's deadline, and at once when the
	// hub stops.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(stage, step string, err error) error {
		if ctx.Err() != nil {
			return netError(ctx.Err(), addr, e.timeout)
		}
		return smtpError(stage, step, err, addr, e.timeout)
	}

	if e.cfg.TLS == "tls" {
		tc := tls.Client(conn, e.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(StageTLS, "handshake", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, e.cfg.Host)
	if err != nil {
		return fail(StageSMTP, "greeting", err)
	}
	defer c.Close()
	if err := c.Hello(e.helo); err != nil {
		return fail(StageSMTP, "EHLO", err)
	}
	if e.cfg.TLS == "starttls" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return &Error{Stage: StageTLS, Detail: fmt.Sprintf("%s does not offer STARTTLS (tls: none sends in the clear; port 465 wants tls: tls)", addr)}
		}
		if err := c.StartTLS(e.tls); err != nil {
			return fail(StageTLS, "STARTTLS", err)
		}
	}
	if e.cfg.Username != "" {
		if err := e.auth(c); err != nil {
			return fail(StageAuth, "AUTH", err)
		}
	}
	from, _ := msg.GetSender(false)
	if err := c.Mail(from); err != nil {
		return fail(StageSMTP, "MAIL FROM "+from, err)
	}
	rcpts, _ := msg.GetRecipients()
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			return fail(StageSMTP, "RCPT TO "+r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fail(StageSMTP, "DATA", err)
	}
	if _, err := msg.WriteTo(w); err != nil {
		return fail(StageSMTP, "DATA", err)
	}
	if err := w.Close(); err != nil {
		return fail(StageSMTP, "end of DATA", err)
	}
	_ = c.Quit() // the message is taken; a failed goodbye changes nothing
	return nil
}

// auth logs in with the first mechanism the server offers of PLAIN, LOGIN
// and CRAM-MD5. PLAIN and LOGIN refuse to send the password without TLS,
// except to localhost.
func (e *email) auth(c *smtp.Client) error {
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return errors.New("the server offers no AUTH: remove username and password, or use another port")
	}
	offered := strings.Fields(strings.ToUpper(mechs))
	has := func(m string) bool {
		for _, o := range offered {
			if o == m {
				return true
			}
		}
		return false
	}
	var a smtp.Auth
	switch {
	case has("PLAIN"):
		a = smtp.PlainAuth("", e.cfg.Username, e.cfg.Password, e.cfg.Host, false)
	case has("LOGIN"):
		a = smtp.LoginAuth(e.cfg.Username, e.cfg.Password, e.cfg.Host, false)
	case has("CRAM-MD5"):
		a = smtp.CRAMMD5Auth(e.cfg.Username, e.cfg.Password)
	default:
		return fmt.Errorf("the server offers %s; the hub speaks PLAIN, LOGIN and CRAM-MD5", mechs)
	}
	err := c.Auth(a)
	if errors.Is(err, smtp.ErrUnencrypted) {
		return errors.New("refusing to send the password without TLS (use tls: starttls or tls)")
	}
	return err
}

// importance maps priorities onto the mail headers that say them.
var importance = map[hearth.Priority]mail.Importance{
	hearth.PriorityLow: mail.ImportanceLow, hearth.PriorityNormal: mail.ImportanceNormal,
	hearth.PriorityHigh: mail.ImportanceHigh, hearth.PriorityUrgent: mail.ImportanceUrgent,
}

// compose writes m as a plain-text mail.
func (e *email) compose(m message) (*mail.Msg, error) {
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := msg.From(e.cfg.From); err != nil {
		return nil, &Error{Stage: StageConfig, Detail: "from: " + err.Error()}
	}
	if err := msg.To(e.cfg.To...); err != nil {
		return nil, &Error{Stage: StageConfig, Detail: "to: " + err.Error()}
	}
	subject := m.Title
	if subject == "" {
		subject, _, _ = strings.Cut(m.Message, "\n")
		if r := []rune(subject); len(r) > 70 {
			subject = string(r[:70]) + "…"
		}
	}
	msg.Subject(subject)
	msg.SetDateWithValue(e.now())
	msg.SetMessageID()
	msg.SetUserAgent("Hearth")
	msg.SetImportance(importance[m.Priority])
	body := m.Message + "\n\n-- \n" + footer(m)
	msg.SetBodyString(mail.TypeTextPlain, body)
	return msg, nil
}

// footer says where a notification came from.
func footer(m message) string {
	var b strings.Builder
	b.WriteString("Sent by Hearth")
	if m.Automation != "" {
		fmt.Fprintf(&b, ", automation %s", m.Automation)
	}
	if m.Run != "" {
		fmt.Fprintf(&b, " (run %s)", m.Run)
	}
	if !m.Time.IsZero() {
		fmt.Fprintf(&b, ", at %s", m.Time.Format("2006-01-02 15:04:05 MST"))
	}
	b.WriteString(".")
	return b.String()
}

func (e *email) String() string { return "email " + e.cfg.addr() }

func (e *email) close() {}
