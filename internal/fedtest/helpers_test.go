package fedtest_test

import (
	"context"
	"testing"
	"time"

	"consulate/internal/fedtest"
	"consulate/structs"
)

// twoDCs starts dc1 and dc2 with three servers each.
func twoDCs(t *testing.T) *fedtest.Cluster {
	t.Helper()
	return fedtest.New(t, fedtest.Config{DCs: []fedtest.DC{{Name: "dc1", Servers: 3}, {Name: "dc2", Servers: 3}}})
}

func call(t *testing.T, n *fedtest.Node, method structs.Method, args, reply any) {
	t.Helper()
	if err := callErr(n, method, args, reply); err != nil {
		t.Fatalf("%s on %s: %v", method, n.Name, err)
	}
}

func callErr(n *fedtest.Node, method structs.Method, args, reply any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Server.RPC(ctx, method, args, reply)
}

// register adds node with one passing instance of service in dc (sent to
// whichever server; it forwards to dc's leader).
func register(t *testing.T, via *fedtest.Node, dc, node, service string, status string) {
	t.Helper()
	call(t, via, structs.MethodCatalogRegister, &structs.RegisterRequest{
		Datacenter: dc, Node: node, Address: "10.0.0.1",
		Service: &structs.NodeService{ID: service + "-1", Service: service, Port: 8080},
		Checks: structs.HealthChecks{
			{CheckID: structs.SerfCheckID, Name: structs.SerfCheckName, Status: structs.HealthPassing},
			{CheckID: "service:" + service, Name: service, ServiceID: service + "-1", Status: status},
		},
	}, &struct{}{})
}

func kvSet(dc, key, value string) *structs.KVSRequest {
	return &structs.KVSRequest{Datacenter: dc, Op: structs.KVSet, DirEnt: structs.DirEntry{Key: key, Value: []byte(value)}}
}

// localKV reads key from n's own replica, without any RPC.
func localKV(t *testing.T, n *fedtest.Node, key string) (string, bool) {
	t.Helper()
	_, e, err := n.Server.State().KVGet(nil, key)
	if err != nil {
		t.Fatal(err)
	}
	if e == nil {
		return "", false
	}
	return string(e.Value), true
}
