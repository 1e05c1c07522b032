package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/serf/coordinate"

	"consulate/internal/testutil"
	"consulate/structs"
)

const testMgmt = "9a1d3c55-0000-4000-8000-00000000f00d"

// enforcingServer is a single server with ACLs on, default policy deny and
// an initial management token (testMgmt).
func enforcingServer(t testing.TB, mutate func(*Config)) *Server {
	t.Helper()
	return enforcingServerDeps(t, mutate, Deps{})
}

func enforcingServerDeps(t testing.TB, mutate func(*Config), deps Deps) *Server {
	t.Helper()
	cfg := testConfig("s1")
	cfg.Bootstrap, cfg.ACLsEnabled, cfg.ACLDefaultPolicy = true, true, "deny"
	cfg.ACLInitialManagementToken = testMgmt
	cfg.ACLTokenReapInterval = 20 * time.Millisecond
	cfg.ACLTokenMinExpirationTTL = 100 * time.Millisecond
	if mutate != nil {
		mutate(cfg)
	}
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
		_ = s.Shutdown(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "initial management token", func() bool {
		_, tok, _ := s.State().ACLTokenGetBySecret(nil, testMgmt)
		_, anon, _ := s.State().ACLTokenGetByAccessor(nil, structs.ACLTokenAnonymousID)
		return tok != nil && anon != nil
	})
	return s
}

// as sets the token of a request and returns it.
func as[T structs.TokenHolder](secret string, args T) T {
	args.SetTokenSecret(secret)
	return args
}

// tokenWith creates a policy with rules and a token linking it; it
// returns the token's secret.
func tokenWith(t testing.TB, s *Server, name, rules string) string {
	t.Helper()
	var pol structs.ACLPolicy
	if err := s.RPC(context.Background(), structs.MethodACLPolicySet, as(testMgmt, &structs.ACLPolicySetRequest{
		Policy: structs.ACLPolicy{Name: name, Rules: rules}}), &pol); err != nil {
		t.Fatal(err)
	}
	var tok structs.ACLToken
	if err := s.RPC(context.Background(), structs.MethodACLTokenSet, as(testMgmt, &structs.ACLTokenSetRequest{Create: true,
		ACLToken: structs.ACLToken{Policies: []*structs.ACLLink{{ID: pol.ID}}}}), &tok); err != nil {
		t.Fatal(err)
	}
	return tok.SecretID
}

func wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, structs.ErrPermissionDenied) {
		t.Fatalf("%s: %v, want permission denied", what, err)
	}
}

func call(s *Server, method structs.Method, args, reply any) error {
	return s.RPC(context.Background(), method, args, reply)
}

func registerAs(secret, node, service string) *structs.RegisterRequest {
	r := &structs.RegisterRequest{Node: node, Address: "10.0.0.1",
		Checks: structs.HealthChecks{{CheckID: structs.SerfCheckID, Name: structs.SerfCheckName, Status: structs.HealthPassing}}}
	if service != "" {
		r.Service = &structs.NodeService{ID: service, Service: service, Port: 80}
		r.Checks = append(r.Checks, &structs.HealthCheck{CheckID: "svc:" + service, Name: service,
			ServiceID: service, Status: structs.HealthPassing})
	}
	r.Token = secret
	return r
}

