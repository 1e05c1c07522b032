package catalog

import (
	"reflect"
	"testing"

	memdb "github.com/hashicorp/go-memdb"

	"consulate/structs"
)

func TestServiceSummaries(t *testing.T) {
	s := newStore(t)
	all := func(string) bool { return true }
	// n1: serfHealth passing, web1 with a passing check.
	register(t, s, 10, webReq("n1", "127.0.0.11", "web1", "primary"))
	// n2: serfHealth passing, web2 with a passing check, and web3 (no
	// check of its own) on the same node: the node check counts for each.
	register(t, s, 11, webReq("n2", "127.0.0.12", "web2", "v1"))
	register(t, s, 12, &structs.RegisterRequest{Node: "n2", Address: "127.0.0.12",
		Service: &structs.NodeService{ID: "web3", Service: "web", Tags: []string{"v1"}}})
	// A service with no checks of its own on a node whose check is critical.
	register(t, s, 13, &structs.RegisterRequest{Node: "n3", Address: "127.0.0.13",
		Service: &structs.NodeService{ID: "db", Service: "db"},
		Check:   &structs.HealthCheck{CheckID: structs.SerfCheckID, Status: structs.HealthCritical}})
	register(t, s, 14, &structs.RegisterRequest{Node: "n3", Address: "127.0.0.13", SkipNodeUpdate: true,
		Check: &structs.HealthCheck{CheckID: "mem", Status: structs.HealthWarning}})

	ws := memdb.NewWatchSet()
	idx, out, filtered, err := s.ServiceSummaries(ws, all, all)
	if err != nil || filtered || idx != 14 || len(out) != 2 {
		t.Fatalf("idx=%d filtered=%v n=%d err=%v", idx, filtered, len(out), err)
	}
	db, web := out[0], out[1]
	if db.Name != "db" || db.InstanceCount != 1 || db.ChecksPassing != 0 || db.ChecksWarning != 1 || db.ChecksCritical != 1 ||
		!reflect.DeepEqual(db.Nodes, []string{"n3"}) || len(db.Tags) != 0 {
		t.Fatalf("db %+v", db)
	}
	// web1: 1+1, web2: 1+1, web3: 0+1 (n2's serfHealth again).
	if web.Name != "web" || web.InstanceCount != 3 || web.ChecksPassing != 5 || web.ChecksWarning != 0 || web.ChecksCritical != 0 ||
		!reflect.DeepEqual(web.Nodes, []string{"n1", "n2"}) || !reflect.DeepEqual(web.Tags, []string{"primary", "v1"}) {
		t.Fatalf("web %+v", web)
	}

	// A check change wakes the watch.
	register(t, s, 15, &structs.RegisterRequest{Node: "n1", Address: "127.0.0.11", SkipNodeUpdate: true,
		Check: &structs.HealthCheck{CheckID: structs.SerfCheckID, Status: structs.HealthCritical}})
	if !fired(ws) {
		t.Fatal("check update did not fire the watch")
	}
	_, out, _, _ = s.ServiceSummaries(memdb.NewWatchSet(), all, all)
	if w := out[1]; w.ChecksPassing != 4 || w.ChecksCritical != 1 {
		t.Fatalf("after n1 critical: %+v", w)
	}

	// ACL: db hidden; n2 not readable, so its instances are left out
	// whole, as Consul does (its name does not appear in Nodes).
	_, out, filtered, _ = s.ServiceSummaries(memdb.NewWatchSet(),
		func(svc string) bool { return svc != "db" }, func(n string) bool { return n != "n2" })
	if !filtered || len(out) != 1 || out[0].Name != "web" || out[0].InstanceCount != 1 ||
		out[0].ChecksPassing != 1 || out[0].ChecksCritical != 1 ||
		!reflect.DeepEqual(out[0].Nodes, []string{"n1"}) || !reflect.DeepEqual(out[0].Tags, []string{"primary"}) {
		t.Fatalf("filtered=%v %+v", filtered, out)
	}
}
