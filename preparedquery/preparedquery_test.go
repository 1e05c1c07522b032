package preparedquery

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"sync"
	"testing"

	"consulate/structs"
)

func inst(node, svc string, tags []string, statuses ...string) structs.CheckServiceNode {
	n := structs.CheckServiceNode{
		Node:    &structs.Node{Node: node, Meta: map[string]string{"rack": "a"}},
		Service: &structs.NodeService{ID: svc, Service: svc, Tags: tags},
	}
	for i, s := range statuses {
		n.Checks = append(n.Checks, &structs.HealthCheck{CheckID: []string{"serfHealth", "svc"}[i%2], Status: s})
	}
	return n
}

func TestFilter(t *testing.T) {
	nodes := structs.CheckServiceNodes{
		inst("n1", "web", []string{"v1", "prod"}, "passing", "passing"),
		inst("n2", "web", []string{"v2", "prod"}, "passing", "warning"),
		inst("n3", "web", []string{"v1"}, "passing", "critical"),
		inst("n4", "web", []string{"v1", "canary"}, "passing"),
	}
	names := func(ns structs.CheckServiceNodes) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.Node.Node)
		}
		return out
	}
	cases := []struct {
		q    structs.ServiceQuery
		want []string
	}{
		{structs.ServiceQuery{}, []string{"n1", "n2", "n4"}},
		{structs.ServiceQuery{OnlyPassing: true}, []string{"n1", "n4"}},
		{structs.ServiceQuery{Tags: []string{"v1"}}, []string{"n1", "n4"}},
		{structs.ServiceQuery{Tags: []string{"v1", "!canary"}}, []string{"n1"}},
		{structs.ServiceQuery{IgnoreCheckIDs: []string{"svc"}}, []string{"n1", "n2", "n3", "n4"}},
		{structs.ServiceQuery{NodeMeta: map[string]string{"rack": "b"}}, nil},
	}
	for _, c := range cases {
		got := names(Filter(&structs.PreparedQuery{Service: c.q}, nodes))
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%+v: got %v want %v", c.q, got, c.want)
		}
	}
}

