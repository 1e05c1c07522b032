package server

import (
	"context"
	"testing"

	"consulate/structs"
)

// TestSerfHealthKeepsAgentNodeFields: the leader's member reconciliation
// moves a node's address without overwriting the meta and tagged
// addresses the agent's sync wrote after the leader read the node.
func TestSerfHealthKeepsAgentNodeFields(t *testing.T) {
	s := devServer(t)
	ctx := context.Background()
	reg := func(meta string) {
		rpc(t, s, structs.MethodCatalogRegister, &structs.RegisterRequest{Node: "n9", Address: "10.0.0.1",
			TaggedAddresses: map[string]string{"lan": "10.0.0.1"}, NodeMeta: map[string]string{"v": meta}}, &struct{}{})
	}
	reg("1")
	_, stale, err := s.State().GetNode(nil, "n9")
	if err != nil || stale == nil {
		t.Fatal(stale, err)
	}
	reg("2") // the agent's sync, after the leader's read
	if err := s.moveMemberNode(ctx, stale, "10.0.0.2", stale.ID); err == nil {
		t.Fatal("a stale read overwrote the node")
	}
	if _, n, _ := s.State().GetNode(nil, "n9"); n.Meta["v"] != "2" || n.Address != "10.0.0.1" {
		t.Fatalf("node after a refused move: %+v", n)
	}
	// A fresh reconcile moves the address and keeps the agent's fields.
	if err := s.ensureSerfHealth(ctx, structs.Member{Name: "n9", Addr: "10.0.0.2"}, structs.HealthPassing, "Agent alive and reachable"); err != nil {
		t.Fatal(err)
	}
	_, n, _ := s.State().GetNode(nil, "n9")
	if n.Address != "10.0.0.2" || n.Meta["v"] != "2" || n.TaggedAddresses["lan"] != "10.0.0.1" {
		t.Fatalf("node after reconcile: %+v", n)
	}
	_, checks, _ := s.State().NodeChecks(nil, "n9")
	if len(checks) != 1 || checks[0].CheckID != structs.SerfCheckID || checks[0].Status != structs.HealthPassing {
		t.Fatalf("checks: %+v", checks)
	}
}

// TestSerfHealthSetWhenNodeMoveLosesRace: when the agent's sync changes
// the node between the leader's read and its move, the move waits for the
// next reconcile but serfHealth is still set (a failed member is marked
// critical now, not a reconcile later).
func TestSerfHealthSetWhenNodeMoveLosesRace(t *testing.T) {
	s := devServer(t)
	ctx := context.Background()
	reg := func(meta string) {
		rpc(t, s, structs.MethodCatalogRegister, &structs.RegisterRequest{Node: "n8", Address: "10.0.0.1",
			NodeMeta: map[string]string{"v": meta}}, &struct{}{})
	}
	reg("1")
	raced := false
	hook := func() {
		if !raced {
			raced = true
			reg("2") // the agent's sync wins the race
		}
	}
	s.beforeNodeMove.Store(&hook)
	defer s.beforeNodeMove.Store(nil)
	if err := s.ensureSerfHealth(ctx, structs.Member{Name: "n8", Addr: "10.0.0.2"}, structs.HealthCritical, "Agent not live or unreachable"); err != nil {
		t.Fatal(err)
	}
	if !raced {
		t.Fatal("the node was not moved")
	}
	_, checks, _ := s.State().NodeChecks(nil, "n8")
	if len(checks) != 1 || checks[0].CheckID != structs.SerfCheckID || checks[0].Status != structs.HealthCritical {
		t.Fatalf("checks after a lost race: %+v", checks)
	}
	if _, n, _ := s.State().GetNode(nil, "n8"); n.Meta["v"] != "2" || n.Address != "10.0.0.1" {
		t.Fatalf("node after a lost race: %+v", n)
	}
}
