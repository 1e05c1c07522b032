package httpapi

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"consulate/structs"
)

// uiSvcAgent answers Internal.ServiceSummary as a server would.
type uiSvcAgent struct {
	*fakeAgent
	mu   sync.Mutex
	args *structs.DCSpecificRequest
}

func (a *uiSvcAgent) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	if method != structs.MethodInternalServiceSummary {
		return a.fakeAgent.RPC(ctx, method, args, reply)
	}
	a.mu.Lock()
	a.args = args.(*structs.DCSpecificRequest)
	a.mu.Unlock()
	out := reply.(*structs.IndexedServiceSummaries)
	out.Services = []*structs.ServiceSummary{{Name: "web", Datacenter: "dc2", Nodes: []string{"n1"},
		InstanceCount: 2, ChecksPassing: 3, ChecksCritical: 1}}
	out.Index = 9
	return nil
}

func TestUIServicesEndpoint(t *testing.T) {
	a := &uiSvcAgent{fakeAgent: newFakeAgent()}
	ts := httptest.NewServer(mustNew(t, DefaultConfig(), a).Handler())
	t.Cleanup(ts.Close)
	code, body, h := do(t, ts, "GET", "/v1/internal/ui/services?dc=dc2&index=8&wait=2s&stale", "")
	if code != 200 || h.Get("X-Consul-Index") != "9" {
		t.Fatalf("%d %q %s", code, h.Get("X-Consul-Index"), body)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got) != 1 {
		t.Fatalf("body %s: %v", body, err)
	}
	g := got[0]
	if g["Name"] != "web" || g["Datacenter"] != "dc2" || g["InstanceCount"] != 2.0 ||
		g["ChecksPassing"] != 3.0 || g["ChecksWarning"] != 0.0 || g["ChecksCritical"] != 1.0 || g["Kind"] != "" {
		t.Fatalf("summary %v", g)
	}
	if tags, ok := g["Tags"].([]any); !ok || len(tags) != 0 {
		t.Fatalf("Tags %v", g["Tags"])
	}
	a.mu.Lock()
	args := a.args
	a.mu.Unlock()
	if args.Datacenter != "dc2" || args.MinQueryIndex != 8 || args.MaxQueryTime != 2*time.Second || !args.AllowStale {
		t.Fatalf("args %+v", args)
	}
	if code, _, _ := do(t, ts, "PUT", "/v1/internal/ui/services", ""); code != 405 {
		t.Fatalf("PUT: %d", code)
	}
}
