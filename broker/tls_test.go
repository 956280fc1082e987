package broker

import (
	"bufio"
	"crypto/tls"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	"hearth/internal/pkitest"
)

// tlsHub starts a broker with a TLS listener whose certificate a test CA
// signed, and returns it with the client configuration that trusts it.
func tlsHub(t *testing.T, cfg Config, setup func(*Broker)) (*hub, *pkitest.CA, *tls.Config) {
	t.Helper()
	ca := pkitest.NewCA(t, "hearth-test-ca")
	cert, key := ca.Issue("broker", true)
	cfg.TLS.Addr, cfg.TLS.CertFile, cfg.TLS.KeyFile = "127.0.0.1:0", cert, key
	h := startHubWith(t, cfg, true, setup)
	return h, ca, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

func withTLS(c *tls.Config) func(*paho.ClientOptions) {
	return func(o *paho.ClientOptions) { o.SetTLSConfig(c) }
}

func TestTLS(t *testing.T) {
	t.Run("a paho client connects over TLS with a password and publishes", func(t *testing.T) {
		file := writeUsers(t, UsersFile{Users: []User{testUser(t, "lamp", "readwrite:home/%u/#", "write:home/%u")}})
		h, _, clientTLS := tlsHub(t, Config{UsersFile: file}, beyondLoopback)
		r := newReader(t, h.bus)
		c := mustDial(t, "ssl://"+h.TLSAddr().String(), "lamp", as("lamp"), withTLS(clientTLS))
		publish(t, c, "home/lamp", 1, []byte(`{"state":"ON"}`))
		checkMessage(t, r.next(), "home/lamp", `{"state":"ON"}`, 1, "lamp")
	})

	t.Run("a client that does not trust the broker's certificate cannot connect", func(t *testing.T) {
		h, _, _ := tlsHub(t, Config{}, nil)
		other := pkitest.NewCA(t, "someone-else").Pool()
		if _, err := dialPaho(t, "ssl://"+h.TLSAddr().String(), "x", withTLS(&tls.Config{RootCAs: other, ServerName: "127.0.0.1"})); err == nil {
			t.Fatal("connected through a certificate it does not trust")
		}
	})

	t.Run("with a client CA, a client needs a certificate, which is its login", func(t *testing.T) {
		file := writeUsers(t, UsersFile{Users: []User{testUser(t, "lamp", "readwrite:#")}})
		clientCA := pkitest.NewCA(t, "devices-ca")
		h, _, clientTLS := tlsHub(t, Config{UsersFile: file, TLS: TLSConfig{ClientCAFile: clientCA.File}}, beyondLoopback)
		url := "ssl://" + h.TLSAddr().String()

		if _, err := dialPaho(t, url, "no-cert", as("lamp"), withTLS(clientTLS)); err == nil {
			t.Fatal("a client without a certificate got in")
		}
		certFile, keyFile := clientCA.Issue("sensor", false)
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		withCert := clientTLS.Clone()
		withCert.Certificates = []tls.Certificate{cert}
		r := newReader(t, h.bus)
		c := mustDial(t, url, "sensor", withTLS(withCert)) // no user name: the certificate logs it in
		publish(t, c, "home/sensor", 1, []byte("21.5"))
		checkMessage(t, r.next(), "home/sensor", "21.5", 1, "sensor")

		// The certificate does not open the plain listener.
		if _, err := dialPaho(t, "tcp://"+h.addr, "sensor-plain"); err == nil {
			t.Fatal("an anonymous client got in over plain TCP")
		}
	})

	t.Run("the guard checks packets inside TLS", func(t *testing.T) {
		h, _, clientTLS := tlsHub(t, Config{}, nil)
		pub := mustDial(t, "tcp://"+h.addr, "pub")
		tc, err := tls.Dial("tcp", h.TLSAddr().String(), clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tc.Close() })
		c := &raw{t: t, conn: tc, br: bufio.NewReader(tc), version: 4}
		c.connect(5, "attacker", 30)
		c.write(issue501)
		if got := c.expectClosed(); len(got) > 0 {
			t.Fatalf("broker answered the malformed SUBSCRIBE with %v", got)
		}
		publish(t, pub, "home/after", 1, []byte("alive"))
	})
}
