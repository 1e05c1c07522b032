package server

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"consulate/catalog"
	"consulate/internal/testutil"
	"consulate/structs"
)

func testConfig(name string) *Config {
	cfg := DefaultConfig()
	cfg.NodeName = name
	rc := raft.DefaultConfig()
	rc.HeartbeatTimeout = 50 * time.Millisecond
	rc.ElectionTimeout = 50 * time.Millisecond
	rc.LeaderLeaseTimeout = 50 * time.Millisecond
	rc.CommitTimeout = 5 * time.Millisecond
	cfg.RaftConfig = rc
	cfg.SessionTTLMin = 20 * time.Millisecond
	cfg.LeaderWait = 500 * time.Millisecond
	cfg.ApplyTimeout = 5 * time.Second
	return cfg
}

func startServer(t *testing.T, cfg *Config, deps Deps) *Server {
	t.Helper()
	s, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			buf := make([]byte, 1<<20)
			t.Errorf("shutdown: %v\n%s", err, buf[:runtime.Stack(buf, true)])
		}
	})
	return s
}

func devServer(t *testing.T) *Server {
	t.Helper()
	cfg := testConfig("dev1")
	cfg.Bootstrap = true
	s := startServer(t, cfg, Deps{})
	waitLeader(t, s)
	return s
}

func waitLeader(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
}

func rpc(t *testing.T, s *Server, method structs.Method, args, reply any) {
	t.Helper()
	if err := s.RPC(context.Background(), method, args, reply); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
}

func registerWeb(t *testing.T, s *Server, node, addr, id string, tags ...string) {
	t.Helper()
	rpc(t, s, structs.MethodCatalogRegister, &structs.RegisterRequest{
		Node: node, Address: addr, NodeMeta: map[string]string{"rack": node},
		Service: &structs.NodeService{ID: id, Service: "web", Tags: tags, Port: 8080},
		Checks: structs.HealthChecks{
			{CheckID: structs.SerfCheckID, Name: structs.SerfCheckName, Status: structs.HealthPassing},
			{CheckID: "web:" + id, Name: "web", ServiceID: id, Status: structs.HealthPassing},
		},
	}, &struct{}{})
}

