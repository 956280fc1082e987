package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestPageIsServed(t *testing.T) {
	h := New(Options{Devices: devicesNone{}, Logger: testLogger(t)}).Handler()

	t.Run("the page comes with a strict content security policy", func(t *testing.T) {
		rec := recorder(h, "GET", "/", "")
		csp := rec.Header().Get("Content-Security-Policy")
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Fatalf("%d %v", rec.Code, rec.Header())
		}
		if !strings.Contains(rec.Body.String(), `<script type="module" src="/js/app.js">`) {
			t.Fatal("the page does not load its module")
		}
	})
	t.Run("an unchanged file is not sent again", func(t *testing.T) {
		first := recorder(h, "GET", "/js/app.js", "")
		etag := first.Header().Get("ETag")
		if first.Code != 200 || etag == "" || !strings.HasPrefix(first.Header().Get("Content-Type"), "text/javascript") {
			t.Fatalf("%d %v", first.Code, first.Header())
		}
		req, _ := http.NewRequest("GET", "/js/app.js", nil)
		req.Header.Set("If-None-Match", etag)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 304 || rec.Body.Len() != 0 {
			t.Fatalf("revalidation: %d, %d bytes", rec.Code, rec.Body.Len())
		}
	})
	t.Run("an unknown file is a 404", func(t *testing.T) {
		if rec := recorder(h, "GET", "/nope.js", ""); rec.Code != 404 {
			t.Fatalf("%d", rec.Code)
		}
	})
}

// TestPageFollowsItsRules checks the page's sources for what the content
// security policy would block or what would let data become markup.
func TestPageFollowsItsRules(t *testing.T) {
	rules := []struct {
		name string
		re   *regexp.Regexp
	}{
		{"an inline script", regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]+</script>|<script>`)},
		{"an inline event handler", regexp.MustCompile(`\son[a-z]+\s*=\s*["']`)},
		{"a style attribute", regexp.MustCompile(`\sstyle\s*=`)},
		{"innerHTML or outerHTML", regexp.MustCompile(`(?:inner|outer)HTML|insertAdjacentHTML|document\.write`)},
		{"eval or new Function", regexp.MustCompile(`\beval\(|new Function\(`)},
		{"a remote URL", regexp.MustCompile(`(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?//`)},
	}
	err := fs.WalkDir(ui, "ui", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(ui, name)
		if err != nil {
			return err
		}
		for _, r := range rules {
			if loc := r.re.FindIndex(b); loc != nil {
				t.Errorf("%s has %s: %q", name, r.name, b[loc[0]:loc[1]])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
