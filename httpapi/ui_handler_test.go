package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestUIServing(t *testing.T) {
	cfg := DefaultConfig()
	cfg.UI = fstest.MapFS{
		"index.html":  {Data: []byte("<!doctype html><main id=main></main>")},
		"app.css":     {Data: []byte("body{}")},
		"js/app.js":   {Data: []byte("export {}")},
		"favicon.svg": {Data: []byte("<svg/>")},
	}
	srv := mustNew(t, cfg, newFakeAgent())
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	cases := []struct {
		path, ctype, cache, body string
	}{
		{"/ui/", "text/html", "no-cache", "<main"},
		{"/ui/index.html", "text/html", "no-cache", "<main"},
		{"/ui/dc1/services", "text/html", "no-cache", "<main"},
		{"/ui/dc2/kv/a/b/", "text/html", "no-cache", "<main"},
		{"/ui/dc1/nodes/n1.example", "text/html", "no-cache", "<main"},
		{"/ui/dc1/kv/config.json", "text/html", "no-cache", "<main"},
		{"/ui/app.css", "text/css", "", "body{}"},
		{"/ui/js/app.js", "text/javascript", "", "export"},
		{"/ui/favicon.svg", "image/svg+xml", "", "<svg"},
	}
	for _, c := range cases {
		code, body, h := do(t, ts, "GET", c.path, "")
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), c.ctype) ||
			h.Get("Cache-Control") != c.cache || !strings.Contains(body, c.body) {
			t.Errorf("%s: %d %q cache %q body %q", c.path, code, h.Get("Content-Type"), h.Get("Cache-Control"), body)
		}
	}
	client := ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, p := range []string{"/", "/ui"} {
		resp, err := client.Get(ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/ui/" {
			t.Errorf("%s: %d %q", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// A missing asset is a 404, not the page.
	for _, p := range []string{"/ui/js/missing.js", "/ui/missing.css"} {
		if code, _, _ := do(t, ts, "GET", p, ""); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
	if code, _, _ := do(t, ts, "POST", "/ui/dc1/services", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", code)
	}
	// Without a UI the paths are not served.
	_, ts2 := newTestServer(t, newFakeAgent())
	if code, _, _ := do(t, ts2, "GET", "/ui/dc1/services", ""); code != http.StatusNotFound {
		t.Errorf("no UI: %d", code)
	}
}
