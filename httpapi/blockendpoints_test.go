package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestBlockEndpoints: a path under one of http_config.block_endpoints
// gets Consul's 403 and never reaches the handler; other paths pass.
func TestBlockEndpoints(t *testing.T) {
	s := &Server{cfg: Config{BlockEndpoints: []string{"/v1/acl", "/v1/agent/force-leave"}}, logger: slog.New(slog.DiscardHandler)}
	reached := 0
	h := s.withHTTPConfig(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { reached++ }))
	for _, c := range []struct {
		path  string
		block bool
	}{
		{"/v1/acl/tokens", true},
		{"/v1/acl", true},
		{"/v1/agent/force-leave/n1", true},
		{"/v1/agent/self", false},
		{"/v1/kv/v1/acl", false},
	} {
		rec := httptest.NewRecorder()
		before := reached
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
		if c.block {
			if rec.Code != http.StatusForbidden || rec.Body.String() != "Endpoint is blocked by agent configuration" || reached != before {
				t.Fatalf("%s: %d %q reached=%v", c.path, rec.Code, rec.Body.String(), reached != before)
			}
		} else if rec.Code != http.StatusOK || reached == before {
			t.Fatalf("%s: %d, want it passed to the handler", c.path, rec.Code)
		}
	}
}
