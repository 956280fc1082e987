package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Accounts keeps the people who may log in to the page, their sessions and
// their API tokens. *store.Store satisfies it. Session ids and tokens are
// handed over as their SHA-256 (hex) only.
type Accounts interface {
	// HasWebUsers reports whether anyone may log in.
	HasWebUsers(ctx context.Context) (bool, error)
	// AddWebUser adds a user (at first start, with the setup code).
	AddWebUser(ctx context.Context, name, password string) error
	// CheckWebPassword reports whether name and password match a user.
	CheckWebPassword(ctx context.Context, name, password string) (bool, error)
	// AddSession records a session by the hash of its id.
	AddSession(ctx context.Context, idHash, user string, expires time.Time) error
	// SessionUser returns the user of a live session, "" for none.
	SessionUser(ctx context.Context, idHash string, now time.Time) (string, error)
	// DeleteSession ends a session.
	DeleteSession(ctx context.Context, idHash string) error
	// AddToken records an API token by the hash of its secret.
	AddToken(ctx context.Context, id, name, user, hash string, created time.Time) error
	// TokenUser returns the id and user of a valid token, "" for none.
	TokenUser(ctx context.Context, hash string) (id, user string, err error)
	// EachToken lists the tokens, revoked ones included.
	EachToken(ctx context.Context, f func(id, name, user string, created, revoked time.Time)) error
	// RevokeToken revokes a token; an error with NotFound() for none.
	RevokeToken(ctx context.Context, id string, now time.Time) error
}

const (
	sessionCookie   = "hearth_session"
	sessionLifetime = 30 * 24 * time.Hour
	setupLifetime   = time.Hour
	// loginLimit attempts per loginWindow, per address and per user name.
	loginLimit  = 5
	loginWindow = time.Minute
)

// noUserMessage tells a visitor from elsewhere how to let people in.
const noUserMessage = "Nobody can log in to this hub yet, so it answers only on its own machine. " +
	"Create a user there with `hub user add NAME --web`, or open /setup and enter the code printed in the hub's log."

// userKey is the context key of the authenticated user's name.
type userKey struct{}

// secret returns n random bytes in URL-safe base64.
func secret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashSecret is what the store keeps of a session id or token.
func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// isLoopback reports whether the request came from this machine.
func isLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameOrigin reports whether a state-changing request may come from where it
// says it comes from: a browser sends Origin (or at least Referer) with
// such a request, and it must name this host; a request with neither comes
// from a script, not a page, and cannot ride a person's cookie.
func sameOrigin(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	from := r.Header.Get("Origin")
	if from == "" {
		from = r.Header.Get("Referer")
	}
	if from == "" {
		return true
	}
	u, err := url.Parse(from)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// guard lets a request through to next only when it may: cross-site writes
// are refused; with no user yet, only this machine is served; once someone
// exists, the API and metrics need a session or a token.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !sameOrigin(r) {
			writeError(w, http.StatusForbidden, "cross-site request refused")
			return
		}
		if s.opts.Accounts == nil {
			next.ServeHTTP(w, r)
			return
		}
		p := r.URL.Path
		protected := strings.HasPrefix(p, "/api/") || p == "/metrics"
		open := p == "/api/login" || p == "/api/setup" || p == "/api/logout"
		has, err := s.opts.Accounts.HasWebUsers(r.Context())
		if err != nil {
			s.log.Error("web users", "err", err)
			writeError(w, http.StatusInternalServerError, "the hub cannot read its users")
			return
		}
		if !has {
			// Before the first user: this machine gets everything; others
			// only the setup form and what it needs.
			if s.isLocal(r) || p == "/api/setup" || p == "/healthz" || (!protected && p != "/") {
				next.ServeHTTP(w, r)
				return
			}
			if protected {
				writeError(w, http.StatusForbidden, noUserMessage)
			} else {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write([]byte(noUserMessage + "\n"))
			}
			return
		}
		user := s.authenticate(r)
		if user != "" {
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, user))
		} else if protected && !open {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hearth"`)
			writeError(w, http.StatusUnauthorized, "log in first, or send an API token (Authorization: Bearer ...)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate returns the user of the request's token or session, "" for
// none. A token is looked up on every request, so a revoked one stops at once.
func (s *Server) authenticate(r *http.Request) string {
	ctx := r.Context()
	if a := r.Header.Get("Authorization"); a != "" {
		tok, ok := strings.CutPrefix(a, "Bearer ")
		if !ok || tok == "" {
			return ""
		}
		_, user, err := s.opts.Accounts.TokenUser(ctx, hashSecret(strings.TrimSpace(tok)))
		if err != nil {
			s.log.Error("token", "err", err)
			return ""
		}
		return user
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return ""
	}
	user, err := s.opts.Accounts.SessionUser(ctx, hashSecret(c.Value), s.now())
	if err != nil {
		s.log.Error("session", "err", err)
		return ""
	}
	return user
}

// currentUser is the authenticated user of a request that passed guard.
func currentUser(r *http.Request) string {
	u, _ := r.Context().Value(userKey{}).(string)
	return u
}

// limiter counts attempts per key in fixed windows.
type limiter struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	seen   map[string]*window
}

type window struct {
	start time.Time
	n     int
}

func newLimiter(limit int, every time.Duration) *limiter {
	return &limiter{limit: limit, window: every, seen: map[string]*window{}}
}

// allow counts an attempt for each key and reports whether all are within
// the limit; when not, how long until the fullest window ends.
func (l *limiter) allow(now time.Time, keys ...string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) > 10000 {
		for k, w := range l.seen {
			if now.Sub(w.start) >= l.window {
				delete(l.seen, k)
			}
		}
	}
	ok, wait := true, time.Duration(0)
	for _, k := range keys {
		w := l.seen[k]
		if w == nil || now.Sub(w.start) >= l.window {
			w = &window{start: now}
			l.seen[k] = w
		}
		w.n++
		if w.n > l.limit {
			ok = false
			wait = max(wait, w.start.Add(l.window).Sub(now))
		}
	}
	return ok, wait
}

