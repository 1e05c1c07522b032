package server

import (
	"context"
	"strings"
	"testing"

	"consulate/structs"
)

// TestTxnCatalogOpsACL: catalog writes in a transaction need node:write
// or service:write, per operation; refused ones are the transaction's
// errors by index and nothing is applied; gets are filtered by read.
func TestTxnCatalogOpsACL(t *testing.T) {
	s := enforcingServer(t, nil)
	tok := tokenWith(t, s, "cat", `node_prefix "ok-" { policy = "write" }
service_prefix "web" { policy = "write" }
key_prefix "" { policy = "write" }`)
	var tr structs.TxnResponse
	rpc(t, s, structs.MethodTxnApply, as(tok, &structs.TxnRequest{Ops: []*structs.TxnOp{
		{Node: &structs.TxnNodeOp{Verb: structs.TxnSet, Node: structs.Node{Node: "ok-1", Address: "10.0.0.1"}}},
		{Service: &structs.TxnServiceOp{Verb: structs.TxnSet, Node: "ok-1", Service: structs.NodeService{Service: "web", Port: 80}}},
		{Check: &structs.TxnCheckOp{Verb: structs.TxnSet, Check: structs.HealthCheck{Node: "ok-1", CheckID: "c", ServiceID: "web", ServiceName: "web"}}},
	}}), &tr)
	if len(tr.Errors) != 0 || len(tr.Results) != 3 || tr.Results[2].Check.Status != structs.HealthCritical {
		t.Fatalf("allowed txn: %+v %+v", tr.Errors, tr.Results)
	}

	tr = structs.TxnResponse{}
	rpc(t, s, structs.MethodTxnApply, as(tok, &structs.TxnRequest{Ops: []*structs.TxnOp{
		{KV: &structs.TxnKVOp{Verb: structs.KVSet, DirEnt: structs.DirEntry{Key: "k", Value: []byte("1")}}},
		{Node: &structs.TxnNodeOp{Verb: structs.TxnSet, Node: structs.Node{Node: "other", Address: "10.0.0.2"}}},
		{Service: &structs.TxnServiceOp{Verb: structs.TxnDelete, Node: "ok-1", Service: structs.NodeService{ID: "db1", Service: "db"}}},
		{Check: &structs.TxnCheckOp{Verb: structs.TxnDelete, Check: structs.HealthCheck{Node: "other", CheckID: "serf"}}},
		{Service: &structs.TxnServiceOp{Verb: structs.TxnDelete, Node: "ok-1", Service: structs.NodeService{ID: "web"}}},
	}}), &tr)
	var idx []int
	for _, e := range tr.Errors {
		idx = append(idx, e.OpIndex)
	}
	if len(idx) != 4 || idx[0] != 1 || idx[1] != 2 || idx[2] != 3 || idx[3] != 4 ||
		!strings.Contains(tr.Errors[3].What, "Must provide service name") {
		t.Fatalf("refused ops: %+v", tr.Errors)
	}
	if _, e, _ := s.State().KVGet(nil, "k"); e != nil {
		t.Fatal("refused transaction applied its KV write")
	}

	// Reads: a node the token may not read is dropped from the results.
	reader := tokenWith(t, s, "reader", `node_prefix "nope-" { policy = "read" }`)
	var rr structs.TxnReadResponse
	rpc(t, s, structs.MethodTxnRead, as(reader, &structs.TxnReadRequest{Ops: []*structs.TxnOp{
		{Node: &structs.TxnNodeOp{Verb: structs.TxnGet, Node: structs.Node{Node: "ok-1"}}},
	}}), &rr)
	if len(rr.Errors) != 0 || len(rr.Results) != 0 {
		t.Fatalf("filtered read: %+v %+v", rr.Errors, rr.Results)
	}
	rpc(t, s, structs.MethodTxnRead, as(tok, &structs.TxnReadRequest{Ops: []*structs.TxnOp{
		{Node: &structs.TxnNodeOp{Verb: structs.TxnGet, Node: structs.Node{Node: "ok-1"}}},
	}}), &rr)
	if len(rr.Results) != 1 || rr.Results[0].Node.Address != "10.0.0.1" || rr.Index == 0 {
		t.Fatalf("allowed read: %+v", rr)
	}
	// A write verb is refused by Txn.Read.
	rr = structs.TxnReadResponse{}
	rpc(t, s, structs.MethodTxnRead, as(tok, &structs.TxnReadRequest{Ops: []*structs.TxnOp{
		{Node: &structs.TxnNodeOp{Verb: structs.TxnSet, Node: structs.Node{Node: "ok-2"}}},
	}}), &rr)
	if len(rr.Errors) != 1 {
		t.Fatalf("write in a read txn: %+v", rr)
	}
}

