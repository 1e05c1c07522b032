package httpapi

import (
	"strings"
	"testing"

	"consulate/structs"
)

// Every agent endpoint that changes services or checks waits for the
// change to reach the servers (SyncChanges, after the change) before it
// answers; a failed sync still answers 200; a refused change does not
// sync.
func TestAgentWritesSyncBeforeAnswering(t *testing.T) {
	f := newFakeAgent()
	_, ts := newTestServer(t, f)
	steps := []struct {
		method, path, body string
		// id is what the sync must have seen, with its status ("svc" for
		// a service, "" for gone).
		id, want string
	}{
		{"PUT", "/v1/agent/service/register", `{"ID":"web1","Name":"web","Check":{"CheckID":"web-ttl","TTL":"10s"}}`, "web1", "svc"},
		{"PUT", "/v1/agent/check/pass/web-ttl", "", "web-ttl", structs.HealthPassing},
		{"PUT", "/v1/agent/check/warn/web-ttl", "", "web-ttl", structs.HealthWarning},
		{"PUT", "/v1/agent/check/fail/web-ttl", "", "web-ttl", structs.HealthCritical},
		{"PUT", "/v1/agent/check/update/web-ttl", `{"Status":"passing","Output":"ok"}`, "web-ttl", structs.HealthPassing},
		{"PUT", "/v1/agent/check/register", `{"Name":"disk","TTL":"10s"}`, "disk", structs.HealthCritical},
		{"PUT", "/v1/agent/check/deregister/disk", "", "disk", ""},
		{"PUT", "/v1/agent/service/maintenance/web1?enable=true", "", structs.ServiceMaintPrefix + "web1", structs.HealthCritical},
		{"PUT", "/v1/agent/service/maintenance/web1?enable=false", "", structs.ServiceMaintPrefix + "web1", ""},
		{"PUT", "/v1/agent/maintenance?enable=true", "", structs.NodeMaintCheckID, structs.HealthCritical},
		{"PUT", "/v1/agent/maintenance?enable=false", "", structs.NodeMaintCheckID, ""},
		{"PUT", "/v1/agent/service/deregister/web1", "", "web1", ""},
	}
	for _, st := range steps {
		before, _ := f.syncState()
		code, body, _ := do(t, ts, st.method, st.path, st.body)
		if code != 200 {
			t.Fatalf("%s %s: %d %s", st.method, st.path, code, body)
		}
		after, synced := f.syncState()
		if after != before+1 {
			t.Fatalf("%s: %d syncs before answering, want 1", st.path, after-before)
		}
		if got := synced[st.id]; got != st.want {
			t.Fatalf("%s: the sync saw %q for %s, want %q (synced before the change?)", st.path, got, st.id, st.want)
		}
	}
}

func TestAgentWriteSucceedsWhenSyncFails(t *testing.T) {
	f := newFakeAgent()
	f.syncErr = structs.ErrNoServers
	_, ts := newTestServer(t, f)
	code, body, _ := do(t, ts, "PUT", "/v1/agent/service/register", `{"ID":"web1","Name":"web"}`)
	if code != 200 {
		t.Fatalf("register with no servers: %d %s", code, body)
	}
	if f.Services()["web1"] == nil {
		t.Fatal("change not kept locally")
	}
	if n, _ := f.syncState(); n != 1 {
		t.Fatalf("%d sync attempts, want 1", n)
	}
}

func TestRefusedAgentWriteDoesNotSync(t *testing.T) {
	f := newFakeAgent()
	_, ts := newTestServer(t, f)
	for _, c := range []struct{ path, body string }{
		{"/v1/agent/service/register", `{"Name":"web","Bogus":1}`},
		{"/v1/agent/service/deregister/ghost", ""},
		{"/v1/agent/check/pass/ghost", ""},
		{"/v1/agent/check/register", `{"Name":"c","TTL":"10s","ServiceID":"ghost"}`},
		{"/v1/agent/service/maintenance/ghost?enable=true", ""},
		{"/v1/agent/maintenance?enable=maybe", ""},
	} {
		code, body, _ := do(t, ts, "PUT", c.path, c.body)
		if code == 200 {
			t.Fatalf("%s accepted: %s", c.path, strings.TrimSpace(body))
		}
	}
	if n, _ := f.syncState(); n != 0 {
		t.Fatalf("%d syncs after refused writes", n)
	}
}