func TestConfigValidate(t *testing.T) {
	cases := map[string]func(*Config){
		"no node":        func(c *Config) { c.NodeName = "" },
		"no dc":          func(c *Config) { c.Datacenter = "" },
		"both bootstrap": func(c *Config) { c.Bootstrap, c.BootstrapExpect = true, 3 },
		"ttl bounds":     func(c *Config) { c.SessionTTLMax = time.Millisecond },
		"bad raft":       func(c *Config) { c.RaftConfig.HeartbeatTimeout = time.Microsecond },
	}
	for name, mut := range cases {
		cfg := testConfig("n")
		mut(cfg)
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := testConfig("n").Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestCatalogAndHealth(t *testing.T) {
	s := devServer(t)
	registerWeb(t, s, "n1", "127.0.0.11", "web1", "primary", "v1")
	registerWeb(t, s, "n2", "127.0.0.12", "web2", "v1")

	var bad *structs.BadRequestError
	for _, req := range []*structs.RegisterRequest{
		{Address: "127.0.0.1"},
		{Node: "x"},
		{Node: "x", Address: "127.0.0.1", Service: &structs.NodeService{}},
		{Node: "x", Address: "127.0.0.1", Check: &structs.HealthCheck{CheckID: "c", Status: "sideways"}},
	} {
		if err := s.RPC(context.Background(), structs.MethodCatalogRegister, req, &struct{}{}); !errors.As(err, &bad) {
			t.Fatalf("%+v: want bad request, got %v", req, err)
		}
	}

	var nodes structs.IndexedNodes
	rpc(t, s, structs.MethodCatalogListNodes, &structs.DCSpecificRequest{NodeMetaFilters: map[string]string{"rack": "n2"}}, &nodes)
	if len(nodes.Nodes) != 1 || nodes.Nodes[0].Node != "n2" || nodes.Nodes[0].Datacenter != "dc1" || nodes.Index == 0 {
		t.Fatalf("nodes %+v", nodes)
	}
	if !nodes.KnownLeader || nodes.ConsistencyLevel != "leader" || nodes.LastContact != 0 {
		t.Fatalf("query meta %+v", nodes.QueryMeta)
	}
	var svcs structs.IndexedServices
	rpc(t, s, structs.MethodCatalogListServices, &structs.DCSpecificRequest{}, &svcs)
	if len(svcs.Services["web"]) != 2 {
		t.Fatalf("services %+v", svcs.Services)
	}
	var sn structs.IndexedServiceNodes
	rpc(t, s, structs.MethodCatalogServiceNodes, &structs.ServiceSpecificRequest{ServiceName: "web", ServiceTags: []string{"primary"}, TagFilter: true}, &sn)
	if len(sn.ServiceNodes) != 1 || sn.ServiceNodes[0].Node != "n1" {
		t.Fatalf("service nodes %+v", sn.ServiceNodes)
	}
	var ns structs.IndexedNodeServices
	rpc(t, s, structs.MethodCatalogNodeServices, &structs.NodeSpecificRequest{Node: "n2"}, &ns)
	if ns.NodeServices == nil || ns.NodeServices.Services["web2"] == nil {
		t.Fatalf("node services %+v", ns.NodeServices)
	}

	// One instance goes critical; Health.ServiceNodes still returns both
	// (passing-only filtering is the HTTP layer's).
	rpc(t, s, structs.MethodCatalogRegister, &structs.RegisterRequest{Node: "n2", Address: "127.0.0.12",
		Check: &structs.HealthCheck{CheckID: "web:web2", ServiceID: "web2", Status: structs.HealthCritical}}, &struct{}{})
	var csn structs.IndexedCheckServiceNodes
	rpc(t, s, structs.MethodHealthServiceNodes, &structs.ServiceSpecificRequest{ServiceName: "web"}, &csn)
	if len(csn.Nodes) != 2 {
		t.Fatalf("health nodes %+v", csn.Nodes)
	}
	for _, n := range csn.Nodes {
		want := structs.HealthPassing
		if n.Node.Node == "n2" {
			want = structs.HealthCritical
		}
		if got := n.Checks.AggregatedStatus(); got != want || len(n.Checks) != 2 {
			t.Fatalf("%s: status %s with %d checks", n.Node.Node, got, len(n.Checks))
		}
	}
	var hc structs.IndexedHealthChecks
	rpc(t, s, structs.MethodHealthChecksInState, &structs.ChecksInStateRequest{State: structs.HealthCritical}, &hc)
	if len(hc.HealthChecks) != 1 || hc.HealthChecks[0].ServiceName != "web" {
		t.Fatalf("critical checks %+v", hc.HealthChecks)
	}
	rpc(t, s, structs.MethodHealthNodeChecks, &structs.NodeSpecificRequest{Node: "n1"}, &hc)
	if len(hc.HealthChecks) != 2 {
		t.Fatalf("node checks %+v", hc.HealthChecks)
	}
	rpc(t, s, structs.MethodHealthServiceChecks, &structs.ServiceSpecificRequest{ServiceName: "web", NodeMetaFilters: map[string]string{"rack": "n1"}}, &hc)
	if len(hc.HealthChecks) != 1 {
		t.Fatalf("service checks %+v", hc.HealthChecks)
	}

	rpc(t, s, structs.MethodCatalogDeregister, &structs.DeregisterRequest{Node: "n2"}, &struct{}{})
	rpc(t, s, structs.MethodCatalogServiceNodes, &structs.ServiceSpecificRequest{ServiceName: "web"}, &sn)
	if len(sn.ServiceNodes) != 1 {
		t.Fatalf("after deregister %+v", sn.ServiceNodes)
	}

	var dcs structs.DatacentersReply
	rpc(t, s, structs.MethodCatalogDatacenters, &structs.EmptyRequest{}, &dcs)
	if len(dcs.Datacenters) != 1 || dcs.Datacenters[0] != "dc1" {
		t.Fatalf("datacenters %v", dcs.Datacenters)
	}
	var udc *structs.ErrUnknownDC
	if err := s.RPC(context.Background(), structs.MethodCatalogListNodes, &structs.DCSpecificRequest{Datacenter: "dc9"}, &nodes); !errors.As(err, &udc) || udc.DC != "dc9" {
		t.Fatalf("unknown dc: %v", err)
	}
	if err := s.RPC(context.Background(), "Nope.Nothing", &structs.EmptyRequest{}, &struct{}{}); !errors.Is(err, structs.ErrUnknownMethod) {
		t.Fatalf("unknown method: %v", err)
	}
	if err := s.RPC(context.Background(), structs.MethodCatalogListNodes, &structs.KeyRequest{}, &nodes); !errors.As(err, &bad) {
		t.Fatalf("mismatched args: %v", err)
	}
	var leader string
	rpc(t, s, structs.MethodStatusLeader, &structs.EmptyRequest{}, &leader)
	var peers []string
	rpc(t, s, structs.MethodStatusPeers, &structs.EmptyRequest{}, &peers)
	if leader == "" || len(peers) != 1 || peers[0] != leader {
		t.Fatalf("leader %q peers %v", leader, peers)
	}
	rpc(t, s, structs.MethodStatusPing, &structs.EmptyRequest{}, &struct{}{})
	st := s.Stats()
	if st["raft"]["state"] != "Leader" || st["raft"]["num_peers"] != "0" {
		t.Fatalf("stats %v", st["raft"])
	}
}

func TestNewCallCoversEveryMethod(t *testing.T) {
	s, err := New(testConfig("n"), Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	for _, m := range []structs.Method{structs.MethodStatusLeader, structs.MethodCatalogRegister, structs.MethodHealthServiceNodes,
		structs.MethodKVSApply, structs.MethodSessionRenew, structs.MethodTxnApply, structs.MethodCoordinateListNodes,
		structs.MethodOperatorRaftConfiguration} {
		args, reply, ok := s.NewCall(m)
		if !ok || args == nil || reply == nil {
			t.Fatalf("%s: no call", m)
		}
		if _, ok := args.(structs.RPCInfo); !ok {
			t.Fatalf("%s: args %T is not RPCInfo", m, args)
		}
	}
	if _, _, ok := s.NewCall("Internal.Nope"); ok {
		t.Fatal("unknown method has a call")
	}
	// Before Start, RPC fails cleanly.
	if err := s.RPC(context.Background(), structs.MethodStatusPing, &structs.EmptyRequest{}, &struct{}{}); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("rpc before start: %v", err)
	}
}

func kvApply(t *testing.T, s *Server, op structs.KVOp, e structs.DirEntry) bool {
	t.Helper()
	var ok bool
	rpc(t, s, structs.MethodKVSApply, &structs.KVSRequest{Op: op, DirEnt: e}, &ok)
	return ok
}

func TestKVSessionsTxn(t *testing.T) {
	s := devServer(t)
	if !kvApply(t, s, structs.KVSet, structs.DirEntry{Key: "app/a", Value: []byte("1")}) {
		t.Fatal("set")
	}
	var got structs.IndexedDirEntries
	rpc(t, s, structs.MethodKVSGet, &structs.KeyRequest{Key: "app/a"}, &got)
	if len(got.Entries) != 1 || string(got.Entries[0].Value) != "1" || got.Index != got.Entries[0].ModifyIndex {
		t.Fatalf("get %+v", got)
	}
	if kvApply(t, s, structs.KVCAS, structs.DirEntry{Key: "app/a", ModifyIndex: got.Index - 1, Value: []byte("2")}) {
		t.Fatal("stale cas succeeded")
	}
	if !kvApply(t, s, structs.KVCAS, structs.DirEntry{Key: "app/a", ModifyIndex: got.Index, Value: []byte("2")}) {
		t.Fatal("cas failed")
	}
	var bad *structs.BadRequestError
	big := make([]byte, structs.MaxKVValueSize+1)
	if err := s.RPC(context.Background(), structs.MethodKVSApply, &structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "big", Value: big}}, new(bool)); !errors.As(err, &bad) {
		t.Fatalf("oversized value: %v", err)
	}
	if err := s.RPC(context.Background(), structs.MethodKVSApply, &structs.KVSRequest{Op: structs.KVLock, DirEnt: structs.DirEntry{Key: "l"}}, new(bool)); !errors.As(err, &bad) {
		t.Fatalf("lock without session: %v", err)
	}
	err := s.RPC(context.Background(), structs.MethodKVSApply, &structs.KVSRequest{Op: structs.KVLock, DirEnt: structs.DirEntry{Key: "l", Session: "nope"}}, new(bool))
	if !errors.As(err, &bad) || !errors.Is(err, catalog.ErrMissingSession) {
		t.Fatalf("lock with unknown session: %v", err)
	}

	// Sessions need a node; the default ties them to serfHealth.
	registerWeb(t, s, "n1", "127.0.0.11", "web1")
	var sid string
	rpc(t, s, structs.MethodSessionApply, &structs.SessionRequest{Op: structs.SessionCreate, Session: structs.Session{Node: "n1", TTL: "50ms"}}, &sid)
	if len(sid) != 36 {
		t.Fatalf("session id %q", sid)
	}
	if err := s.RPC(context.Background(), structs.MethodSessionApply, &structs.SessionRequest{Op: structs.SessionCreate, Session: structs.Session{Node: "n1", TTL: "1ms"}}, new(string)); !errors.As(err, &bad) {
		t.Fatalf("short ttl: %v", err)
	}
	var sessions structs.IndexedSessions
	rpc(t, s, structs.MethodSessionGet, &structs.SessionSpecificRequest{SessionID: sid}, &sessions)
	if len(sessions.Sessions) != 1 || len(sessions.Sessions[0].NodeChecks) != 1 || sessions.Sessions[0].NodeChecks[0] != structs.SerfCheckID {
		t.Fatalf("session %+v", sessions.Sessions)
	}
	if !kvApply(t, s, structs.KVLock, structs.DirEntry{Key: "l", Session: sid, Value: []byte("me")}) {
		t.Fatal("lock")
	}
	// Renewals keep it alive past its TTL...
	for i := 0; i < 6; i++ {
		rpc(t, s, structs.MethodSessionRenew, &structs.SessionSpecificRequest{SessionID: sid}, &sessions)
		if len(sessions.Sessions) != 1 {
			t.Fatalf("renew %d: session gone", i)
		}
		time.Sleep(30 * time.Millisecond) // renewal cadence under test, below 2×TTL
	}
	// ...and without them it expires, releasing its lock.
	testutil.WaitFor(t, 3*time.Second, "session expiry", func() bool {
		var out structs.IndexedSessions
		rpc(t, s, structs.MethodSessionList, &structs.DCSpecificRequest{}, &out)
		return len(out.Sessions) == 0
	})
	rpc(t, s, structs.MethodKVSGet, &structs.KeyRequest{Key: "l"}, &got)
	if len(got.Entries) != 1 || got.Entries[0].Session != "" || got.Entries[0].LockIndex != 1 {
		t.Fatalf("lock not released: %+v", got.Entries)
	}

	// Txn: all or nothing.
	var tr structs.TxnResponse
	rpc(t, s, structs.MethodTxnApply, &structs.TxnRequest{Ops: []*structs.TxnOp{
		{KV: &structs.TxnKVOp{Verb: structs.KVSet, DirEnt: structs.DirEntry{Key: "t/1", Value: []byte("x")}}},
		{KV: &structs.TxnKVOp{Verb: structs.KVCheckNotExists, DirEnt: structs.DirEntry{Key: "app/a"}}},
	}}, &tr)
	if len(tr.Errors) != 1 || tr.Errors[0].OpIndex != 1 {
		t.Fatalf("txn errors %+v", tr)
	}
	rpc(t, s, structs.MethodKVSGet, &structs.KeyRequest{Key: "t/1"}, &got)
	if len(got.Entries) != 0 {
		t.Fatal("failed txn wrote")
	}
	rpc(t, s, structs.MethodTxnApply, &structs.TxnRequest{Ops: []*structs.TxnOp{
		{KV: &structs.TxnKVOp{Verb: structs.KVSet, DirEnt: structs.DirEntry{Key: "t/1", Value: []byte("x")}}},
		{KV: &structs.TxnKVOp{Verb: structs.KVGet, DirEnt: structs.DirEntry{Key: "app/a"}}},
	}}, &tr)
	if len(tr.Errors) != 0 || len(tr.Results) != 2 || string(tr.Results[1].KV.Value) != "2" {
		t.Fatalf("txn %+v", tr)
	}
	var keys structs.IndexedKeyList
	rpc(t, s, structs.MethodKVSListKeys, &structs.KeyListRequest{Prefix: "", Seperator: "/"}, &keys)
	if fmt.Sprint(keys.Keys) != "[app/ l t/]" {
		t.Fatalf("keys %v", keys.Keys)
	}
	var list structs.IndexedDirEntries
	rpc(t, s, structs.MethodKVSList, &structs.KeyRequest{Key: "app/"}, &list)
	if len(list.Entries) != 1 {
		t.Fatalf("list %+v", list.Entries)
	}
}

