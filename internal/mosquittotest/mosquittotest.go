// Package mosquittotest runs Debian's mosquitto for tests: the external
// broker the hub rides on, the peer of its bridges. Each broker has its own
// config file and persistence folder in t.TempDir() and a free loopback
// port, and is stopped by PID when the test ends. When CI=true a missing
// mosquitto fails the test (scripts/test installs it); elsewhere it skips.
package mosquittotest

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wait bounds how long mosquitto may take to listen, or to stop.
const wait = 20 * time.Second

// Broker is a running mosquitto.
type Broker struct {
	// Addr is the plain listener, host:port.
	Addr string

	t      testing.TB
	path   string
	conf   string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Binary finds mosquitto, or skips (fails under CI) without it.
func Binary(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/mosquitto", "mosquitto"} {
		if found, err := exec.LookPath(p); err == nil {
			return found
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("mosquitto is not installed; CI must run the external-broker tests (apt-get install mosquitto)")
	}
	t.Skip("mosquitto is not installed; scripts/test installs it")
	return ""
}

// Start starts mosquitto with persistence, a plain listener on a free
// port, anonymous clients allowed unless extra says otherwise, and extra
// appended to the config (more listeners, TLS files, a password file).
func Start(t testing.TB, extra string) *Broker {
	t.Helper()
	path := Binary(t)
	dir := t.TempDir()
	m := &Broker{t: t, path: path, conf: filepath.Join(dir, "mosquitto.conf"),
		Addr: FreeAddr(t), log: filepath.Join(dir, "mosquitto.log")}
	_, port, _ := net.SplitHostPort(m.Addr)
	var conf strings.Builder
	if os.Geteuid() == 0 {
		conf.WriteString("user root\n") // as root it would switch to user mosquitto, who cannot read t.TempDir()
	}
	fmt.Fprintf(&conf, "persistence true\npersistence_location %s/\n", dir)
	conf.WriteString("log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nconnection_messages true\n")
	if !strings.Contains(extra, "allow_anonymous") {
		conf.WriteString("allow_anonymous true\n")
	}
	fmt.Fprintf(&conf, "listener %s 127.0.0.1\n", port)
	conf.WriteString(extra)
	if err := os.WriteFile(m.conf, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			b, _ := os.ReadFile(m.log)
			t.Logf("mosquitto log:\n%s", b)
		}
	})
	m.Resume()
	return m
}

// URL is the plain listener's mqtt:// URL.
func (m *Broker) URL() string { return "mqtt://" + m.Addr }

// Resume runs mosquitto (again, after Stop: on the same port, with the
// sessions and queued messages it saved) and waits until its plain
// listener accepts.
func (m *Broker) Resume() {
	m.t.Helper()
	logf, err := os.OpenFile(m.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		m.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(m.path, "-c", m.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	m.cmd, m.exited = cmd, exited

	deadline := time.Now().Add(wait) // another process: poll until it listens
	for {
		c, err := net.DialTimeout("tcp", m.Addr, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(m.log)
			m.t.Fatalf("mosquitto exited at start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto does not listen on %s: %v", m.Addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop ends mosquitto by its PID with SIGTERM (it saves its persistence
// file on the way out) and waits for it; it is killed if it lingers.
func (m *Broker) Stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(wait):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	m.cmd = nil
}

// Restart stops mosquitto and starts it again on the same port, with the
// sessions and queued messages it saved.
func (m *Broker) Restart() {
	m.t.Helper()
	m.Stop()
	m.Resume()
}

// FreeAddr returns a loopback address with a port nobody listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// PasswordFile writes a mosquitto password file (PBKDF2-SHA512, the $7$
// format of mosquitto_passwd) for users, for its password_file setting.
func PasswordFile(t testing.TB, users map[string]string) string {
	t.Helper()
	var b strings.Builder
	for user, pw := range users {
		salt := make([]byte, 12)
		_, _ = rand.Read(salt)
		h, err := pbkdf2.Key(sha512.New, pw, salt, 101, 64)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:$7$101$%s$%s\n", user,
			base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(h))
	}
	path := filepath.Join(t.TempDir(), "passwords")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
