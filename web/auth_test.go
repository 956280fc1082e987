package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"hearth/store"
)

// authStack is a server guarded by a real store's accounts, served over
// real HTTP (from loopback) by httptest.
type authStack struct {
	store *store.Store
	web   *Server
	http  *httptest.Server
}

func newAuthStack(t *testing.T) *authStack {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "data", "hearth.db"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	a := &authStack{store: st}
	a.web = New(Options{Devices: devicesNone{}, Accounts: st, Logger: testLogger(t),
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "up 1\n") })})
	a.http = httptest.NewServer(a.web.Handler())
	t.Cleanup(func() {
		a.http.Close()
		_ = a.web.Close(context.Background())
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return a
}

// do sends a request to the stack, from loopback, as a page of the hub
// would (same Origin) unless headers say otherwise.
func (a *authStack) do(t *testing.T, method, path, body string, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, a.http.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != "GET" {
		req.Header.Set("Origin", a.http.URL)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := a.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func (a *authStack) addUser(t *testing.T) {
	t.Helper()
	if err := a.store.AddWebUser(context.Background(), "ann", "correct horse"); err != nil {
		t.Fatal(err)
	}
}

// login returns the session cookie of ann.
func (a *authStack) login(t *testing.T) *http.Cookie {
	t.Helper()
	res := a.do(t, "POST", "/api/login", `{"name":"ann","password":"correct horse"}`)
	if res.StatusCode != 200 {
		t.Fatalf("login: %d", res.StatusCode)
	}
	for _, c := range res.Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	t.Fatal("login set no session cookie")
	return nil
}

// concrete fills a route pattern's wildcards.
func concrete(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	path = regexp.MustCompile(`\{seq\}`).ReplaceAllString(path, "1")
	path = regexp.MustCompile(`\{[a-z]+\}`).ReplaceAllString(path, "x")
	return method, path
}

func TestEveryEndpointNeedsALoginOnceAUserExists(t *testing.T) {
	a := newAuthStack(t)
	a.addUser(t)
	open := map[string]bool{"POST /api/login": true, "POST /api/logout": true, "POST /api/setup": true}
	routes := append(a.web.apiRoutes(), route{pattern: "GET /metrics"}, route{pattern: "GET /api/nothing-here"})
	for _, rt := range routes {
		if open[rt.pattern] {
			continue
		}
		t.Run(rt.pattern+" answers 401 without a session or token, even from loopback", func(t *testing.T) {
			method, path := concrete(rt.pattern)
			res := a.do(t, method, path, `{}`)
			if res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s %s: %d", method, path, res.StatusCode)
			}
		})
	}
	t.Run("a wrong session cookie or token is refused too", func(t *testing.T) {
		if res := a.do(t, "GET", "/api/devices", "", "Cookie", sessionCookie+"=forged"); res.StatusCode != 401 {
			t.Fatalf("cookie: %d", res.StatusCode)
		}
		if res := a.do(t, "GET", "/api/devices", "", "Authorization", "Bearer hth_forged"); res.StatusCode != 401 {
			t.Fatalf("token: %d", res.StatusCode)
		}
	})
	t.Run("healthz stays open but says only that the hub is up", func(t *testing.T) {
		rec := httptest.NewRecorder()
		a.web.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("the page itself loads, to show the login form", func(t *testing.T) {
		if res := a.do(t, "GET", "/", ""); res.StatusCode != 200 {
			t.Fatalf("%d", res.StatusCode)
		}
	})
	t.Run("with a session the API answers", func(t *testing.T) {
		c := a.login(t)
		res := a.do(t, "GET", "/api/me", "", "Cookie", c.Name+"="+c.Value)
		var me struct{ Name string }
		if err := json.NewDecoder(res.Body).Decode(&me); err != nil || res.StatusCode != 200 || me.Name != "ann" {
			t.Fatalf("%d %v %+v", res.StatusCode, err, me)
		}
	})
}

func TestWithoutUsersOnlyLoopbackIsServed(t *testing.T) {
	a := newAuthStack(t)
	h := a.web.Handler()
	for _, path := range []string{"/", "/api/devices", "/api/tokens", "/metrics"} {
		t.Run(path+" answers 403 with how to create a user to another machine", func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", path, nil)
			req.RemoteAddr = "192.168.1.20:40000"
			h.ServeHTTP(rec, req)
			if rec.Code != 403 || !strings.Contains(rec.Body.String(), "hub user add NAME --web") {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
		})
	}
	t.Run("loopback is served without a login", func(t *testing.T) {
		if res := a.do(t, "GET", "/api/devices", ""); res.StatusCode != 200 {
			t.Fatalf("%d", res.StatusCode)
		}
	})
	t.Run("the setup form's files are served to another machine", func(t *testing.T) {
		for _, path := range []string{"/setup", "/js/app.js", "/app.css"} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", path, nil)
			req.RemoteAddr = "192.168.1.20:40000"
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				t.Errorf("%s: %d", path, rec.Code)
			}
		}
	})
}

func TestCrossSiteWritesAreRefused(t *testing.T) {
	a := newAuthStack(t)
	a.addUser(t)
	c := a.login(t)
	cookie := c.Name + "=" + c.Value
	body := `{"name":"script"}`
	cases := []struct {
		name    string
		headers []string
		want    int
	}{
		{"a POST from another site is refused", []string{"Origin", "http://evil.example"}, 403},
		{"a POST whose Referer is another site is refused", []string{"Origin", "", "Referer", "http://evil.example/page"}, 403},
		{"a POST the browser marks cross-site is refused", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"a POST from the hub's own page works", nil, 201},
		{"a POST without Origin, from a script, works", []string{"Origin", ""}, 201},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := a.do(t, "POST", "/api/tokens", body, append([]string{"Cookie", cookie}, c.headers...)...)
			if res.StatusCode != c.want {
				t.Fatalf("%d, want %d", res.StatusCode, c.want)
			}
		})
	}
	t.Run("a cross-site login is refused too", func(t *testing.T) {
		res := a.do(t, "POST", "/api/login", `{"name":"ann","password":"correct horse"}`, "Origin", "http://evil.example")
		if res.StatusCode != 403 {
			t.Fatalf("%d", res.StatusCode)
		}
	})
}