func TestACLEnforceCatalogAndHealth(t *testing.T) {
	s := enforcingServer(t, nil)
	rpc(t, s, structs.MethodCatalogRegister, registerAs(testMgmt, "n1", "web"), &struct{}{})
	rpc(t, s, structs.MethodCatalogRegister, registerAs(testMgmt, "n2", "db"), &struct{}{})

	reader := tokenWith(t, s, "reader", `node "n1" { policy = "read" }
service "web" { policy = "read" }`)

	// Nodes: filtered, with the flag; management sees all, unflagged.
	var nodes structs.IndexedNodes
	rpc(t, s, structs.MethodCatalogListNodes, as(reader, &structs.DCSpecificRequest{}), &nodes)
	if len(nodes.Nodes) != 1 || nodes.Nodes[0].Node != "n1" || !nodes.ResultsFilteredByACLs {
		t.Fatalf("reader nodes %+v filtered=%v", nodes.Nodes, nodes.ResultsFilteredByACLs)
	}
	rpc(t, s, structs.MethodCatalogListNodes, as(testMgmt, &structs.DCSpecificRequest{}), &nodes)
	if len(nodes.Nodes) < 2 || nodes.ResultsFilteredByACLs {
		t.Fatalf("management nodes %+v filtered=%v", nodes.Nodes, nodes.ResultsFilteredByACLs)
	}
	// Anonymous under default deny sees nothing.
	rpc(t, s, structs.MethodCatalogListNodes, &structs.DCSpecificRequest{}, &nodes)
	if len(nodes.Nodes) != 0 || !nodes.ResultsFilteredByACLs {
		t.Fatalf("anonymous nodes %+v", nodes.Nodes)
	}

	var svcs structs.IndexedServices
	rpc(t, s, structs.MethodCatalogListServices, as(reader, &structs.DCSpecificRequest{}), &svcs)
	if _, ok := svcs.Services["web"]; !ok || len(svcs.Services) != 1 || !svcs.ResultsFilteredByACLs {
		t.Fatalf("reader services %+v", svcs.Services)
	}
	var sn structs.IndexedServiceNodes
	rpc(t, s, structs.MethodCatalogServiceNodes, as(reader, &structs.ServiceSpecificRequest{ServiceName: "web"}), &sn)
	if len(sn.ServiceNodes) != 1 || sn.ResultsFilteredByACLs {
		t.Fatalf("reader web nodes %+v", sn.ServiceNodes)
	}
	rpc(t, s, structs.MethodCatalogServiceNodes, as(reader, &structs.ServiceSpecificRequest{ServiceName: "db"}), &sn)
	if len(sn.ServiceNodes) != 0 || !sn.ResultsFilteredByACLs {
		t.Fatalf("reader db nodes %+v", sn.ServiceNodes)
	}
	var csn structs.IndexedCheckServiceNodes
	rpc(t, s, structs.MethodHealthServiceNodes, as(reader, &structs.ServiceSpecificRequest{ServiceName: "web"}), &csn)
	if len(csn.Nodes) != 1 || csn.ResultsFilteredByACLs {
		t.Fatalf("reader health web %+v", csn.Nodes)
	}
	rpc(t, s, structs.MethodHealthServiceNodes, as(reader, &structs.ServiceSpecificRequest{ServiceName: "db"}), &csn)
	if len(csn.Nodes) != 0 || !csn.ResultsFilteredByACLs {
		t.Fatalf("reader health db %+v", csn.Nodes)
	}
	var ns structs.IndexedNodeServices
	rpc(t, s, structs.MethodCatalogNodeServices, as(reader, &structs.NodeSpecificRequest{Node: "n2"}), &ns)
	if ns.NodeServices != nil || !ns.ResultsFilteredByACLs {
		t.Fatalf("reader node n2 %+v", ns.NodeServices)
	}
	rpc(t, s, structs.MethodCatalogNodeServices, as(reader, &structs.NodeSpecificRequest{Node: "n1"}), &ns)
	if ns.NodeServices == nil || len(ns.NodeServices.Services) != 1 {
		t.Fatalf("reader node n1 %+v", ns.NodeServices)
	}
	var checks structs.IndexedHealthChecks
	rpc(t, s, structs.MethodHealthChecksInState, as(reader, &structs.ChecksInStateRequest{State: structs.HealthAny}), &checks)
	for _, c := range checks.HealthChecks {
		if c.Node != "n1" {
			t.Fatalf("reader sees check %+v", c)
		}
	}
	if len(checks.HealthChecks) != 2 || !checks.ResultsFilteredByACLs {
		t.Fatalf("reader checks %+v", checks.HealthChecks)
	}
	rpc(t, s, structs.MethodHealthNodeChecks, as(reader, &structs.NodeSpecificRequest{Node: "n2"}), &checks)
	if len(checks.HealthChecks) != 0 || !checks.ResultsFilteredByACLs {
		t.Fatalf("reader n2 checks %+v", checks.HealthChecks)
	}
	rpc(t, s, structs.MethodHealthServiceChecks, as(reader, &structs.ServiceSpecificRequest{ServiceName: "web"}), &checks)
	if len(checks.HealthChecks) != 1 || checks.ResultsFilteredByACLs {
		t.Fatalf("reader web checks %+v", checks.HealthChecks)
	}

	// Writes: node:write for a new node, service:write for its service.
	wantDenied(t, "register with a read token", call(s, structs.MethodCatalogRegister, registerAs(reader, "n1", "web"), &struct{}{}))
	writer := tokenWith(t, s, "writer", `node "n3" { policy = "write" }
service "api" { policy = "write" }`)
	rpc(t, s, structs.MethodCatalogRegister, registerAs(writer, "n3", "api"), &struct{}{})
	wantDenied(t, "register a service without service:write", call(s, structs.MethodCatalogRegister, registerAs(writer, "n3", "web"), &struct{}{}))
	wantDenied(t, "register a node without node:write", call(s, structs.MethodCatalogRegister, registerAs(writer, "n4", ""), &struct{}{}))
	// A service on an existing node, node unchanged: service:write is enough.
	svcOnly := tokenWith(t, s, "svc-only", `service "api" { policy = "write" }`)
	rpc(t, s, structs.MethodCatalogRegister, registerAs(testMgmt, "n5", ""), &struct{}{})
	reg := registerAs(svcOnly, "n5", "api")
	reg.Checks = reg.Checks[1:]
	rpc(t, s, structs.MethodCatalogRegister, reg, &struct{}{})
	// Changing the node needs node:write; SkipNodeUpdate leaves an
	// existing node alone and needs none.
	reg.Address = "10.0.0.2"
	wantDenied(t, "change a node without node:write", call(s, structs.MethodCatalogRegister, reg, &struct{}{}))
	reg.SkipNodeUpdate = true
	rpc(t, s, structs.MethodCatalogRegister, reg, &struct{}{})
	if _, n, _ := s.State().GetNode(nil, "n5"); n == nil || n.Address != "10.0.0.1" {
		t.Fatalf("n5 after a SkipNodeUpdate registration: %+v", n)
	}
	// A node that does not exist needs node:write even with
	// SkipNodeUpdate: the registration would create it (as Consul).
	evil := registerAs(svcOnly, "evil", "api")
	evil.Checks, evil.Address, evil.SkipNodeUpdate = nil, "1.2.3.4", true
	wantDenied(t, "create a node with SkipNodeUpdate without node:write", call(s, structs.MethodCatalogRegister, evil, &struct{}{}))
	if _, n, _ := s.State().GetNode(nil, "evil"); n != nil {
		t.Fatalf("node evil created: %+v", n)
	}
	wantDenied(t, "deregister a node without node:write", call(s, structs.MethodCatalogDeregister,
		as(svcOnly, &structs.DeregisterRequest{Node: "n5"}), &struct{}{}))
	rpc(t, s, structs.MethodCatalogDeregister, as(svcOnly, &structs.DeregisterRequest{Node: "n5", ServiceID: "api"}), &struct{}{})
	rpc(t, s, structs.MethodCatalogDeregister, as(writer, &structs.DeregisterRequest{Node: "n3"}), &struct{}{})

	// A policy change is seen at once (the cache follows the ACL tables).
	var pol structs.ACLPolicyResponse
	rpc(t, s, structs.MethodACLPolicyRead, as(testMgmt, &structs.ACLPolicyGetRequest{PolicyID: "reader", ByName: true}), &pol)
	upd := *pol.Policy
	upd.Rules = `node_prefix "" { policy = "read" }`
	var stored structs.ACLPolicy
	rpc(t, s, structs.MethodACLPolicySet, as(testMgmt, &structs.ACLPolicySetRequest{Policy: upd}), &stored)
	rpc(t, s, structs.MethodCatalogListNodes, as(reader, &structs.DCSpecificRequest{}), &nodes)
	if len(nodes.Nodes) < 2 || nodes.ResultsFilteredByACLs {
		t.Fatalf("nodes after the policy update %+v", nodes.Nodes)
	}
}

