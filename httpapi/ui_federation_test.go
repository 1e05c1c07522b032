package httpapi

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"consulate/structs"
)

// uiFedAgent answers Internal.UIFederation as a server would.
type uiFedAgent struct {
	*fakeAgent
	mu   sync.Mutex
	args *structs.DCSpecificRequest
}

func (a *uiFedAgent) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	if method != structs.MethodInternalUIFederation {
		return a.fakeAgent.RPC(ctx, method, args, reply)
	}
	a.mu.Lock()
	a.args = args.(*structs.DCSpecificRequest)
	a.mu.Unlock()
	*reply.(*structs.UIFederationReply) = structs.UIFederationReply{JSON: []byte(`{"Datacenters":[{"Datacenter":"dc1"}]}`), Index: 7}
	return nil
}

func TestUIFederationEndpoint(t *testing.T) {
	// On a server: Config.UIFederation answers, with ?index= and ?wait=.
	var gotMin uint64
	var gotWait time.Duration
	cfg := DefaultConfig()
	cfg.UIFederation = func(_ context.Context, minIndex uint64, wait time.Duration) (any, uint64) {
		gotMin, gotWait = minIndex, wait
		return map[string]any{"Datacenters": []any{}}, 42
	}
	ts := httptest.NewServer(mustNew(t, cfg, newFakeAgent()).Handler())
	t.Cleanup(ts.Close)
	code, body, h := do(t, ts, "GET", "/v1/internal/ui/federation?index=41&wait=3s", "")
	if code != 200 || h.Get("X-Consul-Index") != "42" || !strings.Contains(body, `"Datacenters"`) {
		t.Fatalf("server: %d %q %s", code, h.Get("X-Consul-Index"), body)
	}
	if gotMin != 41 || gotWait != 3*time.Second {
		t.Fatalf("server: min %d wait %v", gotMin, gotWait)
	}
	if code, _, _ := do(t, ts, "PUT", "/v1/internal/ui/federation", ""); code != 405 {
		t.Fatalf("PUT: %d", code)
	}

	// On a client agent: asked of a server, stale, with the index and wait.
	a := &uiFedAgent{fakeAgent: newFakeAgent()}
	ts2 := httptest.NewServer(mustNew(t, DefaultConfig(), a).Handler())
	t.Cleanup(ts2.Close)
	code, body, h = do(t, ts2, "GET", "/v1/internal/ui/federation?index=5&wait=2s", "")
	if code != 200 || h.Get("X-Consul-Index") != "7" || !strings.Contains(body, `"dc1"`) {
		t.Fatalf("client: %d %q %s", code, h.Get("X-Consul-Index"), body)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.args == nil || a.args.MinQueryIndex != 5 || a.args.MaxQueryTime != 2*time.Second || !a.args.AllowStale {
		t.Fatalf("client args %+v", a.args)
	}
}
