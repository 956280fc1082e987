package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"time"
)

// ErrClosed is returned by Notify once the notifier is closed.
var ErrClosed = errors.New("notifier closed")

// The stages a try can fail at, as Error.Stage names them.
const (
	StageConfig  = "config"  // the channel's configuration
	StageDNS     = "dns"     // the server's name did not resolve
	StageConnect = "connect" // no TCP connection
	StageTLS     = "tls"     // the TLS handshake or certificate
	StageTimeout = "timeout" // no answer in time
	StageAuth    = "auth"    // the server refused the user name or password
	StageHTTP    = "http"    // the webhook answered with a status other than 2xx
	StageSMTP    = "smtp"    // the mail server refused a command
	StageStopped = "stopped" // the hub stopped during the try
)

// Error is a failed try to deliver through a channel: the stage that failed
// and what the other side said. It holds no secret (no password, header
// value or URL path).
type Error struct {
	// Stage is one of the Stage constants.
	Stage string
	// Detail says what happened at that stage.
	Detail string
	// Temporary reports whether another try may succeed.
	Temporary bool
	// RetryAfter is how long the server asked to wait (HTTP Retry-After).
	RetryAfter time.Duration
	err        error
}

// Error reads "stage: detail".
func (e *Error) Error() string { return e.Stage + ": " + e.Detail }

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.err }

// netError classifies an error of dialing or talking to addr (host:port),
// for a try bounded by timeout. The error's text never repeats a URL.
func netError(err error, addr string, timeout time.Duration) *Error {
	var de *Error
	if errors.As(err, &de) {
		return de
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // url.Error repeats the URL, which may be a secret
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		detail := fmt.Sprintf("cannot resolve %s: %s", dnsErr.Name, dnsErr.Err)
		return &Error{Stage: StageDNS, Detail: detail, Temporary: true, err: err}
	}
	if e := tlsError(err); e != nil {
		return e
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") { // net/http's words, not a type
		return &Error{Stage: StageTLS, Detail: "the server speaks plain HTTP on this port (use http://)", err: err}
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Stage: StageStopped, Detail: "the hub stopped", err: err}
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return &Error{Stage: StageConnect, Detail: fmt.Sprintf("cannot connect to %s: %s", addr, innermost(op.Err)), Temporary: true, err: err}
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &Error{Stage: StageTimeout, Detail: fmt.Sprintf("no answer from %s within %v", addr, timeout), Temporary: true, err: err}
	}
	return &Error{Stage: StageConnect, Detail: fmt.Sprintf("%s: %s", addr, innermost(err)), Temporary: true, err: err}
}

// tlsError classifies a failed handshake: a certificate that is not
// trusted will not be trusted on the next try either.
func tlsError(err error) *Error {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		header   tls.RecordHeaderError
		alert    tls.AlertError
	)
	switch {
	case errors.As(err, &verify):
		return &Error{Stage: StageTLS, Detail: "the server's certificate: " + verify.Err.Error(), err: err}
	case errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid):
		return &Error{Stage: StageTLS, Detail: "the server's certificate: " + innermost(err), err: err}
	case errors.As(err, &header):
		return &Error{Stage: StageTLS, Detail: "the server does not speak TLS on this port (" + header.Msg + ")", err: err}
	case errors.As(err, &alert):
		return &Error{Stage: StageTLS, Detail: "the server refused the handshake: " + alert.Error(), err: err}
	}
	return nil
}

// smtpError classifies an SMTP reply or failure during step ("MAIL FROM",
// "RCPT TO <a@b>"): 4xx replies are temporary, 5xx are not.
func smtpError(stage, step string, err error, addr string, timeout time.Duration) *Error {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return &Error{Stage: stage, Detail: fmt.Sprintf("%s: %d %s", step, tp.Code, oneLine(tp.Msg)), Temporary: tp.Code >= 400 && tp.Code < 500, err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || tlsError(err) != nil {
		e := netError(err, addr, timeout)
		if e.Stage == StageConnect { // the connection broke during a step
			return &Error{Stage: e.Stage, Detail: fmt.Sprintf("%s: %s: the connection broke: %s", step, addr, innermost(err)), Temporary: true, err: err}
		}
		return e
	}
	return &Error{Stage: stage, Detail: step + ": " + oneLine(err.Error()), err: err}
}

// innermost is the text of the deepest error: "connection refused" rather
// than "dial tcp 127.0.0.1:9: connect: connection refused".
func innermost(err error) string {
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		return sys.Err.Error()
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// oneLine joins a multi-line reply and cuts it to a readable length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}
