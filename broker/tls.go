package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// TLSConfig configures the MQTT over TLS listener (mqtts, port 8883 by
// custom). The certificate and key are read when the broker is made; renew
// them by restarting the hub.
type TLSConfig struct {
	// Addr is the address to listen on, such as ":8883"; empty: no TLS
	// listener.
	Addr string `yaml:"addr,omitempty"`
	// CertFile and KeyFile name the broker's certificate (PEM, the chain
	// after it) and its private key (PEM).
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
	// ClientCAFile, when set, names the PEM certificates that sign client
	// certificates: every client must then present one signed by them, and
	// such a client may connect without a user name (its certificate is its
	// login; it gets the anonymous rules).
	ClientCAFile string `yaml:"client_ca_file,omitempty"`
}

func (c TLSConfig) validate() []error {
	if c.Addr == "" {
		if c.CertFile != "" || c.KeyFile != "" || c.ClientCAFile != "" {
			return []error{errors.New("tls: cert_file, key_file and client_ca_file need addr")}
		}
		return nil
	}
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("tls.addr %q: want host:port or :port", c.Addr))
	}
	if c.CertFile == "" || c.KeyFile == "" {
		errs = append(errs, errors.New("tls: want cert_file and key_file"))
	}
	return errs
}

// serverConfig loads the certificate, key and client CA.
func (c TLSConfig) serverConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS cert_file %s and key_file %s: %w", c.CertFile, c.KeyFile, err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("TLS client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS client_ca_file %s: no PEM certificate in it", c.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// tlsFailure reports whether err ended a TLS handshake: worth a line, since
// it is what a client with a wrong certificate (or none) sees.
func tlsFailure(err error) bool {
	var rh tls.RecordHeaderError
	var alert tls.AlertError
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &rh) || errors.As(err, &alert) || errors.As(err, &unknown) || errors.As(err, &invalid) ||
		(err != nil && strings.HasPrefix(err.Error(), "tls: "))
}