func TestACLEnforceBlockingQueryRefilters(t *testing.T) {
	s := enforcingServer(t, nil)
	reader := tokenWith(t, s, "reader", `node "n1" { policy = "read" }`)
	rpc(t, s, structs.MethodCatalogRegister, registerAs(testMgmt, "n1", ""), &struct{}{})
	var first structs.IndexedNodes
	rpc(t, s, structs.MethodCatalogListNodes, as(reader, &structs.DCSpecificRequest{}), &first)
	done := make(chan structs.IndexedNodes, 1)
	go func() {
		var out structs.IndexedNodes
		_ = call(s, structs.MethodCatalogListNodes, as(reader, &structs.DCSpecificRequest{QueryOptions: structs.QueryOptions{
			MinQueryIndex: first.Index, MaxQueryTime: 5 * time.Second}}), &out)
		done <- out
	}()
	rpc(t, s, structs.MethodCatalogRegister, registerAs(testMgmt, "n2", ""), &struct{}{})
	select {
	case out := <-done:
		if len(out.Nodes) != 1 || out.Nodes[0].Node != "n1" || !out.ResultsFilteredByACLs || out.Index <= first.Index {
			t.Fatalf("woken query %+v", out)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocking query did not wake")
	}
}

func TestACLEnforceKVAndTxn(t *testing.T) {
	s := enforcingServer(t, nil)
	for _, k := range []string{"app/a", "app/secret", "other/b"} {
		var ok bool
		rpc(t, s, structs.MethodKVSApply, as(testMgmt, &structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: k, Value: []byte("v")}}), &ok)
	}
	kv := tokenWith(t, s, "kv", `key_prefix "app/" { policy = "write" }
key "app/secret" { policy = "deny" }`)
	var ents structs.IndexedDirEntries
	rpc(t, s, structs.MethodKVSGet, as(kv, &structs.KeyRequest{Key: "app/a"}), &ents)
	if len(ents.Entries) != 1 {
		t.Fatalf("get %+v", ents.Entries)
	}
	wantDenied(t, "get denied key", call(s, structs.MethodKVSGet, as(kv, &structs.KeyRequest{Key: "app/secret"}), &ents))
	wantDenied(t, "get outside the prefix", call(s, structs.MethodKVSGet, as(kv, &structs.KeyRequest{Key: "other/b"}), &ents))
	rpc(t, s, structs.MethodKVSList, as(kv, &structs.KeyRequest{Key: ""}), &ents)
	if len(ents.Entries) != 1 || ents.Entries[0].Key != "app/a" || !ents.ResultsFilteredByACLs {
		t.Fatalf("list %+v", ents.Entries)
	}
	rpc(t, s, structs.MethodKVSList, as(testMgmt, &structs.KeyRequest{Key: ""}), &ents)
	if len(ents.Entries) != 3 || ents.ResultsFilteredByACLs {
		t.Fatalf("management list %+v", ents.Entries)
	}
	var keys structs.IndexedKeyList
	rpc(t, s, structs.MethodKVSListKeys, as(kv, &structs.KeyListRequest{Prefix: "app/"}), &keys)
	if len(keys.Keys) != 1 || keys.Keys[0] != "app/a" || !keys.ResultsFilteredByACLs {
		t.Fatalf("keys %+v", keys.Keys)
	}
	var ok bool
	rpc(t, s, structs.MethodKVSApply, as(kv, &structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "app/new", Value: []byte("x")}}), &ok)
	wantDenied(t, "set outside the prefix", call(s, structs.MethodKVSApply,
		as(kv, &structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "other/c"}}), &ok))
	wantDenied(t, "delete-tree over a denied key", call(s, structs.MethodKVSApply,
		as(kv, &structs.KVSRequest{Op: structs.KVDeleteTree, DirEnt: structs.DirEntry{Key: "app/"}}), &ok))
	rpc(t, s, structs.MethodKVSApply, as(kv, &structs.KVSRequest{Op: structs.KVDeleteTree, DirEnt: structs.DirEntry{Key: "app/n"}}), &ok)

	// Txn: a refused op is an error of the transaction, nothing applied.
	var tr structs.TxnResponse
	rpc(t, s, structs.MethodTxnApply, as(kv, &structs.TxnRequest{Ops: []*structs.TxnOp{
		{KV: &structs.TxnKVOp{Verb: structs.KVSet, DirEnt: structs.DirEntry{Key: "app/t", Value: []byte("1")}}},
		{KV: &structs.TxnKVOp{Verb: structs.KVSet, DirEnt: structs.DirEntry{Key: "other/t", Value: []byte("1")}}},
	}}), &tr)
	if len(tr.Errors) != 1 || tr.Errors[0].OpIndex != 1 {
		t.Fatalf("txn errors %+v", tr.Errors)
	}
	if _, e, _ := s.State().KVGet(nil, "app/t"); e != nil {
		t.Fatal("refused transaction applied")
	}
	// Txn reads: results the token may not read are dropped.
	var rr structs.TxnReadResponse
	rpc(t, s, structs.MethodTxnRead, as(kv, &structs.TxnReadRequest{Ops: []*structs.TxnOp{
		{KV: &structs.TxnKVOp{Verb: structs.KVGetTree, DirEnt: structs.DirEntry{Key: ""}}},
	}}), &rr)
	for _, r := range rr.Results {
		if r.KV != nil && r.KV.Key != "app/a" {
			t.Fatalf("txn read shows %q", r.KV.Key)
		}
	}

	// enable_key_list_policy: listing needs key:list.
	s2 := enforcingServer(t, func(c *Config) { c.ACLEnableKeyListPolicy = true })
	reader := tokenWith(t, s2, "kv-read", `key_prefix "" { policy = "read" }`)
	wantDenied(t, "list without key:list", call(s2, structs.MethodKVSList, as(reader, &structs.KeyRequest{Key: ""}), &ents))
	lister := tokenWith(t, s2, "kv-list", `key_prefix "" { policy = "list" }`)
	rpc(t, s2, structs.MethodKVSList, as(lister, &structs.KeyRequest{Key: ""}), &ents)
}