func TestLoginRateLimit(t *testing.T) {
	a := newAuthStack(t)
	a.addUser(t)
	for i := 1; i <= 5; i++ {
		if res := a.do(t, "POST", "/api/login", `{"name":"ann","password":"wrong password"}`); res.StatusCode != 401 {
			t.Fatalf("attempt %d: %d", i, res.StatusCode)
		}
	}
	t.Run("the sixth attempt in a minute gets 429 with Retry-After, even with the right password", func(t *testing.T) {
		res := a.do(t, "POST", "/api/login", `{"name":"ann","password":"correct horse"}`)
		if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" {
			t.Fatalf("%d %q", res.StatusCode, res.Header.Get("Retry-After"))
		}
	})
	t.Run("the limit is per user too, from another address", func(t *testing.T) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/login", strings.NewReader(`{"name":"ann","password":"correct horse"}`))
		req.RemoteAddr = "192.168.1.30:5000"
		a.web.Handler().ServeHTTP(rec, req)
		if rec.Code != 429 {
			t.Fatalf("%d", rec.Code)
		}
	})
	t.Run("after the minute, logging in works again", func(t *testing.T) {
		later := time.Now().Add(loginWindow + time.Second)
		a.web.now = func() time.Time { return later }
		a.login(t)
	})
}

func TestTokens(t *testing.T) {
	a := newAuthStack(t)
	a.addUser(t)
	c := a.login(t)
	cookie := c.Name + "=" + c.Value
	res := a.do(t, "POST", "/api/tokens", `{"name":"backup script"}`, "Cookie", cookie)
	var tok tokenInfo
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || res.StatusCode != 201 || !strings.HasPrefix(tok.Token, "hth_") {
		t.Fatalf("%d %v %+v", res.StatusCode, err, tok)
	}
	bearer := "Bearer " + tok.Token
	t.Run("a token opens the API", func(t *testing.T) {
		if res := a.do(t, "GET", "/api/devices", "", "Authorization", bearer); res.StatusCode != 200 {
			t.Fatalf("%d", res.StatusCode)
		}
	})
	t.Run("the list shows the token without its secret", func(t *testing.T) {
		res := a.do(t, "GET", "/api/tokens", "", "Cookie", cookie)
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !strings.Contains(string(b), tok.ID) || strings.Contains(string(b), tok.Token) {
			t.Fatalf("%d %s", res.StatusCode, b)
		}
	})
	t.Run("a revoked token stops working at once", func(t *testing.T) {
		if res := a.do(t, "DELETE", "/api/tokens/"+tok.ID, "", "Cookie", cookie); res.StatusCode != 204 {
			t.Fatalf("revoke: %d", res.StatusCode)
		}
		if res := a.do(t, "GET", "/api/devices", "", "Authorization", bearer); res.StatusCode != 401 {
			t.Fatalf("after revoking: %d", res.StatusCode)
		}
		if res := a.do(t, "DELETE", "/api/tokens/"+tok.ID, "", "Cookie", cookie); res.StatusCode != 404 {
			t.Fatalf("second revoke: %d", res.StatusCode)
		}
	})
}

