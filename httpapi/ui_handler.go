package httpapi

import (
	"bytes"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// uiHandler serves the embedded single-page UI under /ui/. A path naming
// a file in fsys is that file; every other /ui/... path (a deep link or a
// reload of a client-side route) is index.html, so the page's router can
// take over. index.html is sent with Cache-Control: no-cache so a new
// binary's UI is picked up on reload.
type uiHandler struct {
	fsys fs.FS
}

// uiTypes fixes the Content-Type of the UI's asset kinds, whatever the
// host's mime tables say (a module script must be text/javascript).
var uiTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
}

func (h uiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(r.URL.Path, "/ui")), "/")
	if name != "" && name != "index.html" {
		if b, err := fs.ReadFile(h.fsys, name); err == nil {
			h.send(w, r, name, b, "")
			return
		}
		// A missing asset (a top-level file such as app.css, or anything
		// under js/) is a 404, not the page: a module that fails to load
		// must say so. Routes are DC/section/… and fall through.
		if strings.HasPrefix(name, "js/") || (!strings.Contains(name, "/") && path.Ext(name) != "") {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
	}
	b, err := fs.ReadFile(h.fsys, "index.html")
	if err != nil {
		http.Error(w, "UI not available", http.StatusNotFound)
		return
	}
	h.send(w, r, "index.html", b, "no-cache")
}

func (h uiHandler) send(w http.ResponseWriter, r *http.Request, name string, b []byte, cache string) {
	ext := path.Ext(name)
	ct := uiTypes[ext]
	if ct == "" {
		ct = mime.TypeByExtension(ext)
	}
	if ct == "" {
		ct = http.DetectContentType(b)
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if cache != "" {
		w.Header().Set("Cache-Control", cache)
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}