func TestACLEnforceSessionsQueriesCoordinates(t *testing.T) {
	s := enforcingServer(t, nil)
	rpc(t, s, structs.MethodCatalogRegister, registerAs(testMgmt, "n1", "web"), &struct{}{})
	rpc(t, s, structs.MethodCatalogRegister, registerAs(testMgmt, "n2", ""), &struct{}{})
	sess := tokenWith(t, s, "sess", `session "n1" { policy = "write" }`)
	var id string
	rpc(t, s, structs.MethodSessionApply, as(sess, &structs.SessionRequest{Op: structs.SessionCreate, Session: structs.Session{Node: "n1"}}), &id)
	wantDenied(t, "session on another node", call(s, structs.MethodSessionApply,
		as(sess, &structs.SessionRequest{Op: structs.SessionCreate, Session: structs.Session{Node: "n2"}}), &id))
	var other string
	rpc(t, s, structs.MethodSessionApply, as(testMgmt, &structs.SessionRequest{Op: structs.SessionCreate, Session: structs.Session{Node: "n2"}}), &other)
	var list structs.IndexedSessions
	rpc(t, s, structs.MethodSessionList, as(sess, &structs.DCSpecificRequest{}), &list)
	if len(list.Sessions) != 1 || list.Sessions[0].ID != id || !list.ResultsFilteredByACLs {
		t.Fatalf("sessions %+v", list.Sessions)
	}
	rpc(t, s, structs.MethodSessionGet, as(sess, &structs.SessionSpecificRequest{SessionID: other}), &list)
	if len(list.Sessions) != 0 || !list.ResultsFilteredByACLs {
		t.Fatalf("other session %+v", list.Sessions)
	}
	wantDenied(t, "renew another node's session", call(s, structs.MethodSessionRenew, as(sess, &structs.SessionSpecificRequest{SessionID: other}), &list))
	wantDenied(t, "destroy another node's session", call(s, structs.MethodSessionApply,
		as(sess, &structs.SessionRequest{Op: structs.SessionDestroy, Session: structs.Session{ID: other}}), &id))

	// Prepared queries: query:write on the name; reads filtered, tokens hidden.
	q := tokenWith(t, s, "q", `query_prefix "web-" { policy = "write" }
service "web" { policy = "read" }
node "n1" { policy = "read" }`)
	var qid string
	rpc(t, s, structs.MethodPreparedQueryApply, as(q, &structs.PreparedQueryRequest{Op: structs.PreparedQueryCreate,
		Query: &structs.PreparedQuery{Name: "web-q", Token: testMgmt, Service: structs.ServiceQuery{Service: "web"}}}), &qid)
	wantDenied(t, "query outside the prefix", call(s, structs.MethodPreparedQueryApply, as(q, &structs.PreparedQueryRequest{
		Op: structs.PreparedQueryCreate, Query: &structs.PreparedQuery{Name: "db-q", Service: structs.ServiceQuery{Service: "db"}}}), &qid))
	var dbq string
	rpc(t, s, structs.MethodPreparedQueryApply, as(testMgmt, &structs.PreparedQueryRequest{Op: structs.PreparedQueryCreate,
		Query: &structs.PreparedQuery{Name: "db-q", Service: structs.ServiceQuery{Service: "web"}}}), &dbq)
	var qs structs.IndexedPreparedQueries
	rpc(t, s, structs.MethodPreparedQueryList, as(q, &structs.DCSpecificRequest{}), &qs)
	if len(qs.Queries) != 1 || qs.Queries[0].Name != "web-q" || qs.Queries[0].Token != redactedToken || !qs.ResultsFilteredByACLs {
		t.Fatalf("queries %+v", qs.Queries)
	}
	rpc(t, s, structs.MethodPreparedQueryList, as(testMgmt, &structs.DCSpecificRequest{}), &qs)
	if len(qs.Queries) != 2 || qs.ResultsFilteredByACLs {
		t.Fatalf("management queries %+v", qs.Queries)
	}
	wantDenied(t, "get another prefix's query", call(s, structs.MethodPreparedQueryGet, as(q, &structs.PreparedQuerySpecificRequest{QueryID: dbq}), &qs))
	// Execute filters with the query's token (management: all) or the
	// caller's: db-q has none, so anonymous (deny) sees nothing.
	var res structs.PreparedQueryExecuteResponse
	rpc(t, s, structs.MethodPreparedQueryExecute, &structs.PreparedQueryExecuteRequest{QueryIDOrName: "web-q"}, &res)
	if len(res.Nodes) != 1 || res.ResultsFilteredByACLs {
		t.Fatalf("execute with the query's token %+v", res.Nodes)
	}
	rpc(t, s, structs.MethodPreparedQueryExecute, &structs.PreparedQueryExecuteRequest{QueryIDOrName: "db-q"}, &res)
	if len(res.Nodes) != 0 || !res.ResultsFilteredByACLs {
		t.Fatalf("anonymous execute %+v", res.Nodes)
	}
	rpc(t, s, structs.MethodPreparedQueryExecute, as(q, &structs.PreparedQueryExecuteRequest{QueryIDOrName: "db-q"}), &res)
	if len(res.Nodes) != 1 {
		t.Fatalf("execute with the caller's token %+v", res.Nodes)
	}

	// Coordinates: update needs node:write; the list is filtered.
	wantDenied(t, "coordinate update", call(s, structs.MethodCoordinateUpdate, as(sess, &structs.CoordinateUpdateRequest{
		Node: "n1", Coord: validCoord()}), &struct{}{}))
	rpc(t, s, structs.MethodCoordinateUpdate, as(testMgmt, &structs.CoordinateUpdateRequest{Node: "n1", Coord: validCoord()}), &struct{}{})
	rpc(t, s, structs.MethodCoordinateUpdate, as(testMgmt, &structs.CoordinateUpdateRequest{Node: "n2", Coord: validCoord()}), &struct{}{})
	var coords structs.IndexedCoordinates
	rpc(t, s, structs.MethodCoordinateListNodes, as(q, &structs.DCSpecificRequest{}), &coords)
	if len(coords.Coordinates) != 1 || coords.Coordinates[0].Node != "n1" || !coords.ResultsFilteredByACLs {
		t.Fatalf("coordinates %+v", coords.Coordinates)
	}
}

