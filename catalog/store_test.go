package catalog

import (
	"errors"
	"reflect"
	"testing"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/serf/coordinate"

	"consulate/structs"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := NewStore()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func register(t *testing.T, s *Store, idx uint64, req *structs.RegisterRequest) {
	t.Helper()
	if err := s.EnsureRegistration(idx, req); err != nil {
		t.Fatalf("register at %d: %v", idx, err)
	}
}

// fired reports whether ws fires within a short time.
func fired(ws memdb.WatchSet) bool {
	return !ws.Watch(time.After(50 * time.Millisecond))
}

func webReq(node, addr, id string, tags ...string) *structs.RegisterRequest {
	return &structs.RegisterRequest{
		Node: node, Address: addr,
		Service: &structs.NodeService{ID: id, Service: "web", Tags: tags, Port: 80},
		Checks: structs.HealthChecks{
			{CheckID: structs.SerfCheckID, Name: structs.SerfCheckName, Status: structs.HealthPassing},
			{CheckID: "web-check", ServiceID: id, Status: structs.HealthPassing},
		},
	}
}

func TestRegistrationAndReads(t *testing.T) {
	s := newStore(t)
	register(t, s, 10, webReq("n1", "127.0.0.11", "web1", "primary", "v1"))
	register(t, s, 11, webReq("n2", "127.0.0.12", "web2", "v1"))
	register(t, s, 12, &structs.RegisterRequest{Node: "n2", Address: "127.0.0.12",
		Service: &structs.NodeService{Service: "db", Tags: []string{"pg"}}})

	ws := memdb.NewWatchSet()
	idx, nodes, err := s.Nodes(ws)
	if err != nil || len(nodes) != 2 || idx != 11 {
		t.Fatalf("nodes idx=%d n=%d err=%v", idx, len(nodes), err)
	}
	_, n, _ := s.GetNode(ws, "N1")
	if n == nil || n.Address != "127.0.0.11" {
		t.Fatalf("node lookup is case-insensitive, got %+v", n)
	}
	idx, svcs, _ := s.Services(ws)
	if idx != 12 || !reflect.DeepEqual(svcs["web"], []string{"primary", "v1"}) || !reflect.DeepEqual(svcs["db"], []string{"pg"}) {
		t.Fatalf("services idx=%d %v", idx, svcs)
	}

	cases := []struct {
		tags []string
		want int
	}{{nil, 2}, {[]string{"v1"}, 2}, {[]string{"V1", "primary"}, 1}, {[]string{"nope"}, 0}}
	for _, c := range cases {
		idx, sn, err := s.ServiceNodes(ws, "web", c.tags)
		if err != nil || len(sn) != c.want || idx != 11 {
			t.Fatalf("tags %v: idx=%d n=%d err=%v", c.tags, idx, len(sn), err)
		}
	}
	_, sn, _ := s.ServiceNodes(ws, "db", nil)
	if len(sn) != 1 || sn[0].ServiceID != "db" || sn[0].Address != "127.0.0.12" {
		t.Fatalf("db defaults ID to name and carries node address: %+v", sn)
	}

	_, ns, _ := s.NodeServices(ws, "n2")
	if ns == nil || len(ns.Services) != 2 {
		t.Fatalf("node services %+v", ns)
	}
	if _, ns, _ = s.NodeServices(ws, "missing"); ns != nil {
		t.Fatal("unknown node should give nil")
	}
	_, checks, _ := s.NodeChecks(ws, "n1")
	if len(checks) != 2 {
		t.Fatalf("node checks %d", len(checks))
	}
	_, checks, _ = s.ServiceChecks(ws, "web")
	if len(checks) != 2 || checks[0].ServiceName != "web" || !reflect.DeepEqual(checks[0].ServiceTags, []string{"primary", "v1"}) {
		t.Fatalf("service checks get name+tags filled: %+v", checks)
	}
	_, csn, _ := s.CheckServiceNodes(ws, "web", nil)
	if len(csn) != 2 || len(csn[0].Checks) != 2 {
		t.Fatalf("check service nodes %+v", csn)
	}
	for _, ch := range csn[0].Checks {
		if ch.ServiceID != "" && ch.ServiceID != csn[0].Service.ID {
			t.Fatalf("foreign check %+v", ch)
		}
	}

	// A check turns critical.
	register(t, s, 13, &structs.RegisterRequest{Node: "n1", Address: "127.0.0.11",
		Check: &structs.HealthCheck{CheckID: "web-check", ServiceID: "web1", Status: structs.HealthCritical}})
	idx, crit, _ := s.ChecksInState(ws, structs.HealthCritical)
	if len(crit) != 1 || idx != 13 {
		t.Fatalf("critical idx=%d %+v", idx, crit)
	}
	_, all, _ := s.ChecksInState(ws, structs.HealthAny)
	if len(all) != 4 {
		t.Fatalf("any: %d", len(all))
	}

	// Bad input.
	if err := s.EnsureRegistration(14, &structs.RegisterRequest{Node: "n1", Check: &structs.HealthCheck{CheckID: "x", Status: "bogus"}}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("bad status: %v", err)
	}
	if err := s.EnsureRegistration(14, &structs.RegisterRequest{Node: "n1", SkipNodeUpdate: true, Check: &structs.HealthCheck{CheckID: "x", ServiceID: "nope"}}); !errors.Is(err, ErrMissingService) {
		t.Fatalf("check for unknown service: %v", err)
	}
}

func TestRegisterIdempotentKeepsIndexes(t *testing.T) {
	s := newStore(t)
	register(t, s, 5, webReq("n1", "127.0.0.11", "web1"))
	register(t, s, 6, webReq("n1", "127.0.0.11", "web1"))
	if got := s.Index(tableNodes); got != 5 {
		t.Fatalf("unchanged registration bumped nodes to %d", got)
	}
	if got := s.Index(serviceIndexKey("web")); got != 5 {
		t.Fatalf("unchanged registration bumped service to %d", got)
	}
	// SkipNodeUpdate leaves the address alone.
	register(t, s, 7, &structs.RegisterRequest{Node: "n1", Address: "10.0.0.1", SkipNodeUpdate: true})
	if _, n, _ := s.GetNode(nil, "n1"); n.Address != "127.0.0.11" {
		t.Fatalf("SkipNodeUpdate changed node: %+v", n)
	}
}

func TestServiceWatchIsolation(t *testing.T) {
	s := newStore(t)
	register(t, s, 1, webReq("n1", "127.0.0.11", "web1"))
	register(t, s, 2, &structs.RegisterRequest{Node: "n2", Address: "127.0.0.12",
		Service: &structs.NodeService{Service: "db"}})

	ws := memdb.NewWatchSet()
	idx, _, _ := s.CheckServiceNodes(ws, "web", nil)
	if idx != 1 {
		t.Fatalf("web idx %d", idx)
	}
	// A change to db must not wake web.
	register(t, s, 3, &structs.RegisterRequest{Node: "n2", Address: "127.0.0.12",
		Service: &structs.NodeService{Service: "db", Port: 5432}})
	if fired(ws) {
		t.Fatal("web watch fired on db change")
	}
	// A node-level check change on web's node wakes web.
	register(t, s, 4, &structs.RegisterRequest{Node: "n1", Address: "127.0.0.11",
		Check: &structs.HealthCheck{CheckID: structs.SerfCheckID, Status: structs.HealthCritical}})
	if !fired(ws) {
		t.Fatal("web watch did not fire on node check change")
	}
	if idx, _, _ := s.CheckServiceNodes(nil, "web", nil); idx != 4 {
		t.Fatalf("web idx after node check %d", idx)
	}
	ws = memdb.NewWatchSet()
	s.ServiceNodes(ws, "web", nil)
	if err := s.Deregister(5, &structs.DeregisterRequest{Node: "n1", ServiceID: "web1"}); err != nil {
		t.Fatal(err)
	}
	if !fired(ws) {
		t.Fatal("web watch did not fire on deregister")
	}
	idx, sn, _ := s.ServiceNodes(nil, "web", nil)
	if idx != 5 || len(sn) != 0 {
		t.Fatalf("after deregister idx=%d n=%d", idx, len(sn))
	}
	_, checks, _ := s.NodeChecks(nil, "n1")
	if len(checks) != 1 {
		t.Fatalf("service checks not removed with service: %+v", checks)
	}
}

func TestDeregisterNodeRemovesEverything(t *testing.T) {
	s := newStore(t)
	register(t, s, 1, webReq("n1", "127.0.0.11", "web1"))
	if err := s.SessionCreate(2, &structs.Session{ID: "s1", Node: "n1", NodeChecks: []string{structs.SerfCheckID}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Deregister(3, &structs.DeregisterRequest{Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	_, nodes, _ := s.Nodes(nil)
	_, svcs, _ := s.Services(nil)
	_, checks, _ := s.ChecksInState(nil, structs.HealthAny)
	_, sess, _ := s.SessionList(nil)
	if len(nodes)+len(svcs)+len(checks)+len(sess) != 0 {
		t.Fatalf("left behind: %d nodes %d services %d checks %d sessions", len(nodes), len(svcs), len(checks), len(sess))
	}
}

func TestKV(t *testing.T) {
	s := newStore(t)
	for i, k := range []string{"a/b/c", "a/b/d", "a/e", "a/f/", "b"} {
		if err := s.KVSet(uint64(10+i), &structs.DirEntry{Key: k, Value: []byte(k)}); err != nil {
			t.Fatal(err)
		}
	}
	idx, e, _ := s.KVGet(nil, "a/e")
	if e == nil || string(e.Value) != "a/e" || idx != 12 || e.CreateIndex != 12 {
		t.Fatalf("get %d %+v", idx, e)
	}
	idx, e, _ = s.KVGet(nil, "missing")
	if e != nil || idx != 14 {
		t.Fatalf("missing key idx %d", idx)
	}
	idx, list, _ := s.KVList(nil, "a/")
	if len(list) != 4 || idx != 13 {
		t.Fatalf("list idx=%d n=%d", idx, len(list))
	}
	_, keys, _ := s.KVListKeys(nil, "a/", "/")
	if !reflect.DeepEqual(keys, []string{"a/b/", "a/e", "a/f/"}) {
		t.Fatalf("keys with separator %v", keys)
	}
	_, keys, _ = s.KVListKeys(nil, "", "")
	if len(keys) != 5 {
		t.Fatalf("all keys %v", keys)
	}
	// CAS.
	if ok, _ := s.KVCAS(20, &structs.DirEntry{Key: "a/e", ModifyIndex: 0}); ok {
		t.Fatal("cas 0 on existing key succeeded")
	}
	if ok, _ := s.KVCAS(20, &structs.DirEntry{Key: "a/e", ModifyIndex: 11}); ok {
		t.Fatal("stale cas succeeded")
	}
	if ok, _ := s.KVCAS(20, &structs.DirEntry{Key: "a/e", ModifyIndex: 12, Value: []byte("x")}); !ok {
		t.Fatal("cas failed")
	}
	if ok, _ := s.KVCAS(21, &structs.DirEntry{Key: "new", Value: []byte("n")}); !ok {
		t.Fatal("cas create failed")
	}
	if ok, _ := s.KVDeleteCAS(22, 1, "new"); ok {
		t.Fatal("stale delete-cas succeeded")
	}
	if ok, _ := s.KVDeleteCAS(22, 21, "new"); !ok {
		t.Fatal("delete-cas failed")
	}
	// Deleting under a prefix never lowers the prefix index.
	if err := s.KVDelete(23, "a/e"); err != nil {
		t.Fatal(err)
	}
	if idx, _, _ := s.KVList(nil, "a/"); idx != 23 {
		t.Fatalf("list idx after delete %d", idx)
	}
	if err := s.KVDeleteTree(24, "a/"); err != nil {
		t.Fatal(err)
	}
	if idx, list, _ := s.KVList(nil, "a/"); idx != 24 || len(list) != 0 {
		t.Fatalf("after delete-tree idx=%d n=%d", idx, len(list))
	}
}

func TestKVWatchOneKey(t *testing.T) {
	s := newStore(t)
	s.KVSet(1, &structs.DirEntry{Key: "foo", Value: []byte("1")})
	s.KVSet(2, &structs.DirEntry{Key: "foobar", Value: []byte("1")})
	s.KVSet(3, &structs.DirEntry{Key: "zip/a", Value: []byte("1")})

	get := memdb.NewWatchSet()
	s.KVGet(get, "foo")
	list := memdb.NewWatchSet()
	s.KVList(list, "zip/")
	s.KVSet(4, &structs.DirEntry{Key: "foobar", Value: []byte("2")})
	s.KVSet(5, &structs.DirEntry{Key: "other", Value: []byte("2")})
	if fired(get) {
		t.Fatal("get of foo woke on another key")
	}
	if fired(list) {
		t.Fatal("list of zip/ woke on a key outside it")
	}
	s.KVSet(6, &structs.DirEntry{Key: "foo", Value: []byte("3")})
	if !fired(get) {
		t.Fatal("get of foo did not wake on its write")
	}
	s.KVSet(7, &structs.DirEntry{Key: "zip/b", Value: []byte("3")})
	if !fired(list) {
		t.Fatal("list did not wake on a key under its prefix")
	}
}

func TestLocksAndSessions(t *testing.T) {
	s := newStore(t)
	register(t, s, 1, webReq("n1", "127.0.0.11", "web1"))
	if err := s.SessionCreate(2, &structs.Session{ID: "bad", Node: "n1", NodeChecks: []string{"nope"}}); !errors.Is(err, ErrMissingCheck) {
		t.Fatalf("missing check: %v", err)
	}
	if err := s.SessionCreate(2, &structs.Session{ID: "bad", Node: "ghost"}); !errors.Is(err, ErrMissingNode) {
		t.Fatalf("missing node: %v", err)
	}
	if err := s.SessionCreate(2, &structs.Session{ID: "s1", Node: "n1", NodeChecks: []string{structs.SerfCheckID}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SessionCreate(3, &structs.Session{ID: "s2", Node: "n1", Behavior: structs.SessionKeysDelete,
		ServiceChecks: []structs.ServiceCheck{{ID: "web-check"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.KVLock(4, &structs.DirEntry{Key: "lock", Session: "nope"}); !errors.Is(err, ErrMissingSession) {
		t.Fatalf("lock with unknown session: %v", err)
	}
	if ok, err := s.KVLock(4, &structs.DirEntry{Key: "lock", Session: "s1", Value: []byte("a")}); !ok || err != nil {
		t.Fatalf("lock: %v %v", ok, err)
	}
	if ok, _ := s.KVLock(5, &structs.DirEntry{Key: "lock", Session: "s2"}); ok {
		t.Fatal("second session took a held lock")
	}
	if ok, _ := s.KVUnlock(5, &structs.DirEntry{Key: "lock", Session: "s2"}); ok {
		t.Fatal("unlock by non-holder succeeded")
	}
	// A plain set keeps the lock.
	s.KVSet(6, &structs.DirEntry{Key: "lock", Value: []byte("b")})
	_, e, _ := s.KVGet(nil, "lock")
	if e.Session != "s1" || e.LockIndex != 1 {
		t.Fatalf("set dropped lock: %+v", e)
	}
	if ok, _ := s.KVUnlock(7, &structs.DirEntry{Key: "lock", Session: "s1"}); !ok {
		t.Fatal("unlock failed")
	}
	if ok, _ := s.KVLock(8, &structs.DirEntry{Key: "lock", Session: "s2"}); !ok {
		t.Fatal("relock failed")
	}
	_, e, _ = s.KVGet(nil, "lock")
	if e.LockIndex != 2 || e.Session != "s2" {
		t.Fatalf("lock index: %+v", e)
	}
	s.KVLock(9, &structs.DirEntry{Key: "held-by-s1", Session: "s1"})

	// s2 (behavior delete, tied to web-check) dies when web-check goes critical.
	ws := memdb.NewWatchSet()
	s.SessionGet(ws, "s2")
	register(t, s, 10, &structs.RegisterRequest{Node: "n1", SkipNodeUpdate: true,
		Check: &structs.HealthCheck{CheckID: "web-check", ServiceID: "web1", Status: structs.HealthCritical}})
	if !fired(ws) {
		t.Fatal("session watch did not fire")
	}
	if _, sess, _ := s.SessionGet(nil, "s2"); sess != nil {
		t.Fatal("s2 survived its check going critical")
	}
	if _, e, _ = s.KVGet(nil, "lock"); e != nil {
		t.Fatalf("delete behavior kept key: %+v", e)
	}
	// s1 (release, tied to serfHealth) dies when serfHealth is deleted.
	if err := s.Deregister(11, &structs.DeregisterRequest{Node: "n1", CheckID: structs.SerfCheckID}); err != nil {
		t.Fatal(err)
	}
	if _, list, _ := s.SessionList(nil); len(list) != 0 {
		t.Fatalf("sessions left: %+v", list)
	}
	_, e, _ = s.KVGet(nil, "held-by-s1")
	if e == nil || e.Session != "" || e.ModifyIndex != 11 {
		t.Fatalf("release behavior: %+v", e)
	}
	// A critical check refuses new sessions.
	if err := s.SessionCreate(12, &structs.Session{ID: "s3", Node: "n1", ServiceChecks: []structs.ServiceCheck{{ID: "web-check"}}}); !errors.Is(err, ErrCriticalCheck) {
		t.Fatalf("critical check: %v", err)
	}
	// Explicit destroy.
	s.SessionCreate(13, &structs.Session{ID: "s4", Node: "n1"})
	if _, sess, _ := s.NodeSessions(nil, "n1"); len(sess) != 1 || sess[0].Behavior != structs.SessionKeysRelease {
		t.Fatalf("node sessions: %+v", sess)
	}
	if ok, _ := s.SessionDestroy(14, "s4"); !ok {
		t.Fatal("destroy")
	}
}

func TestTxnRollback(t *testing.T) {
	s := newStore(t)
	s.KVSet(1, &structs.DirEntry{Key: "k", Value: []byte("v")})
	resp := s.Txn(2, []*structs.TxnOp{
		{KV: &structs.TxnKVOp{Verb: structs.KVSet, DirEnt: structs.DirEntry{Key: "new", Value: []byte("1")}}},
		{KV: &structs.TxnKVOp{Verb: structs.KVCAS, DirEnt: structs.DirEntry{Key: "k", ModifyIndex: 99}}},
	})
	if len(resp.Errors) != 1 || resp.Errors[0].OpIndex != 1 || len(resp.Results) != 0 {
		t.Fatalf("txn errors %+v", resp)
	}
	if _, e, _ := s.KVGet(nil, "new"); e != nil {
		t.Fatal("failed txn wrote")
	}
	resp = s.Txn(3, []*structs.TxnOp{
		{KV: &structs.TxnKVOp{Verb: structs.KVCheckIndex, DirEnt: structs.DirEntry{Key: "k", ModifyIndex: 1}}},
		{KV: &structs.TxnKVOp{Verb: structs.KVSet, DirEnt: structs.DirEntry{Key: "new", Value: []byte("1")}}},
		{KV: &structs.TxnKVOp{Verb: structs.KVCheckNotExists, DirEnt: structs.DirEntry{Key: "nothing"}}},
		{KV: &structs.TxnKVOp{Verb: structs.KVGetTree, DirEnt: structs.DirEntry{Key: ""}}},
		{KV: &structs.TxnKVOp{Verb: structs.KVDelete, DirEnt: structs.DirEntry{Key: "k"}}},
	})
	if len(resp.Errors) != 0 || len(resp.Results) != 4 || resp.Index != 3 {
		t.Fatalf("txn %+v", resp)
	}
	if _, e, _ := s.KVGet(nil, "k"); e != nil {
		t.Fatal("txn delete not applied")
	}
	rd := s.TxnRead([]*structs.TxnOp{{KV: &structs.TxnKVOp{Verb: structs.KVGet, DirEnt: structs.DirEntry{Key: "new"}}}})
	if len(rd.Errors) != 0 || string(rd.Results[0].KV.Value) != "1" {
		t.Fatalf("txn read %+v", rd)
	}
	if rd := s.TxnRead([]*structs.TxnOp{{KV: &structs.TxnKVOp{Verb: structs.KVSet}}}); len(rd.Errors) != 1 {
		t.Fatal("write verb allowed in read txn")
	}
}

func TestCoordinates(t *testing.T) {
	s := newStore(t)
	register(t, s, 1, &structs.RegisterRequest{Node: "n1", Address: "127.0.0.11"})
	c := coordinate.NewCoordinate(coordinate.DefaultConfig())
	if err := s.CoordinateBatchUpdate(2, structs.Coordinates{{Node: "n1", Coord: c}, {Node: "ghost", Coord: c}}); err != nil {
		t.Fatal(err)
	}
	idx, list, _ := s.Coordinates(nil)
	if idx != 2 || len(list) != 1 || list[0].Node != "n1" {
		t.Fatalf("coordinates %d %+v", idx, list)
	}
}

func TestPreparedQueryApply(t *testing.T) {
	st, err := NewStore()
	if err != nil {
		t.Fatal(err)
	}
	q := &structs.PreparedQuery{ID: "q1", Name: "web", Service: structs.ServiceQuery{Service: "web"}}
	if err := st.PreparedQueryApply(5, &structs.PreparedQueryRequest{Op: structs.PreparedQueryCreate, Query: q}); err != nil {
		t.Fatal(err)
	}
	dup := &structs.PreparedQuery{ID: "q2", Name: "WEB", Service: structs.ServiceQuery{Service: "x"}}
	if err := st.PreparedQueryApply(6, &structs.PreparedQueryRequest{Op: structs.PreparedQueryCreate, Query: dup}); err == nil {
		t.Fatal("duplicate name accepted")
	}
	ws := memdb.NewWatchSet()
	idx, all, err := st.PreparedQueryList(ws)
	if err != nil || idx != 5 || len(all) != 1 || all[0].CreateIndex != 5 {
		t.Fatalf("list: %d %+v %v", idx, all, err)
	}
	upd := *q
	upd.Service.Service = "web2"
	if err := st.PreparedQueryApply(7, &structs.PreparedQueryRequest{Op: structs.PreparedQueryUpdate, Query: &upd}); err != nil {
		t.Fatal(err)
	}
	if ws.Watch(time.After(time.Second)) {
		t.Fatal("watch did not fire on update")
	}
	_, all, _ = st.PreparedQueryList(nil)
	if all[0].Service.Service != "web2" || all[0].CreateIndex != 5 || all[0].ModifyIndex != 7 {
		t.Fatalf("after update: %+v", all[0])
	}
	if err := st.PreparedQueryApply(8, &structs.PreparedQueryRequest{Op: structs.PreparedQueryDelete, Query: &structs.PreparedQuery{ID: "q1"}}); err != nil {
		t.Fatal(err)
	}
	if _, all, _ = st.PreparedQueryList(nil); len(all) != 0 {
		t.Fatalf("after delete: %v", all)
	}
}