// tooMany answers 429 with Retry-After.
func tooMany(w http.ResponseWriter, wait time.Duration) {
	secs := int(wait.Round(time.Second) / time.Second)
	w.Header().Set("Retry-After", itoa(max(secs, 1)))
	writeError(w, http.StatusTooManyRequests, "too many attempts: try again later")
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// clientAddr is the address part of the request's remote address.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type credentials struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.opts.Accounts == nil {
		unavailable(w, "logging in")
		return
	}
	var c credentials
	if err := readJSON(w, r, &c); err != nil {
		writeError(w, bodyStatus(err), err.Error())
		return
	}
	if ok, wait := s.logins.allow(s.now(), "addr:"+clientAddr(r), "user:"+c.Name); !ok {
		s.log.Warn("login attempts limited", "addr", clientAddr(r))
		tooMany(w, wait)
		return
	}
	ok, err := s.opts.Accounts.CheckWebPassword(r.Context(), c.Name, c.Password)
	if err != nil {
		s.log.Error("login", "err", err)
		writeError(w, http.StatusInternalServerError, "the hub cannot check passwords")
		return
	}
	if !ok {
		s.log.Warn("login refused", "addr", clientAddr(r))
		writeError(w, http.StatusUnauthorized, "wrong name or password")
		return
	}
	s.startSession(w, r, c.Name)
}

// startSession makes a session for user and sets its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, user string) {
	id := secret(32)
	expires := s.now().Add(sessionLifetime)
	if err := s.opts.Accounts.AddSession(r.Context(), hashSecret(id), user, expires); err != nil {
		s.log.Error("add session", "err", err)
		writeError(w, http.StatusInternalServerError, "the hub cannot start a session")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/", Expires: expires, MaxAge: int(sessionLifetime / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	s.log.Info("logged in", "user", user, "addr", clientAddr(r))
	writeJSON(w, http.StatusOK, map[string]any{"name": user})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" && s.opts.Accounts != nil {
		if err := s.opts.Accounts.DeleteSession(r.Context(), hashSecret(c.Value)); err != nil {
			s.log.Error("delete session", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	w.WriteHeader(http.StatusNoContent)
}

// me tells the page who is logged in: name is "" when the hub asks nobody
// to log in (no user yet, on this machine).
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"name": currentUser(r)})
}

// setupCode is the one-time code that creates the first user from
// elsewhere than the hub's machine.
type setupCode struct {
	mu      sync.Mutex
	code    string
	expires time.Time
}

// codeAlphabet leaves out letters and digits easily mistaken for others.
const codeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// newSetupCode makes a fresh code, replacing any earlier one.
func (s *Server) newSetupCode() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)] // 256 is a multiple of 32: no bias
	}
	code := string(b[:4]) + "-" + string(b[4:])
	s.setup.mu.Lock()
	defer s.setup.mu.Unlock()
	s.setup.code, s.setup.expires = code, s.now().Add(setupLifetime)
	return code
}

// takeSetupCode reports whether code is the live setup code, and if so
// uses it up.
func (s *Server) takeSetupCode(code string) bool {
	s.setup.mu.Lock()
	defer s.setup.mu.Unlock()
	want := s.setup.code
	if want == "" || !s.now().Before(s.setup.expires) {
		return false
	}
	got := strings.ToUpper(strings.TrimSpace(code))
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return false
	}
	s.setup.code = ""
	return true
}