func TestACLEnforceOperatorAndOthers(t *testing.T) {
	s := enforcingServer(t, nil)
	none := tokenWith(t, s, "none", `node "x" { policy = "read" }`)
	op := tokenWith(t, s, "op", `operator = "read"
keyring = "read"
event "deploy" { policy = "write" }
acl = "read"`)

	var raftCfg structs.RaftConfigurationResponse
	wantDenied(t, "raft configuration", call(s, structs.MethodOperatorRaftConfiguration, as(none, &structs.DCSpecificRequest{}), &raftCfg))
	rpc(t, s, structs.MethodOperatorRaftConfiguration, as(op, &structs.DCSpecificRequest{}), &raftCfg)
	wantDenied(t, "remove peer with operator:read", call(s, structs.MethodOperatorRaftRemovePeer,
		as(op, &structs.RaftRemovePeerRequest{ID: "nope"}), &struct{}{}))

	var snap structs.SnapshotResponse
	wantDenied(t, "snapshot save", call(s, structs.MethodSnapshotSave, as(op, &structs.SnapshotRequest{}), &snap))
	rpc(t, s, structs.MethodSnapshotSave, as(testMgmt, &structs.SnapshotRequest{}), &snap)
	wantDenied(t, "snapshot restore", call(s, structs.MethodSnapshotRestore, as(op, &structs.SnapshotRequest{Archive: snap.Archive}), &struct{}{}))

	var kr structs.KeyringResponses
	wantDenied(t, "keyring list", call(s, structs.MethodKeyringOperation, as(none, &structs.KeyringRequest{Operation: structs.KeyringList}), &kr))
	if err := call(s, structs.MethodKeyringOperation, as(op, &structs.KeyringRequest{Operation: structs.KeyringList}), &kr); !errors.Is(err, ErrNoKeyring) {
		t.Fatalf("keyring list with keyring:read: %v", err)
	}
	wantDenied(t, "keyring install", call(s, structs.MethodKeyringOperation,
		as(op, &structs.KeyringRequest{Operation: structs.KeyringInstall, Key: "k"}), &kr))

	var ev structs.EventFireResponse
	wantDenied(t, "event fire", call(s, structs.MethodEventFire, as(op, &structs.EventFireRequest{Name: "other"}), &ev))
	if err := call(s, structs.MethodEventFire, as(op, &structs.EventFireRequest{Name: "deploy"}), &ev); !errors.Is(err, ErrNoEvents) {
		t.Fatalf("event fire with event:write: %v", err)
	}

	// Status needs nothing.
	var leader string
	rpc(t, s, structs.MethodStatusLeader, &structs.EmptyRequest{}, &leader)

	// ACL endpoints: acl:read lists with secrets hidden; writes need
	// acl:write; token/self needs only the token.
	var toks structs.ACLTokensResponse
	wantDenied(t, "token list", call(s, structs.MethodACLTokenList, as(none, &structs.ACLTokenListRequest{}), &toks))
	rpc(t, s, structs.MethodACLTokenList, as(op, &structs.ACLTokenListRequest{}), &toks)
	for _, tk := range toks.Tokens {
		if tk.SecretID != redactedToken {
			t.Fatalf("acl:read sees secret of %s", tk.AccessorID)
		}
	}
	rpc(t, s, structs.MethodACLTokenList, as(testMgmt, &structs.ACLTokenListRequest{}), &toks)
	for _, tk := range toks.Tokens {
		if tk.SecretID == redactedToken {
			t.Fatal("management sees hidden secrets")
		}
	}
	var pol structs.ACLPolicy
	wantDenied(t, "policy write with acl:read", call(s, structs.MethodACLPolicySet,
		as(op, &structs.ACLPolicySetRequest{Policy: structs.ACLPolicy{Name: "p"}}), &pol))
	var self structs.ACLTokenResponse
	rpc(t, s, structs.MethodACLTokenRead, as(none, &structs.ACLTokenGetRequest{TokenID: none, BySecret: true}), &self)
	if self.Token == nil || self.Token.SecretID != none {
		t.Fatalf("token/self %+v", self.Token)
	}
}