func TestBlockingQuery(t *testing.T) {
	s := devServer(t)
	kvApply(t, s, structs.KVSet, structs.DirEntry{Key: "watched", Value: []byte("1")})
	kvApply(t, s, structs.KVSet, structs.DirEntry{Key: "other", Value: []byte("1")})
	var first structs.IndexedDirEntries
	rpc(t, s, structs.MethodKVSGet, &structs.KeyRequest{Key: "watched"}, &first)

	type result struct {
		reply structs.IndexedDirEntries
		err   error
		took  time.Duration
	}
	block := func(wait time.Duration) chan result {
		ch := make(chan result, 1)
		go func() {
			var r result
			start := time.Now()
			r.err = s.RPC(context.Background(), structs.MethodKVSGet, &structs.KeyRequest{Key: "watched",
				QueryOptions: structs.QueryOptions{MinQueryIndex: first.Index, MaxQueryTime: wait}}, &r.reply)
			r.took = time.Since(start)
			ch <- r
		}()
		return ch
	}

	// A write to another key does not wake the query; it times out with
	// the same index.
	ch := block(300 * time.Millisecond)
	time.Sleep(50 * time.Millisecond) // let the query block before the unrelated write
	kvApply(t, s, structs.KVSet, structs.DirEntry{Key: "other", Value: []byte("2")})
	r := <-ch
	if r.err != nil || r.reply.Index != first.Index || r.took < 300*time.Millisecond {
		t.Fatalf("unrelated write: index %d (want %d) after %v, err %v", r.reply.Index, first.Index, r.took, r.err)
	}

	// A write to the key wakes it promptly.
	ch = block(10 * time.Second)
	time.Sleep(50 * time.Millisecond)
	kvApply(t, s, structs.KVSet, structs.DirEntry{Key: "watched", Value: []byte("2")})
	select {
	case r = <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("blocking query did not wake on its key")
	}
	if r.err != nil || r.reply.Index <= first.Index || string(r.reply.Entries[0].Value) != "2" {
		t.Fatalf("woken query: %+v err %v", r.reply, r.err)
	}

	// Cancelling the caller's context ends the query with its error.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.RPC(ctx, structs.MethodKVSGet, &structs.KeyRequest{Key: "watched",
			QueryOptions: structs.QueryOptions{MinQueryIndex: r.reply.Index}}, new(structs.IndexedDirEntries))
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled query: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled query did not return")
	}
}