type setupRequest struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

func (s *Server) setupUser(w http.ResponseWriter, r *http.Request) {
	if s.opts.Accounts == nil {
		unavailable(w, "setting up users")
		return
	}
	var req setupRequest
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, bodyStatus(err), err.Error())
		return
	}
	if ok, wait := s.logins.allow(s.now(), "setup:"+clientAddr(r)); !ok {
		tooMany(w, wait)
		return
	}
	ctx := r.Context()
	if has, err := s.opts.Accounts.HasWebUsers(ctx); err != nil || has {
		writeError(w, http.StatusConflict, "this hub already has users: log in")
		return
	}
	if !s.takeSetupCode(req.Code) {
		s.log.Warn("setup code refused", "addr", clientAddr(r))
		writeError(w, http.StatusForbidden, "wrong or expired setup code")
		return
	}
	if err := s.opts.Accounts.AddWebUser(ctx, req.Name, req.Password); err != nil {
		// The code is used up only by a user actually made.
		s.setup.mu.Lock()
		if s.setup.code == "" {
			s.setup.code = strings.ToUpper(strings.TrimSpace(req.Code))
		}
		s.setup.mu.Unlock()
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.log.Info("first page user created with the setup code", "user", req.Name)
	s.startSession(w, r, req.Name)
}

// announceSetup prints the one-time setup code when nobody can log in yet
// and the hub listens beyond its own machine.
func (s *Server) announceSetup(addr net.Addr) {
	if s.opts.Accounts == nil {
		return
	}
	has, err := s.opts.Accounts.HasWebUsers(s.ctx)
	if err != nil || has {
		return
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsLoopback() {
		return
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "THIS-HUB"
	}
	url := "http://" + net.JoinHostPort(host, itoa(tcp.Port)) + "/setup"
	s.log.Warn("the page has no users yet: it opens on this machine alone; from another, open " + url + " and enter code " + s.newSetupCode() +
		" (valid one hour, once), or run `hub user add NAME --web` on this machine")
}

// tokenRequest is the body of POST /api/tokens.
type tokenRequest struct {
	Name string `json:"name"`
}

type tokenInfo struct {
	ID      string     `json:"id"`
	Name    string     `json:"name"`
	User    string     `json:"user"`
	Created time.Time  `json:"created"`
	Revoked *time.Time `json:"revoked,omitempty"`
	Token   string     `json:"token,omitempty"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	if s.opts.Accounts == nil {
		unavailable(w, "API tokens")
		return
	}
	var req tokenRequest
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, bodyStatus(err), err.Error())
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 100 {
		writeError(w, http.StatusBadRequest, "a token needs a name of 1 to 100 characters")
		return
	}
	user := currentUser(r)
	if user == "" {
		writeError(w, http.StatusForbidden, "create a user first: a token belongs to a user")
		return
	}
	t := tokenInfo{ID: secret(9), Name: req.Name, User: user, Created: s.now().UTC(), Token: "hth_" + secret(32)}
	if err := s.opts.Accounts.AddToken(r.Context(), t.ID, t.Name, user, hashSecret(t.Token), t.Created); err != nil {
		s.log.Error("add token", "err", err)
		writeError(w, http.StatusInternalServerError, "the hub cannot store the token")
		return
	}
	s.log.Info("API token created", "id", t.ID, "name", t.Name, "user", user)
	writeJSON(w, http.StatusCreated, t)
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	if s.opts.Accounts == nil {
		unavailable(w, "API tokens")
		return
	}
	out := []tokenInfo{}
	err := s.opts.Accounts.EachToken(r.Context(), func(id, name, user string, created, revoked time.Time) {
		t := tokenInfo{ID: id, Name: name, User: user, Created: created.UTC()}
		if !revoked.IsZero() {
			rv := revoked.UTC()
			t.Revoked = &rv
		}
		out = append(out, t)
	})
	if err != nil {
		s.log.Error("list tokens", "err", err)
		writeError(w, http.StatusInternalServerError, "the hub cannot read its tokens")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	if s.opts.Accounts == nil {
		unavailable(w, "API tokens")
		return
	}
	id := r.PathValue("id")
	if err := s.opts.Accounts.RevokeToken(r.Context(), id, s.now()); err != nil {
		if notFound(err) {
			writeError(w, http.StatusNotFound, "no such valid token")
			return
		}
		s.log.Error("revoke token", "err", err)
		writeError(w, http.StatusInternalServerError, "the hub cannot revoke the token")
		return
	}
	s.log.Info("API token revoked", "id", id, "by", currentUser(r))
	w.WriteHeader(http.StatusNoContent)
}
