package local

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

func waitCheckStatus(t *testing.T, s *State, id, status string) *structs.HealthCheck {
	t.Helper()
	var hc *structs.HealthCheck
	testutil.WaitForErr(t, 5*time.Second, id+" "+status, func() error {
		if hc = s.Check(id); hc != nil && hc.Status == status {
			return nil
		}
		return fmt.Errorf("check %+v", hc)
	})
	return hc
}

// TestAliasFollowsLocalService: an alias of a local service follows its
// check to critical and back, and goes critical when the service leaves.
func TestAliasFollowsLocalService(t *testing.T) {
	f := newFakeCatalog()
	s := newTestState(t, testConfig(), f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	if err := s.AddService(&structs.NodeService{ID: "db1", Service: "db"},
		[]*structs.CheckType{{CheckID: "db-ttl", TTL: time.Minute, Status: structs.HealthPassing}}, false, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AddService(&structs.NodeService{ID: "proxy1", Service: "proxy"},
		[]*structs.CheckType{{CheckID: "proxy-alias", AliasService: "db1"}}, false, ""); err != nil {
		t.Fatal(err)
	}
	hc := waitCheckStatus(t, s, "proxy-alias", structs.HealthPassing)
	if hc.Type != "alias" || hc.Output != "All checks passing." {
		t.Fatalf("alias check %+v", hc)
	}
	if err := s.UpdateTTLCheck("db-ttl", structs.HealthCritical, "down"); err != nil {
		t.Fatal(err)
	}
	hc = waitCheckStatus(t, s, "proxy-alias", structs.HealthCritical)
	if hc.Output != `Aliased check "Service 'db' check" failing: down` {
		t.Fatalf("output %q", hc.Output)
	}
	if err := s.UpdateTTLCheck("db-ttl", structs.HealthWarning, "slow"); err != nil {
		t.Fatal(err)
	}
	waitCheckStatus(t, s, "proxy-alias", structs.HealthWarning)
	if err := s.UpdateTTLCheck("db-ttl", structs.HealthPassing, "ok"); err != nil {
		t.Fatal(err)
	}
	waitCheckStatus(t, s, "proxy-alias", structs.HealthPassing)
	if err := s.RemoveService("db1", false); err != nil {
		t.Fatal(err)
	}
	hc = waitCheckStatus(t, s, "proxy-alias", structs.HealthCritical)
	if hc.Output != "Service db1 could not be found on the local node" {
		t.Fatalf("output %q", hc.Output)
	}
}

// TestAliasRemoteNode: an alias of another node's service asks the
// servers (Health.NodeChecks, Catalog.NodeServices).
func TestAliasRemoteNode(t *testing.T) {
	// node2's data is answered here; everything else (node1's
	// anti-entropy) goes to the fake catalog.
	f := newFakeCatalog()
	var mu sync.Mutex
	calls := map[structs.Method]int{}
	rpc := func(ctx context.Context, method structs.Method, args, reply any) error {
		req, ok := args.(*structs.NodeSpecificRequest)
		if !ok || req.Node != "node2" {
			return f.RPC(ctx, method, args, reply)
		}
		mu.Lock()
		calls[method]++
		mu.Unlock()
		switch method {
		case structs.MethodHealthNodeChecks:
			reply.(*structs.IndexedHealthChecks).HealthChecks = structs.HealthChecks{
				{Node: "node2", CheckID: "api-c", Name: "api-c", ServiceID: "api1", Status: structs.HealthCritical, Output: "boom"},
				{Node: "node2", CheckID: "other", Name: "other", ServiceID: "x1", Status: structs.HealthCritical},
			}
			reply.(*structs.IndexedHealthChecks).Index = 7
		case structs.MethodCatalogNodeServices:
			reply.(*structs.IndexedNodeServices).NodeServices = &structs.NodeServices{
				Node: &structs.Node{Node: "node2"}, Services: map[string]*structs.NodeService{"api1": {ID: "api1", Service: "api"}},
			}
		default:
			return fmt.Errorf("unexpected %s", method)
		}
		return nil
	}
	s, err := New(testConfig(), rpc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	if err := s.AddCheck(&structs.HealthCheck{CheckID: "remote-alias"}, &structs.CheckType{AliasNode: "node2", AliasService: "api1"}, false); err != nil {
		t.Fatal(err)
	}
	testutil.WaitForErr(t, 5*time.Second, "alias of node2's api1", func() error {
		if hc := s.Check("remote-alias"); hc == nil || hc.Output != `Aliased check "api-c" failing: boom` {
			return fmt.Errorf("check %+v", hc)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if calls[structs.MethodHealthNodeChecks] == 0 || calls[structs.MethodCatalogNodeServices] == 0 {
		t.Fatalf("queries %v", calls)
	}
}

// TestNewKindsPersist: checks of the new kinds come back from the data
// directory with their definitions.
func TestNewKindsPersist(t *testing.T) {
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	cfg.EnableScriptChecks = true // the Docker check is a script check
	s, err := New(cfg, newFakeCatalog().RPC)
	if err != nil {
		t.Fatal(err)
	}
	cts := []*structs.CheckType{
		{CheckID: "u", UDP: "127.0.16.40:53", Interval: time.Minute},
		{CheckID: "h", H2PING: "127.0.16.40:443", H2PingUseTLS: true, Interval: time.Minute},
		{CheckID: "g", GRPC: "127.0.16.40:9090/web", GRPCUseTLS: true, Interval: time.Minute},
		{CheckID: "o", OSService: "nginx", Interval: time.Minute},
		{CheckID: "a", AliasService: "db1", AliasNode: "n2"},
		{CheckID: "d", DockerContainerID: "abc", Args: []string{"true"}, Interval: time.Minute},
	}
	if err := s.AddService(web(), cts, true, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	s2 := newTestState(t, cfg, newFakeCatalog())
	if err := s2.Load(); err != nil {
		t.Fatal(err)
	}
	for _, want := range cts {
		got := s2.CheckDefinition(want.CheckID)
		if got == nil || got.Kind() != want.Kind() || got.UDP != want.UDP || got.H2PING != want.H2PING ||
			got.H2PingUseTLS != want.H2PingUseTLS || got.GRPC != want.GRPC || got.GRPCUseTLS != want.GRPCUseTLS ||
			got.OSService != want.OSService || got.AliasService != want.AliasService || got.AliasNode != want.AliasNode ||
			got.DockerContainerID != want.DockerContainerID {
			t.Errorf("%s: got %+v, want %+v", want.CheckID, got, want)
		}
	}
	if hc := s2.Check("u"); hc == nil || hc.Type != "udp" || hc.Definition.UDP != "127.0.16.40:53" {
		t.Errorf("udp check %+v", hc)
	}
}

// TestAliasRemoteUsesAliasRPC: a remote alias queries through
// Config.AliasRPC (the agent's user token), never the sync RPC (the agent
// token); and a failed Catalog.NodeServices read counts the service as
// present, as Consul's does.
func TestAliasRemoteUsesAliasRPC(t *testing.T) {
	f := newFakeCatalog()
	var mu sync.Mutex
	viaSync, viaAlias := 0, 0
	syncRPC := func(ctx context.Context, method structs.Method, args, reply any) error {
		if req, ok := args.(*structs.NodeSpecificRequest); ok && req.Node == "node2" {
			mu.Lock()
			viaSync++
			mu.Unlock()
			return fmt.Errorf("asked with the agent token")
		}
		return f.RPC(ctx, method, args, reply)
	}
	cfg := testConfig()
	cfg.AliasRPC = func(ctx context.Context, method structs.Method, args, reply any) error {
		mu.Lock()
		viaAlias++
		mu.Unlock()
		switch method {
		case structs.MethodHealthNodeChecks:
			reply.(*structs.IndexedHealthChecks).HealthChecks = structs.HealthChecks{
				{Node: "node2", CheckID: "api-c", Name: "api-c", ServiceID: "api1", Status: structs.HealthPassing},
			}
			reply.(*structs.IndexedHealthChecks).Index = 7
			return nil
		case structs.MethodCatalogNodeServices:
			return fmt.Errorf("rpc error: no leader")
		}
		return fmt.Errorf("unexpected %s", method)
	}
	s, err := New(cfg, syncRPC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	if err := s.AddCheck(&structs.HealthCheck{CheckID: "remote-alias"}, &structs.CheckType{AliasNode: "node2", AliasService: "api1"}, false); err != nil {
		t.Fatal(err)
	}
	hc := waitCheckStatus(t, s, "remote-alias", structs.HealthPassing)
	if hc.Output != "All checks passing." {
		t.Fatalf("output %q", hc.Output)
	}
	mu.Lock()
	defer mu.Unlock()
	if viaSync != 0 || viaAlias == 0 {
		t.Fatalf("queries through the sync RPC %d, through AliasRPC %d", viaSync, viaAlias)
	}
}
