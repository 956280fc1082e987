package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"
)

// Listener ids, as mochi records them in each client's Net.Listener.
const (
	listenerTCP = "mqtt"
	listenerTLS = "tls"
	listenerWS  = "ws"
)

// accounts is a users file compiled for checking: built whole, then only
// read (every delivery checks it), and replaced whole when the file changes.
type accounts struct {
	users     map[string]*account
	clients   map[string]acl
	patterns  acl
	anonymous acl // none: a client let in without a user name may do everything

	cost      int // bcrypt cost of the users' hashes
	dummyOnce sync.Once
	dummy     []byte // a hash at that cost, to check unknown users against
}

type account struct {
	hash []byte
	acl  acl
}

func compileAccounts(uf *UsersFile) (*accounts, error) {
	a := &accounts{users: make(map[string]*account, len(uf.Users)), clients: make(map[string]acl, len(uf.Clients))}
	var errs []error
	add := func(what string, rules []Rule) acl {
		c, err := compileACL(rules)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
		return c
	}
	a.cost = bcrypt.DefaultCost
	for _, u := range uf.Users {
		a.users[u.Name] = &account{hash: []byte(u.Hash), acl: add("user "+u.Name, u.ACL)}
		if c, err := bcrypt.Cost([]byte(u.Hash)); err == nil {
			a.cost = c
		}
	}
	for _, c := range uf.Clients {
		a.clients[c.ID] = add("client "+c.ID, c.ACL)
	}
	a.patterns = add("patterns", uf.Patterns)
	a.anonymous = add("anonymous", uf.Anonymous)
	return a, errors.Join(errs...)
}

// auth decides who may connect and what each client may read and write.
type auth struct {
	log            *slog.Logger
	path           string // the users file; "" for none
	allowAnonymous bool
	certLogin      bool // the TLS listener checks client certificates
	isLoopback     func(netip.Addr) bool
	notes          *notes
	ctx            context.Context // cancelled when the broker closes
	verifying      chan struct{}   // a slot per password check running
	server         *mqtt.Server    // whose clients a changed users file may disconnect; nil in unit tests

	cur atomic.Pointer[accounts]

	mu    sync.Mutex // serialises reloads
	stamp os.FileInfo
}

