package catalog

import (
	"testing"

	"consulate/structs"
)

func TestTxnCatalogVerbs(t *testing.T) {
	s := newStore(t)
	node := func(verb string, n structs.Node) *structs.TxnOp {
		return &structs.TxnOp{Node: &structs.TxnNodeOp{Verb: verb, Node: n}}
	}
	svc := func(verb, n string, ns structs.NodeService) *structs.TxnOp {
		return &structs.TxnOp{Service: &structs.TxnServiceOp{Verb: verb, Node: n, Service: ns}}
	}
	chk := func(verb string, c structs.HealthCheck) *structs.TxnOp {
		return &structs.TxnOp{Check: &structs.TxnCheckOp{Verb: verb, Check: c}}
	}
	id := "11111111-2222-3333-4444-555555555555"

	// cas with index 0 creates only what is absent.
	r := s.Txn(5, []*structs.TxnOp{
		node(structs.TxnCAS, structs.Node{ID: id, Node: "n1", Address: "10.0.0.1"}),
		svc(structs.TxnCAS, "n1", structs.NodeService{Service: "web", Port: 80}),
		chk(structs.TxnCAS, structs.HealthCheck{Node: "n1", CheckID: "c", ServiceID: "web", Status: structs.HealthPassing}),
	})
	if len(r.Errors) != 0 || len(r.Results) != 3 || r.Results[1].Service.ID != "web" || r.Results[2].Check.ModifyIndex != 5 {
		t.Fatalf("create: %+v %+v", r.Errors, r.Results)
	}
	r = s.Txn(6, []*structs.TxnOp{node(structs.TxnCAS, structs.Node{Node: "n1", Address: "10.0.0.2"})})
	if len(r.Errors) != 1 || r.Errors[0].What != `failed to set node "n1", index is stale` {
		t.Fatalf("cas 0 over an existing node: %+v", r.Errors)
	}
	r = s.Txn(6, []*structs.TxnOp{node(structs.TxnCAS, structs.Node{ID: id, Node: "n1", Address: "10.0.0.2", ModifyIndex: 5})})
	if len(r.Errors) != 0 || r.Results[0].Node.Address != "10.0.0.2" || r.Results[0].Node.ModifyIndex != 6 {
		t.Fatalf("cas at the right index: %+v %+v", r.Errors, r.Results)
	}

	// Gets: by name, by ID; missing ones fail with Consul's text.
	rd := s.TxnRead([]*structs.TxnOp{
		node(structs.TxnGet, structs.Node{ID: id}),
		svc(structs.TxnGet, "n1", structs.NodeService{ID: "web"}),
		chk(structs.TxnGet, structs.HealthCheck{Node: "n1", CheckID: "c"}),
	})
	if len(rd.Errors) != 0 || rd.Results[0].Node.Node != "n1" || rd.Results[1].Service.Port != 80 || rd.Results[2].Check.ServiceName != "web" {
		t.Fatalf("gets: %+v %+v", *rd.Errors[0], rd.Results)
	}
	rd = s.TxnRead([]*structs.TxnOp{svc(structs.TxnGet, "n1", structs.NodeService{ID: "nope"})})
	if len(rd.Errors) != 1 || rd.Errors[0].What != `service "nope" on node "n1" doesn't exist` {
		t.Fatalf("missing service: %+v", rd.Errors)
	}

	// A failing op rolls back the others.
	r = s.Txn(7, []*structs.TxnOp{
		chk(structs.TxnDelete, structs.HealthCheck{Node: "n1", CheckID: "c"}),
		svc(structs.TxnDeleteCAS, "n1", structs.NodeService{ID: "web", ModifyIndex: 1}),
	})
	if len(r.Errors) != 1 || r.Errors[0].OpIndex != 1 || r.Results != nil {
		t.Fatalf("rolled back: %+v", r)
	}
	if _, cs, _ := s.NodeChecks(nil, "n1"); len(cs) != 1 {
		t.Fatal("rolled-back check delete applied")
	}

	// A session delete releases its locks; deleting the node then works.
	if err := s.SessionCreate(8, &structs.Session{ID: "s1", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	r = s.Txn(9, []*structs.TxnOp{
		{KV: &structs.TxnKVOp{Verb: structs.KVLock, DirEnt: structs.DirEntry{Key: "lk", Session: "s1"}}},
	})
	if len(r.Errors) != 0 {
		t.Fatalf("lock: %+v", r.Errors)
	}
	r = s.Txn(10, []*structs.TxnOp{
		{Session: &structs.TxnSessionOp{Verb: structs.TxnDelete, Session: structs.Session{ID: "s1"}}},
		node(structs.TxnDeleteCAS, structs.Node{Node: "n1", ModifyIndex: 6}),
	})
	if len(r.Errors) != 0 {
		t.Fatalf("session and node delete: %+v", r.Errors)
	}
	if _, e, _ := s.KVGet(nil, "lk"); e == nil || e.Session != "" {
		t.Fatalf("lock not released: %+v", e)
	}
	if _, n, _ := s.GetNode(nil, "n1"); n != nil {
		t.Fatal("node not deleted")
	}
}
