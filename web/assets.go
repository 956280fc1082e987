package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"
)

// ui is the page: hand-written HTML, CSS and JavaScript modules, served as
// they are (no build step), so what is in the folder is what runs.
//
//go:embed ui
var ui embed.FS

// asset is one file of the page, read once at start-up.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assets serves the page's files with strong ETags: a browser revalidates
// each file (Cache-Control: no-cache) and gets 304 until the hub is
// upgraded, so a new version is never mixed with a cached old module.
type assets struct {
	files map[string]asset // by URL path, "/" for the page itself
}

var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".svg":         "image/svg+xml",
	".webmanifest": "application/manifest+json",
}

// loadAssets reads the embedded folder. The files are part of the binary,
// so a failure here is a build mistake; it yields an empty set and every
// path answers 404.
func loadAssets() *assets {
	a := &assets{files: map[string]asset{}}
	root, err := fs.Sub(ui, "ui")
	if err != nil {
		return a
	}
	_ = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			return nil // not served: only the page's own kinds of file
		}
		body, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a.files["/"+name] = asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if idx, ok := a.files["/index.html"]; ok {
		a.files["/"] = idx
	}
	return a
}

func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	f, ok := a.files[r.URL.Path]
	if !ok {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag) // ServeContent answers If-None-Match with it
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
