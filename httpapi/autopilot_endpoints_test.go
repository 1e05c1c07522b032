package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/structs"
)

// autopilotAgent answers the operator methods; the rest goes to the fake.
type autopilotAgent struct {
	*fakeAgent
	mu      sync.Mutex
	cfg     structs.AutopilotConfig
	set     *structs.AutopilotSetConfigRequest
	healthy bool
	wan     []byte
}

func (a *autopilotAgent) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch method {
	case structs.MethodOperatorAutopilotGetConfiguration:
		*reply.(*structs.AutopilotConfig) = a.cfg
	case structs.MethodOperatorAutopilotSetConfiguration:
		a.set = args.(*structs.AutopilotSetConfigRequest)
		*reply.(*bool) = !a.set.CAS || a.set.Config.ModifyIndex == a.cfg.ModifyIndex
	case structs.MethodOperatorServerHealth:
		*reply.(*structs.OperatorHealthReply) = structs.OperatorHealthReply{Healthy: a.healthy,
			Servers: []structs.ServerHealth{{ID: "id1", Name: "s1", LastContact: 20 * time.Millisecond, Healthy: a.healthy, Voter: true}}}
	case structs.MethodOperatorRaftTransferLeader:
		reply.(*structs.RaftLeaderTransferResponse).Success = args.(*structs.RaftLeaderTransferRequest).ID == "id2"
	case structs.MethodOperatorWANHealth:
		reply.(*structs.WANHealthReply).JSON = a.wan
	default:
		a.mu.Unlock()
		defer a.mu.Lock()
		return a.fakeAgent.RPC(ctx, method, args, reply)
	}
	return nil
}

func TestAutopilotEndpoints(t *testing.T) {
	a := &autopilotAgent{fakeAgent: newFakeAgent(), healthy: true, wan: []byte(`[{"Datacenter":"dc1"}]`),
		cfg: structs.AutopilotConfig{CleanupDeadServers: true, LastContactThreshold: 200 * time.Millisecond, MaxTrailingLogs: 250,
			ServerStabilizationTime: 10 * time.Second, CreateIndex: 4, ModifyIndex: 9}}
	srv := mustNew(t, DefaultConfig(), a)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	c, err := api.NewClient(&api.Config{Address: strings.TrimPrefix(ts.URL, "http://")})
	if err != nil {
		t.Fatal(err)
	}
	op := c.Operator()
	conf, err := op.AutopilotGetConfiguration(nil)
	if err != nil || conf.LastContactThreshold.Duration() != 200*time.Millisecond || conf.ModifyIndex != 9 || conf.CreateIndex != 4 {
		t.Fatalf("get: %+v %v", conf, err)
	}
	if code, body, _ := do(t, ts, "GET", "/v1/operator/autopilot/configuration", ""); code != 200 ||
		!strings.Contains(body, `"LastContactThreshold":"200ms"`) || !strings.Contains(body, `"ServerStabilizationTime":"10s"`) {
		t.Fatalf("get body %d %s", code, body)
	}
	conf.MaxTrailingLogs = 5
	if ok, err := op.AutopilotCASConfiguration(conf, nil); err != nil || !ok || a.set.Config.MaxTrailingLogs != 5 || !a.set.CAS {
		t.Fatalf("cas: %v %v %+v", ok, err, a.set)
	}
	conf.ModifyIndex = 3
	if ok, err := op.AutopilotCASConfiguration(conf, nil); err != nil || ok {
		t.Fatalf("stale cas: %v %v", ok, err)
	}
	// A number of nanoseconds is a duration too; without cas the answer is true.
	code, body, _ := do(t, ts, "PUT", "/v1/operator/autopilot/configuration", `{"LastContactThreshold": 1000000000, "ServerStabilizationTime": "3s"}`)
	if code != 200 || strings.TrimSpace(body) != "true" || a.set.CAS || a.set.Config.LastContactThreshold != time.Second || a.set.Config.ServerStabilizationTime != 3*time.Second {
		t.Fatalf("put %d %s %+v", code, body, a.set)
	}
	if code, _, _ := do(t, ts, "PUT", "/v1/operator/autopilot/configuration?cas=x", `{}`); code != 400 {
		t.Fatalf("bad cas: %d", code)
	}

	h, err := op.AutopilotServerHealth(nil)
	if err != nil || !h.Healthy || len(h.Servers) != 1 || h.Servers[0].LastContact.Duration() != 20*time.Millisecond {
		t.Fatalf("health %+v %v", h, err)
	}
	a.mu.Lock()
	a.healthy = false
	a.mu.Unlock()
	if code, body, _ := do(t, ts, "GET", "/v1/operator/autopilot/health", ""); code != http.StatusTooManyRequests || !strings.Contains(body, `"Healthy":false`) {
		t.Fatalf("unhealthy: %d %s", code, body)
	}
	if h, err := op.AutopilotServerHealth(nil); err != nil || h.Healthy {
		t.Fatalf("unhealthy via client: %+v %v", h, err)
	}

	if res, err := op.RaftLeaderTransfer("id2", nil); err != nil || !res.Success {
		t.Fatalf("transfer: %+v %v", res, err)
	}
	if code, _, _ := do(t, ts, "GET", "/v1/operator/raft/transfer-leader", ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET transfer-leader: %d", code)
	}
	// A client agent (no WANHealth of its own) asks a server.
	if code, body, _ := do(t, ts, "GET", "/v1/operator/wan", ""); code != 200 || strings.TrimSpace(body) != `[{"Datacenter":"dc1"}]` {
		t.Fatalf("wan on a client: %d %s", code, body)
	}
}