func TestSessionCookie(t *testing.T) {
	a := newAuthStack(t)
	a.addUser(t)
	c := a.login(t)
	t.Run("the session cookie is HttpOnly and SameSite=Strict", func(t *testing.T) {
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
			t.Fatalf("%+v", c)
		}
	})
	t.Run("the database keeps only the session id's hash", func(t *testing.T) {
		if u, _ := a.store.SessionUser(context.Background(), c.Value, time.Now()); u != "" {
			t.Fatal("the raw session id is stored")
		}
	})
	t.Run("logging out ends the session", func(t *testing.T) {
		cookie := c.Name + "=" + c.Value
		if res := a.do(t, "POST", "/api/logout", "", "Cookie", cookie); res.StatusCode != 204 {
			t.Fatalf("logout: %d", res.StatusCode)
		}
		if res := a.do(t, "GET", "/api/devices", "", "Cookie", cookie); res.StatusCode != 401 {
			t.Fatalf("after logout: %d", res.StatusCode)
		}
	})
	t.Run("over TLS the cookie is Secure", func(t *testing.T) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "https://hub.local/api/login", strings.NewReader(`{"name":"ann","password":"correct horse"}`))
		req.RemoteAddr = "127.0.0.1:5000"
		a.web.Handler().ServeHTTP(rec, req)
		cs := rec.Result().Cookies()
		if rec.Code != 200 || len(cs) != 1 || !cs[0].Secure {
			t.Fatalf("%d %+v", rec.Code, cs)
		}
	})
}

func TestSetupCode(t *testing.T) {
	a := newAuthStack(t)
	h := a.web.Handler()
	code := a.web.newSetupCode()
	setup := func(code, name string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/setup", strings.NewReader(`{"code":"`+code+`","name":"`+name+`","password":"correct horse"}`))
		req.RemoteAddr = "192.168.1.20:40000"
		h.ServeHTTP(rec, req)
		return rec
	}
	t.Run("a wrong code is refused", func(t *testing.T) {
		if rec := setup("AAAA-AAAA", "eve"); rec.Code != 403 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("the code creates the first user and logs them in", func(t *testing.T) {
		rec := setup(code, "ann")
		if rec.Code != 200 || len(rec.Result().Cookies()) != 1 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		if ok, _ := a.store.CheckWebPassword(context.Background(), "ann", "correct horse"); !ok {
			t.Fatal("no user ann")
		}
	})
	t.Run("the code works once", func(t *testing.T) {
		if rec := setup(code, "eve"); rec.Code == 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		if ok, _ := a.store.CheckWebPassword(context.Background(), "eve", "correct horse"); ok {
			t.Fatal("eve was created")
		}
	})
	t.Run("an expired code is refused", func(t *testing.T) {
		b := newAuthStack(t)
		code := b.web.newSetupCode()
		later := time.Now().Add(setupLifetime + time.Minute)
		b.web.now = func() time.Time { return later }
		if b.web.takeSetupCode(code) {
			t.Fatal("expired code accepted")
		}
	})
}

func TestSecurityHeaders(t *testing.T) {
	a := newAuthStack(t)
	for _, path := range []string{"/", "/api/devices", "/healthz", "/js/app.js"} {
		t.Run(path+" carries the security headers", func(t *testing.T) {
			res := a.do(t, "GET", path, "")
			h := res.Header
			csp := h.Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") ||
				h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "same-origin" {
				t.Fatalf("%v", h)
			}
		})
	}
}