func TestACLEnforceUnknownExpiredAndDefaultAllow(t *testing.T) {
	s := enforcingServer(t, nil)
	var nodes structs.IndexedNodes
	if err := call(s, structs.MethodCatalogListNodes, as("5e1a2b3c-0000-4000-8000-000000000000", &structs.DCSpecificRequest{}), &nodes); !errors.Is(err, structs.ErrACLNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	var ok bool
	if err := call(s, structs.MethodKVSApply, as("nope", &structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "k"}}), &ok); !errors.Is(err, structs.ErrACLNotFound) {
		t.Fatalf("unknown token write: %v", err)
	}
	var short structs.ACLToken
	rpc(t, s, structs.MethodACLTokenSet, as(testMgmt, &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{
		Policies: []*structs.ACLLink{{ID: structs.ACLPolicyGlobalManagementID}}, ExpirationTTL: 150 * time.Millisecond}}), &short)
	rpc(t, s, structs.MethodCatalogListNodes, as(short.SecretID, &structs.DCSpecificRequest{}), &nodes)
	testutil.WaitFor(t, 5*time.Second, "token expired", func() bool {
		err := call(s, structs.MethodCatalogListNodes, as(short.SecretID, &structs.DCSpecificRequest{}), &nodes)
		return errors.Is(err, structs.ErrACLNotFound)
	})

	// default_policy allow: anonymous reads and writes, but no ACL rights.
	open := enforcingServer(t, func(c *Config) { c.ACLDefaultPolicy = "allow" })
	rpc(t, open, structs.MethodKVSApply, &structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "k"}}, &ok)
	rpc(t, open, structs.MethodCatalogRegister, registerAs("", "n1", "web"), &struct{}{})
	rpc(t, open, structs.MethodCatalogListNodes, &structs.DCSpecificRequest{}, &nodes)
	if len(nodes.Nodes) == 0 || nodes.ResultsFilteredByACLs {
		t.Fatalf("default allow nodes %+v", nodes.Nodes)
	}
	var toks structs.ACLTokensResponse
	wantDenied(t, "token list under default allow", call(open, structs.MethodACLTokenList, &structs.ACLTokenListRequest{}, &toks))
}

