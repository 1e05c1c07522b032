package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"consulate/acl"
)

func newDebugServer(t *testing.T, f *fakeAgent, enable, acls bool) *httptest.Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.EnableDebug, cfg.ACLsEnabled = enable, acls
	ts := httptest.NewServer(mustNew(t, cfg, f).Handler())
	t.Cleanup(ts.Close)
	return ts
}

func TestPprofOffIs404(t *testing.T) {
	ts := newDebugServer(t, newFakeAgent(), false, false)
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1"} {
		if code, body, _ := do(t, ts, "GET", p, ""); code != 404 {
			t.Errorf("%s with enable_debug off: %d %q, want 404", p, code, body)
		}
	}
}

func TestPprofServedWhenEnabled(t *testing.T) {
	ts := newDebugServer(t, newFakeAgent(), true, false)
	code, body, _ := do(t, ts, "GET", "/debug/pprof/", "")
	if code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("index: %d %.200q", code, body)
	}
	code, body, hdr := do(t, ts, "GET", "/debug/pprof/heap", "")
	// A protobuf profile is gzipped: it starts with gzip's magic bytes.
	if code != 200 || !strings.HasPrefix(body, "\x1f\x8b") || hdr.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("heap: %d %q %.20q", code, hdr.Get("Content-Type"), body)
	}
	code, body, _ = do(t, ts, "GET", "/debug/pprof/profile?seconds=1", "")
	if code != 200 || !strings.HasPrefix(body, "\x1f\x8b") {
		t.Fatalf("cpu profile: %d %.40q", code, body)
	}
	if code, body, _ := do(t, ts, "GET", "/debug/pprof/goroutine?debug=1", ""); code != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Fatalf("goroutine: %d %.80q", code, body)
	}
}

// With ACLs on the profiles are served whatever enable_debug says, to a
// token with operator:read only (as in Consul).
func TestPprofNeedsOperatorRead(t *testing.T) {
	f := newFakeAgent()
	f.acls = map[string]acl.Authorizer{
		"anonymous": acl.DenyAll(),
		"operr":     mustPolicy(t, `operator = "read"`),
		"agentw":    mustPolicy(t, `agent_prefix "" { policy = "write" }`),
	}
	ts := newDebugServer(t, f, false, true)
	for _, tc := range []struct {
		token string
		want  int
	}{{"", 403}, {"agentw", 403}, {"nope", 403}, {"operr", 200}} {
		if code, body, _ := doToken(t, ts.URL, "GET", "/debug/pprof/heap?debug=1", tc.token, ""); code != tc.want {
			t.Errorf("token %q: %d %.80q, want %d", tc.token, code, body, tc.want)
		}
	}
}