func TestRestartKeepsDataAndDoesNotRebootstrap(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig("persist")
	cfg.DataDir = dir
	cfg.Bootstrap = true
	s1, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, s1)
	registerWeb(t, s1, "n1", "127.0.0.11", "web1")
	kvApply(t, s1, structs.KVSet, structs.DirEntry{Key: "keep", Value: []byte("me")})
	addr := s1.LocalAddr()
	if err := s1.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s1.Shutdown(context.Background()); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}

	// Same address on restart (the in-memory transport picks a new one, so
	// pass one with the old address), bootstrap still set.
	_, trans := raft.NewInmemTransport(addr)
	s2 := startServer(t, cfg, Deps{Transport: trans})
	waitLeader(t, s2)
	var got structs.IndexedDirEntries
	rpc(t, s2, structs.MethodKVSGet, &structs.KeyRequest{Key: "keep"}, &got)
	if len(got.Entries) != 1 || string(got.Entries[0].Value) != "me" {
		t.Fatalf("kv lost on restart: %+v", got)
	}
	var sn structs.IndexedServiceNodes
	rpc(t, s2, structs.MethodCatalogServiceNodes, &structs.ServiceSpecificRequest{ServiceName: "web"}, &sn)
	if len(sn.ServiceNodes) != 1 {
		t.Fatalf("catalog lost on restart: %+v", sn)
	}
	f := s2.Raft().GetConfiguration()
	if err := f.Error(); err != nil || len(f.Configuration().Servers) != 1 {
		t.Fatalf("raft configuration %+v %v", f.Configuration(), err)
	}
	if err := s2.BootstrapCluster([]raft.Server{{ID: s2.LocalID(), Address: s2.LocalAddr()}}); !errors.Is(err, raft.ErrCantBootstrap) {
		t.Fatalf("bootstrap over existing state: %v", err)
	}
}

