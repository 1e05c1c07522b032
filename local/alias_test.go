package local

import (
	"context"
	"fmt"
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
	f := newFakeCatalog()
	f.node = &structs.Node{Node: "node2"}
	f.services["api1"] = &structs.NodeService{ID: "api1", Service: "api"}
	f.checks["api-c"] = &structs.HealthCheck{Node: "node2", CheckID: "api-c", Name: "api-c", ServiceID: "api1", Status: structs.HealthCritical, Output: "boom"}
	s := newTestState(t, testConfig(), f)
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
	if f.count(structs.MethodHealthNodeChecks) == 0 {
		t.Fatal("no Health.NodeChecks query")
	}
}
