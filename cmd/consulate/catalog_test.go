package main

import (
	"testing"

	"github.com/hashicorp/consul/api"
)

func TestCatalogNodes(t *testing.T) {
	f := newFakeAgent(t)
	f.json("/v1/catalog/nodes", []*api.Node{
		{ID: "8d1c6f2a-0f3e-4d76-9c1a-4b1e2e0b7f11", Node: "alpha", Address: "127.0.0.21", Datacenter: "dc2",
			TaggedAddresses: map[string]string{"wan": "10.0.0.1", "lan": "127.0.0.21"}, Meta: map[string]string{"rack": "r1"}},
		{ID: "12ab", Node: "b", Address: "127.0.0.22", Datacenter: "dc2"},
	})

	r := f.run("catalog", "nodes", "-datacenter=dc2", "-node-meta", "rack=r1", "-near", "_agent", "-stale")
	wantOK(t, r)
	want := "" +
		"Node   ID        Address     DC\n" +
		"alpha  8d1c6f2a  127.0.0.21  dc2\n" +
		"b      12ab      127.0.0.22  dc2\n"
	if r.stdout != want {
		t.Fatalf("nodes output:\n%s\nwant:\n%s", r.stdout, want)
	}
	req := f.last("/v1/catalog/nodes")
	if req.get("dc") != "dc2" || req.get("node-meta") != "rack:r1" || req.get("near") != "_agent" || !req.has("stale") {
		t.Fatalf("query params %v", req.query)
	}

	r = f.run("catalog", "nodes", "--datacenter", "dc2", "-detailed")
	wantOK(t, r)
	got := lines(r.stdout)
	if h := fields(got[0]); len(h) != 6 || h[4] != "TaggedAddresses" || h[5] != "Meta" {
		t.Fatalf("detailed header %q", got[0])
	}
	if fl := fields(got[1]); fl[1] != "8d1c6f2a-0f3e-4d76-9c1a-4b1e2e0b7f11" || fl[4] != "lan=127.0.0.21," || fl[5] != "wan=10.0.0.1" || fl[6] != "rack=r1" {
		t.Fatalf("detailed row %q", got[1])
	}

	r = f.run("catalog", "nodes", "-node-meta", "nokey")
	wantFail(t, r, 1, "want key=value")
}

func TestCatalogNodesByService(t *testing.T) {
	f := newFakeAgent(t)
	f.json("/v1/catalog/service/web", []*api.CatalogService{
		{ID: "aaaaaaaa-bbbb", Node: "n1", Address: "127.0.0.11", Datacenter: "dc1", ServiceName: "web"},
	})
	r := f.run("catalog", "nodes", "-service=web")
	wantOK(t, r)
	if got := lines(r.stdout); len(got) != 2 || fields(got[1])[0] != "n1" || fields(got[1])[1] != "aaaaaaaa" {
		t.Fatalf("output %q", r.stdout)
	}

	f.json("/v1/catalog/service/none", []*api.CatalogService{})
	r = f.run("catalog", "nodes", "-service=none")
	wantOK(t, r)
	if r.stdout != "" || r.stderr != "No nodes match the given query.\n" {
		t.Fatalf("empty: stdout %q stderr %q", r.stdout, r.stderr)
	}
}

func TestCatalogServicesAndDatacenters(t *testing.T) {
	f := newFakeAgent(t)
	f.json("/v1/catalog/services", map[string][]string{"web": {"v2", "v1"}, "consul": {}, "db": {"primary"}})
	f.json("/v1/catalog/node/n1", &api.CatalogNode{
		Node: &api.Node{Node: "n1"},
		Services: map[string]*api.AgentService{
			"web-1": {ID: "web-1", Service: "web", Tags: []string{"a"}},
			"web-2": {ID: "web-2", Service: "web", Tags: []string{"b", "a"}},
		},
	})
	f.json("/v1/catalog/datacenters", []string{"dc1", "dc2"})

	for _, tc := range []struct {
		name string
		args []string
		want string
		// dc, when set, is the datacenter the services request must carry.
		dc string
	}{
		{"services", []string{"catalog", "services", "-datacenter=dc1"}, "consul\ndb\nweb\n", "dc1"},
		{"services -tags", []string{"catalog", "services", "-tags"}, "consul  \ndb      primary\nweb     v1,v2\n", ""},
		{"services -node", []string{"catalog", "services", "-node=n1", "-tags"}, "web  a,b\n", ""},
		{"datacenters", []string{"catalog", "datacenters"}, "dc1\ndc2\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.run(tc.args...)
			wantOK(t, r)
			if r.stdout != tc.want {
				t.Fatalf("stdout %q, want %q", r.stdout, tc.want)
			}
			if tc.dc != "" && f.last("/v1/catalog/services").get("dc") != tc.dc {
				t.Fatalf("dc not passed: %v", f.last("/v1/catalog/services").query)
			}
		})
	}
}
