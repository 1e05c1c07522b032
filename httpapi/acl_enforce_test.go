package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"consulate/acl"
	"consulate/structs"
)

// Authorize resolves from f.acls; nil is ACLs off (manage everything).
func (f *fakeAgent) Authorize(ctx context.Context, secret string) (acl.Authorizer, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.acls == nil {
		return acl.ManageAll(), "", nil
	}
	if secret == "" {
		secret = "anonymous"
	}
	z, ok := f.acls[secret]
	if !ok {
		return nil, "", structs.ErrACLNotFound
	}
	return z, "acc-" + secret, nil
}

func mustPolicy(t *testing.T, rules string) acl.Authorizer {
	t.Helper()
	p, err := acl.ParsePolicy(rules)
	if err != nil {
		t.Fatal(err)
	}
	return acl.NewAuthorizer(false, p)
}

// doToken is do with an X-Consul-Token.
func doToken(t *testing.T, url, method, path, tok, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("X-Consul-Token", tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String(), resp.Header
}

func TestAgentEndpointsEnforceACLs(t *testing.T) {
	f := newFakeAgent()
	_, ts := newTestServer(t, f)
	// Set up with ACLs off: a web service with a check, a node check, an event.
	for _, p := range []struct{ path, body string }{
		{"/v1/agent/service/register", `{"ID":"web1","Name":"web","Check":{"CheckID":"web-ttl","TTL":"10s"}}`},
		{"/v1/agent/service/register", `{"ID":"db1","Name":"db"}`},
		{"/v1/agent/check/register", `{"CheckID":"node-ttl","Name":"node-ttl","TTL":"10s"}`},
		{"/v1/event/fire/deploy", ``},
		{"/v1/event/fire/secret", ``},
	} {
		if code, body, _ := doToken(t, ts.URL, "PUT", p.path, "", p.body); code != 200 {
			t.Fatalf("%s: %d %s", p.path, code, body)
		}
	}
	f.mu.Lock()
	f.acls = map[string]acl.Authorizer{
		"anonymous": acl.DenyAll(),
		"mgmt":      acl.ManageAll(),
		"agentr":    mustPolicy(t, `agent "node1" { policy = "read" }`),
		"agentw":    mustPolicy(t, `agent "node1" { policy = "write" }`),
		"webw":      mustPolicy(t, `service "web" { policy = "write" }`),
		"webr":      mustPolicy(t, `service "web" { policy = "read" }`),
		"nodew":     mustPolicy(t, `node "node1" { policy = "write" }`),
		"noder":     mustPolicy(t, `node_prefix "" { policy = "read" }`),
		"operw":     mustPolicy(t, `operator = "write"`),
		"keyr":      mustPolicy(t, `keyring = "read"`),
		"events":    mustPolicy(t, `event "deploy" { policy = "write" }`),
	}
	f.mu.Unlock()

	tests := []struct {
		method, path, token, body string
		want                      int
		wantText                  string
	}{
		{"GET", "/v1/agent/host", "agentr", "", 403, "operator:read"},
		{"GET", "/v1/agent/host", "operw", "", 200, "CollectionTime"},
		{"GET", "/v1/agent/version", "", "", 200, "HumanVersion"},
		{"GET", "/v1/agent/health/service/id/web1", "webr", "", 503, "critical"},
		{"GET", "/v1/agent/health/service/id/db1", "webr", "", 403, "service:read"},
		{"GET", "/v1/agent/health/service/name/web?format=text", "webr", "", 503, "critical"},
		{"GET", "/v1/agent/health/service/name/db", "webr", "", 403, "service:read"},
		{"GET", "/v1/agent/self", "", "", 403, "Permission denied"},
		{"GET", "/v1/agent/self", "bogus", "", 403, "ACL not found"},
		{"GET", "/v1/agent/self", "agentr", "", 200, ""},
		{"GET", "/v1/agent/self", "mgmt", "", 200, ""},
		{"GET", "/v1/agent/metrics", "agentr", "", 200, ""},
		{"GET", "/v1/agent/metrics", "webw", "", 403, "agent:read"},
		{"PUT", "/v1/agent/reload", "agentr", "", 403, "agent:write"},
		{"PUT", "/v1/agent/reload", "agentw", "", 200, ""},
		{"PUT", "/v1/agent/join/127.0.0.2", "agentr", "", 403, ""},
		{"PUT", "/v1/agent/join/127.0.0.2", "agentw", "", 200, ""},
		{"PUT", "/v1/agent/force-leave/node2", "agentw", "", 403, "operator:write"},
		{"PUT", "/v1/agent/force-leave/node2", "operw", "", 200, ""},
		{"PUT", "/v1/agent/maintenance?enable=true", "agentw", "", 403, "node:write"},
		{"PUT", "/v1/agent/maintenance?enable=false", "nodew", "", 200, ""},
		{"GET", "/v1/agent/service/web1", "webr", "", 200, ""},
		{"GET", "/v1/agent/service/db1", "webr", "", 403, "service:read"},
		{"PUT", "/v1/agent/service/register", "webr", `{"ID":"web2","Name":"web"}`, 403, "service:write"},
		{"PUT", "/v1/agent/service/register", "webw", `{"ID":"web2","Name":"web"}`, 200, ""},
		// Taking over db1's ID needs write on db too.
		{"PUT", "/v1/agent/service/register", "webw", `{"ID":"db1","Name":"web"}`, 403, `"db"`},
		{"PUT", "/v1/agent/service/maintenance/web1?enable=true", "webw", "", 200, ""},
		{"PUT", "/v1/agent/service/maintenance/db1?enable=true", "webw", "", 403, ""},
		{"PUT", "/v1/agent/check/pass/web-ttl", "webw", "", 200, ""},
		{"PUT", "/v1/agent/check/pass/node-ttl", "webw", "", 403, "node:write"},
		{"PUT", "/v1/agent/check/update/node-ttl", "nodew", `{"Status":"passing"}`, 200, ""},
		{"PUT", "/v1/agent/check/register", "webw", `{"CheckID":"n2","Name":"n2","TTL":"10s"}`, 403, "node:write"},
		{"PUT", "/v1/agent/check/register", "nodew", `{"CheckID":"n2","Name":"n2","TTL":"10s"}`, 200, ""},
		{"PUT", "/v1/agent/check/register", "nodew", `{"CheckID":"w2","Name":"w2","TTL":"10s","ServiceID":"web1"}`, 403, "service:write"},
		{"PUT", "/v1/agent/check/register", "webw", `{"CheckID":"w2","Name":"w2","TTL":"10s","ServiceID":"web1"}`, 200, ""},
		{"PUT", "/v1/agent/check/deregister/n2", "webw", "", 403, ""},
		{"PUT", "/v1/agent/check/deregister/n2", "nodew", "", 200, ""},
		{"PUT", "/v1/agent/service/deregister/db1", "webw", "", 403, ""},
		{"PUT", "/v1/agent/service/deregister/web2", "webw", "", 200, ""},
		{"GET", "/v1/operator/keyring", "webw", "", 403, "keyring:read"},
		{"PUT", "/v1/operator/keyring", "keyr", `{"Key":"x"}`, 403, "keyring:write"},
		{"PUT", "/v1/event/fire/deploy", "events", "", 200, ""},
		{"PUT", "/v1/event/fire/other", "events", "", 403, "event:write"},
		{"PUT", "/v1/agent/leave", "agentr", "", 403, ""},
	}
	for _, tt := range tests {
		code, body, _ := doToken(t, ts.URL, tt.method, tt.path, tt.token, tt.body)
		if code != tt.want || !strings.Contains(body, tt.wantText) {
			t.Errorf("%s %s (token %q) = %d %q, want %d containing %q", tt.method, tt.path, tt.token, code, body, tt.want, tt.wantText)
		}
	}
}

func TestAgentListingsFilteredByACLs(t *testing.T) {
	f := newFakeAgent()
	_, ts := newTestServer(t, f)
	for _, p := range []struct{ path, body string }{
		{"/v1/agent/service/register", `{"ID":"web1","Name":"web","Check":{"CheckID":"web-ttl","TTL":"10s"}}`},
		{"/v1/agent/service/register", `{"ID":"db1","Name":"db"}`},
		{"/v1/agent/check/register", `{"CheckID":"node-ttl","Name":"node-ttl","TTL":"10s"}`},
		{"/v1/event/fire/deploy", ``},
		{"/v1/event/fire/secret", ``},
	} {
		if code, body, _ := doToken(t, ts.URL, "PUT", p.path, "", p.body); code != 200 {
			t.Fatalf("%s: %d %s", p.path, code, body)
		}
	}
	f.mu.Lock()
	f.acls = map[string]acl.Authorizer{
		"anonymous": acl.DenyAll(),
		"webr":      mustPolicy(t, `service "web" { policy = "read" }`),
		"noder":     mustPolicy(t, `node_prefix "" { policy = "read" }`),
		"evr":       mustPolicy(t, `event "deploy" { policy = "read" }`),
		"mgmt":      acl.ManageAll(),
	}
	f.mu.Unlock()

	keys := func(body string) []string {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		return sortedKeys(m)
	}
	tests := []struct {
		path, token  string
		want         string // the listing, summarised
		wantFiltered bool
	}{
		{"/v1/agent/services", "webr", "web1", true},
		{"/v1/agent/services", "mgmt", "db1,web1", false},
		{"/v1/agent/checks", "webr", "web-ttl", true},
		{"/v1/agent/checks", "noder", "node-ttl", true},
		{"/v1/agent/checks", "mgmt", "node-ttl,web-ttl", false},
		{"/v1/agent/members", "", "", true},
		{"/v1/agent/members", "noder", "node1", false},
		{"/v1/agent/members?wan", "noder", "node1.dc1", false},
		{"/v1/event/list", "evr", "deploy", true},
		{"/v1/event/list", "mgmt", "deploy,secret", false},
	}
	for _, tt := range tests {
		code, body, h := doToken(t, ts.URL, "GET", tt.path, tt.token, "")
		if code != 200 {
			t.Fatalf("%s: %d %s", tt.path, code, body)
		}
		var got []string
		switch {
		case strings.Contains(tt.path, "members"):
			var ms []structs.Member
			json.Unmarshal([]byte(body), &ms)
			for _, m := range ms {
				got = append(got, m.Name)
			}
		case strings.Contains(tt.path, "event"):
			var evs []structs.UserEvent
			json.Unmarshal([]byte(body), &evs)
			for _, e := range evs {
				got = append(got, e.Name)
			}
		default:
			got = keys(body)
		}
		if g := strings.Join(got, ","); g != tt.want {
			t.Errorf("%s (token %q) = %q, want %q", tt.path, tt.token, g, tt.want)
		}
		if filtered := h.Get(filteredHeader) == "true"; filtered != tt.wantFiltered {
			t.Errorf("%s (token %q): filtered header %v, want %v", tt.path, tt.token, filtered, tt.wantFiltered)
		}
	}
}