func newAuth(ctx context.Context, cfg *Config, isLoopback func(netip.Addr) bool, log *slog.Logger, n *notes) (*auth, error) {
	a := &auth{
		log:            log,
		path:           cfg.UsersFile,
		allowAnonymous: cfg.AllowAnonymous,
		certLogin:      cfg.TLS.Addr != "" && cfg.TLS.ClientCAFile != "",
		isLoopback:     isLoopback,
		notes:          n,
		ctx:            ctx,
		// bcrypt keeps a core busy for tens of milliseconds: a burst of
		// logins (every device after a restart, or someone guessing from
		// many addresses) must leave cores to the rest of the hub.
		verifying: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
	}
	a.cur.Store(&accounts{})
	if a.path != "" {
		if err := a.reload(true); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// accounts returns the users and rules in force, after reading the users
// file again if it changed.
func (a *auth) accounts() *accounts {
	if a.path != "" {
		_ = a.reload(false) // a bad edit is logged; the last good file stays in force
	}
	return a.cur.Load()
}

// ReloadUsers reads the users file again, as on SIGHUP. A file with
// mistakes is refused and the users in force stay. The broker also reads the file again by itself
// when it changes, at the next CONNECT.
func (b *Broker) ReloadUsers() error {
	if b.auth.path == "" {
		return errors.New("broker: no users file")
	}
	return b.auth.reload(true)
}

// reload reads the users file if it changed since the last read (or
// always, with force).
func (a *auth) reload(force bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	fi, err := os.Stat(a.path)
	if errors.Is(err, os.ErrNotExist) {
		if a.stamp != nil || force {
			a.stamp = nil
			a.cur.Store(&accounts{})
			if !force {
				a.log.Warn("users file removed: no users", "file", a.path)
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	if !force && a.stamp != nil && os.SameFile(a.stamp, fi) && fi.ModTime().Equal(a.stamp.ModTime()) && fi.Size() == a.stamp.Size() {
		return nil
	}
	a.stamp = fi
	uf, err := ReadUsersFile(a.path)
	var acc *accounts
	if err == nil {
		acc, err = compileAccounts(uf)
	}
	if err != nil {
		if !force {
			a.log.Error("users file not reloaded: the users in force stay", "error", err)
		}
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		a.log.Warn("users file is readable by others: its password hashes can be guessed at offline; chmod 600 it",
			"file", a.path, "mode", fi.Mode().Perm().String())
	}
	old := a.cur.Swap(acc)
	a.log.Info("users loaded", "file", a.path, "users", len(acc.users))
	a.dropChanged(old, acc)
	return nil
}

// dropChanged disconnects the clients of users who were removed or whose
// password changed: a leaked password, once changed, opens nothing.
func (a *auth) dropChanged(old, cur *accounts) {
	if a.server == nil || old == nil || len(old.users) == 0 {
		return
	}
	for _, cl := range a.server.Clients.GetAll() {
		name := string(cl.Properties.Username)
		was, now := old.users[name], cur.users[name]
		if cl.Net.Inline || name == "" || was == nil || (now != nil && bytes.Equal(was.hash, now.hash)) {
			continue
		}
		a.log.Warn("disconnecting client: its user was removed or its password changed", "client", cl.ID, "user", name)
		if cl.Properties.ProtocolVersion == 5 {
			_ = a.server.DisconnectClient(cl, packets.ErrNotAuthorized)
		} else {
			cl.Stop(packets.ErrNotAuthorized)
		}
	}
}

// refusal is why a client was not let in, and the CONNACK code that says so.
type refusal struct {
	code   packets.Code
	reason string
}

var (
	errCredentials  = packets.ErrBadUsernameOrPassword
	errNotPermitted = packets.ErrNotAuthorized
)

// admit decides whether a client that sent CONNECT may stay, and returns
// why not. A client let in without checking a password has its user name
// cleared: rules then never take a name it merely claimed.
func (a *auth) admit(server *mqtt.Server, cl *mqtt.Client, pk packets.Packet) *refusal {
	acc := a.accounts()
	name := string(pk.Connect.Username)
	switch {
	case name != "" && len(acc.users) > 0:
		if !a.verify(acc, name, pk.Connect.Password) {
			return &refusal{errCredentials, "wrong user name or password"}
		}
	case a.anonymousAllowed(acc, cl):
		cl.Properties.Username = nil
	case len(acc.users) == 0 && cl.Net.Listener == listenerWS:
		return &refusal{errNotPermitted, "no users configured: WebSocket clients need one (hub user add) or allow_anonymous"}
	case len(acc.users) == 0:
		return &refusal{errNotPermitted, "no users configured: only clients on this machine may connect without a user (hub user add, or allow_anonymous)"}
	default:
		return &refusal{errNotPermitted, "no user name: this broker has users"}
	}
	// A client id names a session: one held by another user (or by the hub
	// itself, a bridge) is not taken over, which would hand its queued
	// messages to someone else.
	if existing, ok := server.Clients.Get(cl.ID); ok &&
		(existing.Net.Inline || !bytes.Equal(existing.Properties.Username, cl.Properties.Username)) {
		return &refusal{errNotPermitted, "client id in use by another user"}
	}
	// mochi publishes a will without asking the ACL: ask now.
	if cl.Properties.Will.Flag == 1 && !a.allowedFor(acc, cl, cl.Properties.Will.TopicName, true) {
		return &refusal{errNotPermitted, "will topic not allowed: " + cl.Properties.Will.TopicName}
	}
	return nil
}

// anonymousAllowed reports whether cl may connect without a user name: with
// allow_anonymous; with a client certificate the TLS listener checked; or,
// while there are no users, from this machine (not over WebSocket, which any
// web page a browser here shows could open).
func (a *auth) anonymousAllowed(acc *accounts, cl *mqtt.Client) bool {
	switch {
	case a.allowAnonymous:
		return true
	case a.certLogin && cl.Net.Listener == listenerTLS && verifiedCert(cl):
		return true
	case len(acc.users) == 0 && cl.Net.Listener != listenerWS:
		return remoteLoopback(cl.Net.Remote, a.isLoopback)
	}
	return false
}

// verifiedCert reports whether the client's TLS connection carries a client
// certificate that was verified.
func verifiedCert(cl *mqtt.Client) bool {
	c, ok := cl.Net.Conn.(*conn)
	if !ok {
		return false
	}
	tc, ok := c.Conn.(*tls.Conn)
	return ok && len(tc.ConnectionState().VerifiedChains) > 0
}

// verify checks a password against the user's hash. An unknown user is
// checked against a dummy hash, so that timing does not tell which names
// exist.
func (a *auth) verify(acc *accounts, name string, password []byte) bool {
	select {
	case a.verifying <- struct{}{}:
		defer func() { <-a.verifying }()
	case <-a.ctx.Done():
		return false
	}
	u := acc.users[name]
	if u == nil {
		acc.dummyOnce.Do(func() {
			acc.dummy, _ = bcrypt.GenerateFromPassword([]byte("no such user"), acc.cost)
		})
		_ = bcrypt.CompareHashAndPassword(acc.dummy, password)
		return false
	}
	return bcrypt.CompareHashAndPassword(u.hash, password) == nil
}

// allowed reports whether cl may read (write false) or write f: a topic
// name, or the filter of a subscription.
func (a *auth) allowed(cl *mqtt.Client, f string, write bool) bool {
	return a.allowedFor(a.cur.Load(), cl, f, write)
}

func (a *auth) allowedFor(acc *accounts, cl *mqtt.Client, f string, write bool) bool {
	if !write {
		f = sharedFilter(f)
	}
	w := who{user: string(cl.Properties.Username), client: cl.ID}
	if w.user == "" {
		if len(acc.anonymous) == 0 {
			return true
		}
		return decide(w, f, write, acc.patterns, acc.clients[w.client], acc.anonymous)
	}
	u := acc.users[w.user]
	if u == nil {
		return false // removed from the users file since it connected
	}
	return decide(w, f, write, acc.patterns, acc.clients[w.client], u.acl)
}

// hasUsers reports whether a users file with users is in force.
func (a *auth) hasUsers() bool { return len(a.cur.Load().users) > 0 }