// TestTxnCatalogStoredNameACL: service and check operations are
// authorised by the stored instance's name too, not only by the name the
// caller sends: a token with service:write on "web" cannot overwrite or
// delete the "db" instance (or its check) by sending Service "web".
func TestTxnCatalogStoredNameACL(t *testing.T) {
	s := enforcingServer(t, nil)
	admin := tokenWith(t, s, "admin", `node_prefix "" { policy = "write" }
service_prefix "" { policy = "write" }`)
	var tr structs.TxnResponse
	rpc(t, s, structs.MethodTxnApply, as(admin, &structs.TxnRequest{Ops: []*structs.TxnOp{
		{Node: &structs.TxnNodeOp{Verb: structs.TxnSet, Node: structs.Node{Node: "n1", Address: "10.0.0.1"}}},
		{Service: &structs.TxnServiceOp{Verb: structs.TxnSet, Node: "n1", Service: structs.NodeService{ID: "db", Service: "db", Port: 5432}}},
		{Check: &structs.TxnCheckOp{Verb: structs.TxnSet, Check: structs.HealthCheck{Node: "n1", CheckID: "db-check", ServiceID: "db", ServiceName: "db"}}},
	}}), &tr)
	if len(tr.Errors) != 0 {
		t.Fatalf("seed: %+v", tr.Errors)
	}
	web := tokenWith(t, s, "web", `service "web" { policy = "write" }`)
	ops := []*structs.TxnOp{
		{Service: &structs.TxnServiceOp{Verb: structs.TxnSet, Node: "n1", Service: structs.NodeService{ID: "db", Service: "web", Port: 1}}},
		{Service: &structs.TxnServiceOp{Verb: structs.TxnCAS, Node: "n1", Service: structs.NodeService{ID: "db", Service: "web", Port: 1}}},
		{Service: &structs.TxnServiceOp{Verb: structs.TxnDelete, Node: "n1", Service: structs.NodeService{ID: "db", Service: "web"}}},
		{Service: &structs.TxnServiceOp{Verb: structs.TxnDeleteCAS, Node: "n1", Service: structs.NodeService{ID: "db", Service: "web"}}},
		// A new check attached to db's instance while naming "web".
		{Check: &structs.TxnCheckOp{Verb: structs.TxnSet, Check: structs.HealthCheck{Node: "n1", CheckID: "sneaky", ServiceID: "db", ServiceName: "web"}}},
		// db's own check, overwritten or deleted while naming "web".
		{Check: &structs.TxnCheckOp{Verb: structs.TxnSet, Check: structs.HealthCheck{Node: "n1", CheckID: "db-check", ServiceID: "web", ServiceName: "web"}}},
		{Check: &structs.TxnCheckOp{Verb: structs.TxnDelete, Check: structs.HealthCheck{Node: "n1", CheckID: "db-check", ServiceID: "web", ServiceName: "web"}}},
	}
	for i, op := range ops {
		tr = structs.TxnResponse{}
		rpc(t, s, structs.MethodTxnApply, as(web, &structs.TxnRequest{Ops: []*structs.TxnOp{op}}), &tr)
		if len(tr.Errors) != 1 {
			t.Errorf("op %d: not refused: %+v", i, tr)
		}
	}
	_, ns, _ := s.State().NodeServices(nil, "n1")
	if ns == nil || ns.Services["db"] == nil || ns.Services["db"].Service != "db" || ns.Services["db"].Port != 5432 {
		t.Fatalf("db instance changed: %+v", ns)
	}
	_, checks, _ := s.State().NodeChecks(nil, "n1")
	if len(checks) != 1 || checks[0].CheckID != "db-check" || checks[0].ServiceName != "db" {
		t.Fatalf("checks changed: %+v", checks)
	}
	// The web token still writes its own service.
	tr = structs.TxnResponse{}
	rpc(t, s, structs.MethodTxnApply, as(web, &structs.TxnRequest{Ops: []*structs.TxnOp{
		{Service: &structs.TxnServiceOp{Verb: structs.TxnSet, Node: "n1", Service: structs.NodeService{ID: "web1", Service: "web", Port: 80}}},
	}}), &tr)
	if len(tr.Errors) != 0 {
		t.Fatalf("own service: %+v", tr.Errors)
	}
}

