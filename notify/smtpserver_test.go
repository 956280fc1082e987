package notify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpServer is a small SMTP server for tests: EHLO, optional STARTTLS or
// TLS from the start, AUTH PLAIN and LOGIN, MAIL, RCPT, DATA, RSET, QUIT.
type smtpServer struct {
	addr     string
	ln       net.Listener
	tls      *tls.Config // STARTTLS is offered when set and not implicit
	implicit bool        // TLS from the first byte
	user     string      // AUTH is offered and required when set
	pass     string
	// reply, when set, may replace the answer to a command (by its
	// upper-case verb and argument) with its own; "" keeps the usual.
	reply func(verb, arg string) string

	mu       sync.Mutex
	msgs     []smtpMessage
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
	shutdown bool
}

// smtpMessage is a mail the server took.
type smtpMessage struct {
	From string
	To   []string
	Data string
	TLS  bool
	User string
}

// startSMTP starts a server on 127.0.0.1; it stops at the end of the test.
func startSMTP(t *testing.T, s *smtpServer) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if s.implicit {
		ln = tls.NewListener(ln, s.tls)
	}
	s.ln, s.addr, s.conns = ln, ln.Addr().String(), map[net.Conn]struct{}{}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

func (s *smtpServer) port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	n := 0
	for _, c := range p {
		n = n*10 + int(c-'0')
	}
	return n
}

func (s *smtpServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.shutdown {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.session(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

func (s *smtpServer) close() {
	s.mu.Lock()
	s.shutdown = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

func (s *smtpServer) messages() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// session speaks SMTP on one connection until QUIT or an error.
func (s *smtpServer) session(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(waitLimit))
	_, secure := c.(*tls.Conn)
	tp := textproto.NewConn(c)
	say := func(lines ...string) bool {
		for _, l := range lines {
			if err := tp.PrintfLine("%s", l); err != nil {
				return false
			}
		}
		return true
	}
	read := func() (string, bool) {
		l, err := tp.ReadLine()
		return l, err == nil
	}
	var msg smtpMessage
	authed := ""
	if !say("220 hearth-test ESMTP") {
		return
	}
	for {
		line, ok := read()
		if !ok {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		if s.reply != nil {
			if r := s.reply(verb, arg); r != "" {
				if !say(r) {
					return
				}
				continue
			}
		}
		switch verb {
		case "EHLO":
			lines := []string{"250-hearth-test"}
			if s.tls != nil && !secure {
				lines = append(lines, "250-STARTTLS")
			}
			if s.user != "" {
				lines = append(lines, "250-AUTH PLAIN LOGIN")
			}
			if !say(append(lines, "250 8BITMIME")...) {
				return
			}
		case "HELO", "NOOP", "RSET":
			msg = smtpMessage{}
			say("250 OK")
		case "STARTTLS":
			if s.tls == nil || secure {
				say("502 5.5.1 not offered")
				continue
			}
			say("220 2.0.0 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, secure = tc, true
			tp = textproto.NewConn(c)
		case "AUTH":
			mech, initial, _ := strings.Cut(arg, " ")
			var user, pass string
			switch strings.ToUpper(mech) {
			case "PLAIN":
				if initial == "" {
					say("334 ")
					if initial, ok = read(); !ok {
						return
					}
				}
				b, _ := base64.StdEncoding.DecodeString(initial)
				parts := strings.Split(string(b), "\x00")
				if len(parts) == 3 {
					user, pass = parts[1], parts[2]
				}
			case "LOGIN":
				say("334 VXNlcm5hbWU6")
				u, _ := read()
				say("334 UGFzc3dvcmQ6")
				p, _ := read()
				ub, _ := base64.StdEncoding.DecodeString(u)
				pb, _ := base64.StdEncoding.DecodeString(p)
				user, pass = string(ub), string(pb)
			default:
				say("504 5.5.4 unknown mechanism")
				continue
			}
			if s.user == "" || user != s.user || pass != s.pass {
				say("535 5.7.8 Authentication credentials invalid")
				continue
			}
			authed = user
			say("235 2.7.0 Authentication successful")
		case "MAIL":
			if s.user != "" && authed == "" {
				say("530 5.7.0 Authentication required")
				continue
			}
			msg = smtpMessage{From: strings.TrimPrefix(arg, "FROM:"), TLS: secure, User: authed}
			msg.From, _, _ = strings.Cut(msg.From, " ")
			say("250 2.1.0 OK")
		case "RCPT":
			msg.To = append(msg.To, strings.TrimPrefix(arg, "TO:"))
			say("250 2.1.5 OK")
		case "DATA":
			say("354 end with .")
			data, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			msg.Data = string(data)
			s.mu.Lock()
			s.msgs = append(s.msgs, msg)
			s.mu.Unlock()
			say("250 2.0.0 queued")
		case "QUIT":
			say("221 2.0.0 bye")
			return
		default:
			say("502 5.5.2 unknown command")
		}
	}
}

// testCert makes a self-signed certificate for 127.0.0.1 and localhost, and
// the path of a PEM file holding it (a ca_file that trusts it).
func testCert(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hearth-test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, writePEM(t, der)
}

// writePEM writes a certificate to a PEM file in the test's folder.
func writePEM(t *testing.T, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeSecret writes a secret to a file, as an operator would.
func writeSecret(t *testing.T, secret string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// closedPort returns 127.0.0.1:port where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