func TestLockDelayAfterInvalidation(t *testing.T) {
	s := devServer(t)
	registerWeb(t, s, "n1", "10.0.0.1", "web-1")
	var id string
	rpc(t, s, structs.MethodSessionApply, &structs.SessionRequest{Op: structs.SessionCreate,
		Session: structs.Session{Node: "n1", LockDelay: 300 * time.Millisecond, NodeChecks: []string{structs.SerfCheckID}}}, &id)
	if !kvApply(t, s, structs.KVLock, structs.DirEntry{Key: "leader", Session: id}) {
		t.Fatal("first lock failed")
	}
	// The node's serfHealth goes critical: the session is invalidated.
	rpc(t, s, structs.MethodCatalogRegister, &structs.RegisterRequest{Node: "n1", Address: "10.0.0.1",
		Check: &structs.HealthCheck{CheckID: structs.SerfCheckID, Name: structs.SerfCheckName, Status: structs.HealthCritical}}, &struct{}{})
	registerWeb(t, s, "n2", "10.0.0.2", "web-2")
	var id2 string
	rpc(t, s, structs.MethodSessionApply, &structs.SessionRequest{Op: structs.SessionCreate,
		Session: structs.Session{Node: "n2", NodeChecks: []string{structs.SerfCheckID}}}, &id2)
	if kvApply(t, s, structs.KVLock, structs.DirEntry{Key: "leader", Session: id2}) {
		t.Fatal("lock taken inside the lock delay")
	}
	testutil.WaitFor(t, 3*time.Second, "lock after the delay", func() bool {
		return kvApply(t, s, structs.KVLock, structs.DirEntry{Key: "leader", Session: id2})
	})
}