// TestCoordinateUpdateIncompatible: a coordinate of another dimensionality
// than the server's is refused with Consul's "incompatible coordinate".
func TestCoordinateUpdateIncompatible(t *testing.T) {
	s := devServer(t)
	c := validCoord()
	c.Vec = c.Vec[:3]
	err := s.RPC(context.Background(), structs.MethodCoordinateUpdate,
		&structs.CoordinateUpdateRequest{Node: "n1", Coord: c}, &struct{}{})
	if err == nil || err.Error() != "incompatible coordinate" {
		t.Fatalf("3-dimensional coordinate: %v", err)
	}
	rpc(t, s, structs.MethodCoordinateUpdate, &structs.CoordinateUpdateRequest{Node: "n1", Coord: validCoord()}, &struct{}{})
}

// TestTxnNodeDeleteClearsSessionTimers: a session destroyed with its node
// by a transaction (or a deregistration) loses its TTL timer.
func TestTxnNodeDeleteClearsSessionTimers(t *testing.T) {
	s := devServer(t)
	timers := func() int {
		s.sessions.mu.Lock()
		defer s.sessions.mu.Unlock()
		return len(s.sessions.timers)
	}
	for _, viaTxn := range []bool{true, false} {
		rpc(t, s, structs.MethodCatalogRegister, &structs.RegisterRequest{Node: "n5", Address: "10.0.0.5"}, &struct{}{})
		var id string
		rpc(t, s, structs.MethodSessionApply, &structs.SessionRequest{Op: structs.SessionCreate,
			Session: structs.Session{Node: "n5", TTL: "30s", NodeChecks: []string{}}}, &id)
		if n := timers(); n != 1 {
			t.Fatalf("timers after create: %d", n)
		}
		if viaTxn {
			var tr structs.TxnResponse
			rpc(t, s, structs.MethodTxnApply, &structs.TxnRequest{Ops: []*structs.TxnOp{
				{Node: &structs.TxnNodeOp{Verb: structs.TxnDelete, Node: structs.Node{Node: "n5"}}},
			}}, &tr)
			if len(tr.Errors) != 0 {
				t.Fatalf("txn: %+v", tr.Errors)
			}
		} else {
			rpc(t, s, structs.MethodCatalogDeregister, &structs.DeregisterRequest{Node: "n5"}, &struct{}{})
		}
		if _, sess, _ := s.State().SessionGet(nil, id); sess != nil {
			t.Fatal("session survived its node")
		}
		if n := timers(); n != 0 {
			t.Fatalf("txn=%v: %d timers left", viaTxn, n)
		}
	}
}