func TestACLsOffNoEnforcement(t *testing.T) {
	s := devServer(t)
	registerWeb(t, s, "n1", "10.0.0.1", "web1")
	var nodes structs.IndexedNodes
	rpc(t, s, structs.MethodCatalogListNodes, as("any-token", &structs.DCSpecificRequest{}), &nodes)
	if len(nodes.Nodes) != 1 || nodes.ResultsFilteredByACLs {
		t.Fatalf("nodes with ACLs off %+v", nodes.Nodes)
	}
	var ok bool
	rpc(t, s, structs.MethodKVSApply, as("any-token", &structs.KVSRequest{Op: structs.KVDeleteTree, DirEnt: structs.DirEntry{Key: ""}}), &ok)
	if z, err := s.authorizer("any-token"); z != nil || err != nil {
		t.Fatalf("authorizer with ACLs off: %v %v", z, err)
	}
}

// BenchmarkHealthServiceNodesACL compares a health service read of 50
// instances with ACLs off and on (a token reading every service and node,
// so nothing is filtered).
func BenchmarkHealthServiceNodesACL(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			var s *Server
			secret := ""
			if mode == "on" {
				s = enforcingServer(b, nil)
				secret = tokenWith(b, s, "read-all", `service_prefix "" { policy = "read" }
node_prefix "" { policy = "read" }`)
			} else {
				cfg := testConfig("s1")
				cfg.Bootstrap = true
				var err error
				if s, err = New(cfg, Deps{}); err != nil {
					b.Fatal(err)
				}
				if err := s.Start(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = s.Shutdown(context.Background()) })
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if _, err := s.WaitForLeader(ctx); err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; i < 50; i++ {
				node := "n" + string(rune('a'+i%26)) + string(rune('a'+i/26))
				r := registerAs(testMgmt, node, "web")
				r.Service.ID = "web-" + node
				r.Checks[1].ServiceID = r.Service.ID
				if err := call(s, structs.MethodCatalogRegister, r, &struct{}{}); err != nil {
					b.Fatal(err)
				}
			}
			args := &structs.ServiceSpecificRequest{ServiceName: "web", QueryOptions: structs.QueryOptions{Token: secret, AllowStale: true}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var reply structs.IndexedCheckServiceNodes
				if err := call(s, structs.MethodHealthServiceNodes, args, &reply); err != nil || len(reply.Nodes) != 50 {
					b.Fatalf("%v %d", err, len(reply.Nodes))
				}
			}
		})
	}
}

func validCoord() *coordinate.Coordinate {
	return coordinate.NewCoordinate(coordinate.DefaultConfig())
}

// BenchmarkAuthorizerCached is the per-request cost of resolving a token
// already resolved.
func BenchmarkAuthorizerCached(b *testing.B) {
	s := enforcingServer(b, nil)
	secret := tokenWith(b, s, "read-all", `service_prefix "" { policy = "read" }`)
	if _, err := s.authorizer(secret); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.authorizer(secret); err != nil {
			b.Fatal(err)
		}
	}
}

// The leader's member reconciliation writes the catalog through its own
// endpoints: ACLs (default deny) must not stop it.
func TestACLEnforceLeaderReconcileUnaffected(t *testing.T) {
	members := func() []structs.Member {
		return []structs.Member{{Name: "client1", Addr: "10.0.0.9", Status: structs.StatusAlive,
			Tags: map[string]string{structs.TagDatacenter: "dc1"}}}
	}
	s := enforcingServerDeps(t, func(c *Config) { c.ReconcileInterval = 50 * time.Millisecond }, Deps{Members: members})
	testutil.WaitFor(t, 5*time.Second, "member registered", func() bool {
		_, n, _ := s.State().GetNode(nil, "client1")
		return n != nil
	})
}
