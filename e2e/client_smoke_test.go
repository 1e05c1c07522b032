package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
)

// TestOfficialClientSmoke runs a broad set of the official client's calls
// against a real dev agent, to catch shape mismatches the unit tests'
// fakes would hide.
func TestOfficialClientSmoke(t *testing.T) {
	a := startAgent(t, "smoke", "127.0.0.49", "-dev")
	a.waitHTTP(15 * time.Second)
	a.waitLeader(10 * time.Second)
	c := a.client()
	ag := c.Agent()

	self, err := ag.Self()
	if err != nil || self["Config"]["NodeName"] != "smoke" {
		t.Fatalf("self: %v %v", self["Config"], err)
	}
	if name, err := ag.NodeName(); err != nil || name != "smoke" {
		t.Fatalf("NodeName: %q %v", name, err)
	}
	if err := ag.CheckRegister(&api.AgentCheckRegistration{Name: "app-ttl",
		AgentServiceCheck: api.AgentServiceCheck{TTL: "30s"}}); err != nil {
		t.Fatal(err)
	}
	if err := ag.UpdateTTL("app-ttl", "ok", api.HealthPassing); err != nil {
		t.Fatal(err)
	}
	checks, err := ag.Checks()
	if err != nil || checks["app-ttl"] == nil || checks["app-ttl"].Status != api.HealthPassing || checks["app-ttl"].Output != "ok" {
		t.Fatalf("checks: %+v %v", checks["app-ttl"], err)
	}
	if err := ag.ServiceRegister(&api.AgentServiceRegistration{ID: "api-1", Name: "api", Port: 9000,
		Meta: map[string]string{"version": "2"}, Tags: []string{"blue"}}); err != nil {
		t.Fatal(err)
	}
	if err := ag.EnableServiceMaintenance("api-1", "deploying"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitForErr(t, 5*time.Second, "maintenance in health", func() error {
		entries, _, err := c.Health().Service("api", "", false, nil)
		if err != nil || len(entries) != 1 {
			return fmt.Errorf("%v %v", entries, err)
		}
		if entries[0].Checks.AggregatedStatus() != api.HealthMaint {
			return fmt.Errorf("status %s", entries[0].Checks.AggregatedStatus())
		}
		return nil
	})
	if err := ag.DisableServiceMaintenance("api-1"); err != nil {
		t.Fatal(err)
	}
	svc, _, err := ag.Service("api-1", nil)
	if err != nil || svc.Meta["version"] != "2" || svc.Port != 9000 {
		t.Fatalf("agent service: %+v %v", svc, err)
	}
	filtered, _, err := c.Catalog().Service("api", "", &api.QueryOptions{Filter: `ServiceMeta.version == "2"`})
	if err != nil || len(filtered) != 1 {
		t.Fatalf("filter: %v %v", filtered, err)
	}
	if none, _, _ := c.Catalog().Service("api", "", &api.QueryOptions{Filter: `ServiceMeta.version == "3"`}); len(none) != 0 {
		t.Fatalf("filter kept %v", none)
	}
	if nodes, _, err := c.Catalog().Nodes(nil); err != nil || len(nodes) != 1 {
		t.Fatalf("nodes: %v %v", nodes, err)
	}
	if st, _, err := c.Health().State(api.HealthAny, nil); err != nil || len(st) < 2 {
		t.Fatalf("state: %v %v", st, err)
	}
	if _, _, err := c.Health().State("bogus", nil); err == nil {
		t.Fatal("bad state accepted")
	}

	// Sessions and a transaction.
	sid, _, err := c.Session().Create(&api.SessionEntry{Name: "s", TTL: "15s", Behavior: api.SessionBehaviorDelete}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if list, _, err := c.Session().List(nil); err != nil || len(list) != 1 || list[0].ID != sid {
		t.Fatalf("sessions: %v %v", list, err)
	}
	if _, _, err := c.Session().Renew(sid, nil); err != nil {
		t.Fatal(err)
	}
	ok, resp, _, err := c.Txn().Txn(api.TxnOps{
		&api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVSet, Key: "txn/a", Value: []byte("1")}},
		&api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVLock, Key: "txn/lock", Value: []byte("me"), Session: sid}},
		&api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVGet, Key: "txn/a"}},
	}, nil)
	if err != nil || !ok || len(resp.Results) != 3 {
		t.Fatalf("txn: %v %+v %v", ok, resp, err)
	}
	ok, resp, _, err = c.Txn().Txn(api.TxnOps{
		&api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVSet, Key: "txn/b", Value: []byte("2")}},
		&api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVCheckIndex, Key: "txn/a", Index: 1}},
	}, nil)
	if err != nil || ok || len(resp.Errors) != 1 {
		t.Fatalf("failing txn: %v %+v %v", ok, resp, err)
	}
	if p, _, _ := c.KV().Get("txn/b", nil); p != nil {
		t.Fatal("a failed transaction wrote")
	}
	if _, err := c.Session().Destroy(sid, nil); err != nil {
		t.Fatal(err)
	}
	if p, _, _ := c.KV().Get("txn/lock", nil); p != nil {
		t.Fatal("delete-behavior session left its lock key")
	}

	// Events, operator and coordinates.
	if _, _, err := c.Event().Fire(&api.UserEvent{Name: "smoke", Payload: []byte("p")}, nil); err != nil {
		t.Fatal(err)
	}
	testutil.WaitForErr(t, 5*time.Second, "event listed", func() error {
		evs, _, err := c.Event().List("smoke", nil)
		if err != nil || len(evs) != 1 {
			return fmt.Errorf("%v %v", evs, err)
		}
		return nil
	})
	conf, err := c.Operator().RaftGetConfiguration(nil)
	if err != nil || len(conf.Servers) != 1 || !conf.Servers[0].Leader || conf.Servers[0].Node != "smoke" {
		t.Fatalf("raft configuration: %+v %v", conf, err)
	}
	if dcs, err := c.Coordinate().Datacenters(); err != nil || len(dcs) != 1 {
		t.Fatalf("coordinate datacenters: %v %v", dcs, err)
	}
	if members, err := ag.Members(false); err != nil || len(members) != 1 || members[0].Status != 1 {
		t.Fatalf("members: %+v %v", members, err)
	}
	if _, _, err := c.KV().Get("x", &api.QueryOptions{Datacenter: "nowhere"}); err == nil {
		t.Fatal("unknown datacenter accepted")
	}
}
