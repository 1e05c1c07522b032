package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"consulate/structs"
)

// TestRegisterPassesTheRequestsToken: the agent gets the request's token
// with a service or check registration (the one anti-entropy syncs it
// with), from any of the three places a token travels, and "" when there
// is none; a Token in the body is accepted and, as in Consul, not used.
func TestRegisterPassesTheRequestsToken(t *testing.T) {
	f := newFakeAgent()
	_, ts := newTestServer(t, f)
	put := func(path, body string, hdr map[string]string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPut, ts.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s: %d", path, resp.StatusCode)
		}
	}
	last := func(key structs.Method) string {
		f.mu.Lock()
		defer f.mu.Unlock()
		s, _ := f.last[key].(string)
		return s
	}
	put("/v1/agent/service/register", `{"Name":"web","Token":"from-body"}`, map[string]string{"X-Consul-Token": "from-header"})
	if got := last("service-token"); got != "from-header" {
		t.Errorf("service token %q, want the header's", got)
	}
	put("/v1/agent/service/register", `{"Name":"web","Token":"from-body"}`, nil)
	if got := last("service-token"); got != "" {
		t.Errorf("service token %q without one in the request, want none (the default token applies)", got)
	}
	put("/v1/agent/check/register?token=from-query", `{"Name":"c","TTL":"10s","Token":"from-body"}`, nil)
	if got := last("check-token"); got != "from-query" {
		t.Errorf("check token %q, want the query's", got)
	}
	put("/v1/agent/check/register", `{"Name":"c","TTL":"10s"}`, map[string]string{"Authorization": "Bearer from-bearer"})
	if got := last("check-token"); got != "from-bearer" {
		t.Errorf("check token %q, want the bearer's", got)
	}
	// Maintenance: Consul stores the request's token with the check.
	put("/v1/agent/service/maintenance/web?enable=true", "", map[string]string{"X-Consul-Token": "maint-svc"})
	if got := last("maint-token"); got != "maint-svc" {
		t.Errorf("service maintenance token %q, want the header's", got)
	}
	put("/v1/agent/maintenance?enable=true&token=maint-node", "", nil)
	if got := last("maint-token"); got != "maint-node" {
		t.Errorf("node maintenance token %q, want the query's", got)
	}
}