func TestResolveNamesIDsAndTemplates(t *testing.T) {
	all := structs.PreparedQueries{
		{ID: "id-1", Name: "web", Service: structs.ServiceQuery{Service: "web"}},
		{ID: "id-2", Name: "", Template: structs.QueryTemplateOptions{Type: "name_prefix_match"}, Service: structs.ServiceQuery{Service: "${name.full}"}},
		{ID: "id-3", Name: "geo-", Template: structs.QueryTemplateOptions{Type: "name_prefix_match"}, Service: structs.ServiceQuery{Service: "${name.suffix}", Tags: []string{"${match(1)}"}}},
	}
	all[2].Template.Regexp = "^geo-(.*)$"
	cases := map[string]string{"web": "web", "id-1": "web", "redis": "redis", "geo-db": "db"}
	for in, want := range cases {
		q, err := Resolve(all, in)
		if err != nil || q.Service.Service != want {
			t.Fatalf("%s: %+v %v", in, q, err)
		}
	}
	q, _ := Resolve(all, "geo-db")
	if !reflect.DeepEqual(q.Service.Tags, []string{"db"}) {
		t.Fatalf("regexp match not rendered: %v", q.Service.Tags)
	}
	if all[2].Service.Service != "${name.suffix}" {
		t.Fatal("rendering changed the stored template")
	}
	if _, err := Resolve(all[:1], "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}

func TestValidate(t *testing.T) {
	bad := []*structs.PreparedQuery{
		nil,
		{Name: "x"},
		{Template: structs.QueryTemplateOptions{Type: "bogus"}},
		{Service: structs.ServiceQuery{Service: "s", Failover: structs.QueryFailoverOptions{NearestN: -1}}},
		{Service: structs.ServiceQuery{Service: "s"}, DNS: structs.QueryDNSOptions{TTL: "soon"}},
	}
	for _, q := range bad {
		var br *structs.BadRequestError
		if err := Validate(q); !errors.As(err, &br) {
			t.Errorf("%+v: %v", q, err)
		}
	}
	if err := Validate(&structs.PreparedQuery{Service: structs.ServiceQuery{Service: "s"}, DNS: structs.QueryDNSOptions{TTL: "10s"}}); err != nil {
		t.Fatal(err)
	}
}

// TestFailoverOrderAndCount runs a query whose service exists only in
// dc3: dc2 (nearest) comes first and is empty, dc4 is unreachable, dc3
// answers, after three failovers. All three are asked (at once), each
// once.
func TestFailoverOrderAndCount(t *testing.T) {
	var mu sync.Mutex
	var tried []string
	e := &Executor{
		LocalDC: "dc1",
		Local: func(ctx context.Context, s string) (structs.CheckServiceNodes, error) {
			return structs.CheckServiceNodes{inst("l1", s, nil, "critical")}, nil
		},
		Order: func(n int, listed []string) []string {
			if n != 1 || !reflect.DeepEqual(listed, []string{"dc4", "dc3"}) {
				t.Fatalf("order asked with %d %v", n, listed)
			}
			return []string{"dc2", "dc4", "dc3"}
		},
		Remote: func(ctx context.Context, dc string, q *structs.PreparedQuery, limit int) (*structs.PreparedQueryExecuteResponse, error) {
			mu.Lock()
			tried = append(tried, dc)
			mu.Unlock()
			switch dc {
			case "dc4":
				return nil, structs.ErrNoDCPath
			case "dc3":
				return &structs.PreparedQueryExecuteResponse{Nodes: structs.CheckServiceNodes{inst("r1", q.Service.Service, nil, "passing")}}, nil
			}
			return &structs.PreparedQueryExecuteResponse{}, nil
		},
	}
	q := &structs.PreparedQuery{Service: structs.ServiceQuery{Service: "web",
		Failover: structs.QueryFailoverOptions{NearestN: 1, Datacenters: []string{"dc4", "dc3"}}}}
	resp, err := e.Execute(context.Background(), q, 0)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Datacenter != "dc3" || resp.Failovers != 3 || len(resp.Nodes) != 1 {
		t.Fatalf("resp %+v", resp)
	}
	sort.Strings(tried)
	if !reflect.DeepEqual(tried, []string{"dc2", "dc3", "dc4"}) {
		t.Fatalf("tried %v", tried)
	}

	// Healthy locally: no failover at all.
	tried = nil
	e.Local = func(ctx context.Context, s string) (structs.CheckServiceNodes, error) {
		return structs.CheckServiceNodes{inst("l1", s, nil, "passing")}, nil
	}
	resp, _ = e.Execute(context.Background(), q, 0)
	if resp.Datacenter != "dc1" || resp.Failovers != 0 || len(tried) != 0 {
		t.Fatalf("local answer: %+v tried %v", resp, tried)
	}
}

func TestNearSortsInsteadOfShuffling(t *testing.T) {
	var asked string
	e := &Executor{
		LocalDC: "dc1", AgentNode: "me",
		Local: func(ctx context.Context, s string) (structs.CheckServiceNodes, error) {
			return structs.CheckServiceNodes{inst("far", s, nil), inst("mid", s, nil), inst("near", s, nil)}, nil
		},
		Near: func(node string, nodes structs.CheckServiceNodes) bool {
			asked = node
			nodes[0], nodes[2] = nodes[2], nodes[0]
			return true
		},
	}
	q := &structs.PreparedQuery{Service: structs.ServiceQuery{Service: "web", Near: "_agent"}}
	for i := 0; i < 20; i++ {
		resp, err := e.Execute(context.Background(), q, 0)
		if err != nil || asked != "me" || resp.Nodes[0].Node.Node != "near" || resp.Nodes[2].Node.Node != "far" {
			t.Fatalf("asked %q, got %v %v", asked, resp, err)
		}
	}
}
