package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"hearth"

	"hearth/internal/mosquittotest"
	"hearth/internal/pkitest"
)

func TestRemoteTLS(t *testing.T) {
	ca := pkitest.NewCA(t, "hearth-test-ca")
	serverCert, serverKey := ca.Issue("mosquitto", true)
	clientCert, clientKey := ca.Issue("hub", false)
	other := pkitest.NewCA(t, "someone-else")
	tlsAddr := mosquittotest.FreeAddr(t)
	_, tlsPort, _ := strings.Cut(tlsAddr, ":")
	m := mosquittotest.Start(t, fmt.Sprintf("listener %s 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\n",
		tlsPort, ca.File, serverCert, serverKey))

	for _, tc := range []struct {
		name           string
		ca, cert, key  string
		wantErr        string
		wantConnection bool
	}{
		{"a broker whose certificate the CA signed is trusted and the hub shows its own", ca.File, clientCert, clientKey, "", true},
		{"a broker signed by another CA is refused at once", other.File, clientCert, clientKey, "certificate", false},
		{"a hub without the certificate the broker asks for is refused at once", ca.File, "", "", "tls", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bus := newBus(t, true)
			r := newReader(t, bus)
			cfg := remoteConfig("mqtts://"+tlsAddr, "hub-tls")
			cfg.CAFile, cfg.CertFile, cfg.KeyFile = tc.ca, tc.cert, tc.key
			if !tc.wantConnection {
				_, cfg.Logger = newTestLog(t)
				hub, err := NewRemote(cfg, bus)
				if err != nil {
					t.Fatalf("NewRemote: %v", err)
				}
				// Far longer than a refusal takes; a retry loop would use it all.
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				err = hub.Start(ctx)
				if err == nil || ctx.Err() != nil || !strings.Contains(strings.ToLower(err.Error()), tc.wantErr) {
					t.Fatalf("Start: %v; want a refusal mentioning %q before the deadline", err, tc.wantErr)
				}
				_ = hub.Close()
				return
			}
			hub := startRemote(t, cfg, bus)
			sensor := pahoClient(t, m.Addr, "sensor", nil)
			publish(t, sensor, "home/sensor", 1, []byte("over TLS"))
			checkMessage(t, r.next(), "home/sensor", "over TLS", 1, "")

			got := subscribe(t, sensor, "home/lamp/set", 1)
			if _, err := hub.Command(context.Background(), hearth.Command{Topic: "home/lamp/set", Payload: []byte("ON"), QoS: 1}); err != nil {
				t.Fatalf("Command: %v", err)
			}
			if msg := receive(t, got); msg.payload != "ON" {
				t.Fatalf("device received %+v", msg)
			}
		})
	}
}

func TestRemoteAuthentication(t *testing.T) {
	const secret = "correct horse battery staple"
	pw := mosquittotest.PasswordFile(t, map[string]string{"hub": secret})
	m := mosquittotest.Start(t, fmt.Sprintf("allow_anonymous false\npassword_file %s\n", pw))

	t.Run("a password read from a file lets the hub in and is never logged", func(t *testing.T) {
		logs, log := newTestLog(t)
		bus := newBus(t, true)
		cfg := remoteConfig(m.URL(), "hub-auth")
		cfg.Username = "hub"
		cfg.PasswordFile = writeFile(t, "password", []byte(secret+"\n"))
		cfg.Logger = log
		hub := startRemote(t, cfg, bus)
		if !hub.Connected() {
			t.Fatal("not connected")
		}
		_ = hub.Close()
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the password is in the logs:\n%s", logs)
		}
	})

	t.Run("a wrong password is refused at once", func(t *testing.T) {
		logs, log := newTestLog(t)
		bus := newBus(t, true)
		cfg := remoteConfig(m.URL(), "hub-auth")
		cfg.Username, cfg.Password, cfg.Logger = "hub", "wrong password", log
		hub, err := NewRemote(cfg, bus)
		if err != nil {
			t.Fatalf("NewRemote: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		err = hub.Start(ctx)
		if err == nil || ctx.Err() != nil {
			t.Fatalf("Start: %v; want a refusal before the deadline", err)
		}
		_ = hub.Close()
		if strings.Contains(logs.String()+err.Error(), "wrong password") {
			t.Fatalf("the password is in the logs or the error: %v\n%s", err, logs)
		}
	})
}

func TestRemoteStartGivesUpWithItsContext(t *testing.T) {
	bus := newBus(t, true)
	cfg := remoteConfig("mqtt://"+mosquittotest.FreeAddr(t), "hub")
	_, cfg.Logger = newTestLog(t)
	hub, err := NewRemote(cfg, bus)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := hub.Start(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start on a closed port: %v, want the context's deadline", err)
	}
	_ = hub.Close()
	if _, err := hub.Command(context.Background(), hearth.Command{Topic: "home/x/set"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Command after a failed start: %v, want ErrClosed", err)
	}
}

func TestRemoteConfig(t *testing.T) {
	bus := newBus(t, false)
	for _, tc := range []struct {
		name string
		cfg  RemoteConfig
		want string
	}{
		{"an unknown scheme is refused", RemoteConfig{Endpoint: Endpoint{URL: "http://broker:1883"}}, "want mqtt://"},
		{"credentials in the URL are refused without repeating them", RemoteConfig{Endpoint: Endpoint{URL: "mqtt://hub:s3cret@broker"}}, "not in the URL"},
		{"a URL without a host is refused", RemoteConfig{Endpoint: Endpoint{URL: "mqtt://:1883"}}, "no host"},
		{"a password and a password file together are refused", RemoteConfig{Endpoint: Endpoint{URL: "mqtt://b", Username: "u", Password: "p", PasswordFile: "f"}}, "not both"},
		{"a password without a username is refused", RemoteConfig{Endpoint: Endpoint{URL: "mqtt://b", Password: "p"}}, "without a username"},
		{"a CA file without TLS is refused", RemoteConfig{Endpoint: Endpoint{URL: "mqtt://b", CAFile: "ca.pem"}}, "mqtts://"},
		{"a certificate without its key is refused", RemoteConfig{Endpoint: Endpoint{URL: "mqtts://b", CertFile: "c.pem"}}, "both or neither"},
		{"a malformed filter is refused", RemoteConfig{Endpoint: Endpoint{URL: "mqtt://b"}, Filters: []string{"home/#/x"}}, "filter"},
		{"a group with a slash is refused", RemoteConfig{Endpoint: Endpoint{URL: "mqtt://b"}, SharedGroup: "a/b"}, "shared_group"},
		{"a missing password file is reported", RemoteConfig{Endpoint: Endpoint{URL: "mqtt://b", Username: "u", PasswordFile: "/nonexistent"}}, "password_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRemote(tc.cfg, bus)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewRemote: %v, want an error mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("the error repeats the password: %v", err)
			}
		})
	}
}
