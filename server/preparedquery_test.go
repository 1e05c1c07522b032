package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"consulate/structs"
)

// dcForwarder sends every cross-DC call to one other in-memory server.
type dcForwarder struct{ dcs map[string]*Server }

func (f *dcForwarder) ForwardDC(ctx context.Context, dc structs.Datacenter, method structs.Method, args, reply any) error {
	s := f.dcs[string(dc)]
	if s == nil {
		return &structs.ErrUnknownDC{DC: string(dc)}
	}
	return s.RPC(ctx, method, args, reply)
}

func (f *dcForwarder) KnownDatacenters() []string { return []string{"dc1", "dc2"} }

func (f *dcForwarder) StreamDC(ctx context.Context, dc structs.Datacenter, method structs.Method,
	args any, _ func() any, recv func(any) error) error {
	s := f.dcs[string(dc)]
	if s == nil {
		return &structs.ErrUnknownDC{DC: string(dc)}
	}
	return s.Stream(ctx, method, args, recv)
}

func TestPreparedQueryFailover(t *testing.T) {
	cfg2 := testConfig("dc2-s1")
	cfg2.Datacenter, cfg2.Bootstrap = "dc2", true
	dc2 := startServer(t, cfg2, Deps{})
	waitLeader(t, dc2)
	registerWeb(t, dc2, "n2", "10.0.2.1", "web-1")

	cfg1 := testConfig("dc1-s1")
	cfg1.Bootstrap = true
	dc1 := startServer(t, cfg1, Deps{Forwarder: &dcForwarder{dcs: map[string]*Server{"dc2": dc2}}})
	waitLeader(t, dc1)

	var id string
	rpc(t, dc1, structs.MethodPreparedQueryApply, &structs.PreparedQueryRequest{Op: structs.PreparedQueryCreate,
		Query: &structs.PreparedQuery{Name: "web-q", Service: structs.ServiceQuery{Service: "web",
			Failover: structs.QueryFailoverOptions{Datacenters: []string{"dc9", "dc2"}}}}}, &id)
	if id == "" {
		t.Fatal("no ID")
	}
	var bad string
	err := dc1.RPC(context.Background(), structs.MethodPreparedQueryApply, &structs.PreparedQueryRequest{Op: structs.PreparedQueryCreate,
		Query: &structs.PreparedQuery{Name: "nosvc"}}, &bad)
	var br *structs.BadRequestError
	if !errors.As(err, &br) {
		t.Fatalf("query without service: %v", err)
	}

	for _, name := range []string{"web-q", id} {
		var resp structs.PreparedQueryExecuteResponse
		rpc(t, dc1, structs.MethodPreparedQueryExecute, &structs.PreparedQueryExecuteRequest{QueryIDOrName: name}, &resp)
		if resp.Datacenter != "dc2" || resp.Failovers != 2 || len(resp.Nodes) != 1 {
			t.Fatalf("%s: %+v", name, resp)
		}
	}
	// Healthy locally: answered here.
	registerWeb(t, dc1, "n1", "10.0.1.1", "web-1")
	var resp structs.PreparedQueryExecuteResponse
	rpc(t, dc1, structs.MethodPreparedQueryExecute, &structs.PreparedQueryExecuteRequest{QueryIDOrName: "web-q"}, &resp)
	if resp.Datacenter != "dc1" || resp.Failovers != 0 {
		t.Fatalf("local: %+v", resp)
	}
	var list structs.IndexedPreparedQueries
	rpc(t, dc1, structs.MethodPreparedQueryList, &structs.DCSpecificRequest{}, &list)
	if len(list.Queries) != 1 || list.Queries[0].ID != id {
		t.Fatalf("list %+v", list)
	}
	err = dc1.RPC(context.Background(), structs.MethodPreparedQueryExecute, &structs.PreparedQueryExecuteRequest{QueryIDOrName: "missing"}, &resp)
	if !errors.Is(err, structs.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	var gone string
	rpc(t, dc1, structs.MethodPreparedQueryApply, &structs.PreparedQueryRequest{Op: structs.PreparedQueryDelete, Query: &structs.PreparedQuery{ID: id}}, &gone)
	rpc(t, dc1, structs.MethodPreparedQueryList, &structs.DCSpecificRequest{}, &list)
	if len(list.Queries) != 0 {
		t.Fatalf("after delete %+v", list)
	}
}

// slowForwarder answers for datacenters other than dc2 after a delay, with
// nothing (an empty reply), and counts every cross-DC call.
type slowForwarder struct {
	dcForwarder
	delay time.Duration
	mu    sync.Mutex
	calls map[string]int
}

func (f *slowForwarder) ForwardDC(ctx context.Context, dc structs.Datacenter, method structs.Method, args, reply any) error {
	f.mu.Lock()
	f.calls[string(dc)]++
	f.mu.Unlock()
	if f.dcs[string(dc)] != nil {
		return f.dcForwarder.ForwardDC(ctx, dc, method, args, reply)
	}
	t := time.NewTimer(f.delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestPreparedQueryFailoverTwentyDCs fails over through 19 empty
// datacenters 100 ms away and then dc2, which has the service: one call
// per datacenter, all at once, so the answer takes about 100 ms, not 1.9 s.
func TestPreparedQueryFailoverTwentyDCs(t *testing.T) {
	cfg2 := testConfig("dc2-s1")
	cfg2.Datacenter, cfg2.Bootstrap = "dc2", true
	dc2 := startServer(t, cfg2, Deps{})
	waitLeader(t, dc2)
	registerWeb(t, dc2, "n2", "10.0.2.1", "web-1")

	fwd := &slowForwarder{dcForwarder: dcForwarder{dcs: map[string]*Server{"dc2": dc2}},
		delay: 100 * time.Millisecond, calls: map[string]int{}}
	cfg1 := testConfig("dc1-s1")
	cfg1.Bootstrap = true
	dc1 := startServer(t, cfg1, Deps{Forwarder: fwd})
	waitLeader(t, dc1)

	var listed []string
	for i := 3; i <= 21; i++ {
		listed = append(listed, fmt.Sprintf("dc%d", i))
	}
	listed = append(listed, "dc2")
	var id string
	rpc(t, dc1, structs.MethodPreparedQueryApply, &structs.PreparedQueryRequest{Op: structs.PreparedQueryCreate,
		Query: &structs.PreparedQuery{Name: "web-far", Service: structs.ServiceQuery{Service: "web",
			Failover: structs.QueryFailoverOptions{Datacenters: listed}}}}, &id)

	begin := time.Now()
	var resp structs.PreparedQueryExecuteResponse
	rpc(t, dc1, structs.MethodPreparedQueryExecute, &structs.PreparedQueryExecuteRequest{QueryIDOrName: "web-far"}, &resp)
	took := time.Since(begin)
	if resp.Datacenter != "dc2" || resp.Failovers != 20 || len(resp.Nodes) != 1 {
		t.Fatalf("resp %+v", resp)
	}
	if sequential := time.Duration(len(listed)-1) * fwd.delay; took > sequential/3 {
		t.Fatalf("took %v; one after another would take %v", took, sequential)
	}
	fwd.mu.Lock()
	defer fwd.mu.Unlock()
	if len(fwd.calls) != len(listed) {
		t.Fatalf("calls %v", fwd.calls)
	}
	for dc, n := range fwd.calls {
		if n != 1 {
			t.Errorf("%s asked %d times", dc, n)
		}
	}
}

// TestPreparedQueryACLFilterThenFailover: the only local instance is on a
// node the token may not read. Filtering comes before the failover
// decision, as in Consul: the query fails over to dc2 instead of answering
// an empty list from dc1.
func TestPreparedQueryACLFilterThenFailover(t *testing.T) {
	cfg2 := testConfig("dc2-s1")
	cfg2.Datacenter, cfg2.Bootstrap = "dc2", true
	dc2 := startServer(t, cfg2, Deps{})
	waitLeader(t, dc2)
	registerWeb(t, dc2, "n2", "10.0.2.1", "web-2")

	dc1 := enforcingServerDeps(t, nil, Deps{Forwarder: &dcForwarder{dcs: map[string]*Server{"dc2": dc2}}})
	rpc(t, dc1, structs.MethodCatalogRegister, registerAs(testMgmt, "n1", "web"), &struct{}{})
	tok := tokenWith(t, dc1, "web-n2", `service "web" { policy = "read" }
node "n2" { policy = "read" }`)
	var id string
	rpc(t, dc1, structs.MethodPreparedQueryApply, as(testMgmt, &structs.PreparedQueryRequest{Op: structs.PreparedQueryCreate,
		Query: &structs.PreparedQuery{Name: "web-q", Service: structs.ServiceQuery{Service: "web",
			Failover: structs.QueryFailoverOptions{Datacenters: []string{"dc2"}}}}}), &id)

	var resp structs.PreparedQueryExecuteResponse
	rpc(t, dc1, structs.MethodPreparedQueryExecute, as(tok, &structs.PreparedQueryExecuteRequest{QueryIDOrName: "web-q"}), &resp)
	if resp.Datacenter != "dc2" || resp.Failovers != 1 || len(resp.Nodes) != 1 || resp.Nodes[0].Node.Node != "n2" {
		t.Fatalf("hidden local instance did not fail over: %+v", resp)
	}
	// The management token sees the local one: answered here, unfiltered.
	rpc(t, dc1, structs.MethodPreparedQueryExecute, as(testMgmt, &structs.PreparedQueryExecuteRequest{QueryIDOrName: "web-q"}), &resp)
	if resp.Datacenter != "dc1" || len(resp.Nodes) != 1 || resp.ResultsFilteredByACLs {
		t.Fatalf("management: %+v", resp)
	}
	// No failover target: the local answer is empty and says it was filtered.
	rpc(t, dc1, structs.MethodPreparedQueryApply, as(testMgmt, &structs.PreparedQueryRequest{Op: structs.PreparedQueryCreate,
		Query: &structs.PreparedQuery{Name: "web-local", Service: structs.ServiceQuery{Service: "web"}}}), &id)
	rpc(t, dc1, structs.MethodPreparedQueryExecute, as(tok, &structs.PreparedQueryExecuteRequest{QueryIDOrName: "web-local"}), &resp)
	if resp.Datacenter != "dc1" || len(resp.Nodes) != 0 || !resp.ResultsFilteredByACLs {
		t.Fatalf("local only: %+v", resp)
	}
}
