package server

import (
	"testing"

	"consulate/structs"
)

func TestInternalServiceSummaryACL(t *testing.T) {
	s := enforcingServer(t, nil)
	rpc(t, s, structs.MethodCatalogRegister, registerAs(testMgmt, "n1", "web"), &struct{}{})
	rpc(t, s, structs.MethodCatalogRegister, registerAs(testMgmt, "n2", "db"), &struct{}{})
	// A second web instance on n2, without a check of its own.
	second := &structs.RegisterRequest{Node: "n2", Address: "10.0.0.1", SkipNodeUpdate: true,
		Service: &structs.NodeService{ID: "web2", Service: "web", Port: 81}}
	second.Token = testMgmt
	rpc(t, s, structs.MethodCatalogRegister, second, &struct{}{})

	var out structs.IndexedServiceSummaries
	rpc(t, s, structs.MethodInternalServiceSummary, as(testMgmt, &structs.DCSpecificRequest{}), &out)
	if out.ResultsFilteredByACLs || len(out.Services) != 2 || out.Index == 0 {
		t.Fatalf("management: %+v filtered=%v", out.Services, out.ResultsFilteredByACLs)
	}
	// web: web1 (own + n1 serfHealth) and web2 (n2 serfHealth only).
	if w := out.Services[1]; w.Name != "web" || w.InstanceCount != 2 || w.ChecksPassing != 3 || w.Datacenter != s.cfg.Datacenter {
		t.Fatalf("web %+v", w)
	}

	// Reader of web and n1: db hidden, n2's node check not counted.
	reader := tokenWith(t, s, "reader", `node "n1" { policy = "read" }
service "web" { policy = "read" }`)
	out = structs.IndexedServiceSummaries{}
	rpc(t, s, structs.MethodInternalServiceSummary, as(reader, &structs.DCSpecificRequest{}), &out)
	if !out.ResultsFilteredByACLs || len(out.Services) != 1 || out.Services[0].Name != "web" || out.Services[0].ChecksPassing != 2 {
		t.Fatalf("reader: %+v filtered=%v", out.Services, out.ResultsFilteredByACLs)
	}
	// Anonymous under default deny sees nothing.
	out = structs.IndexedServiceSummaries{}
	rpc(t, s, structs.MethodInternalServiceSummary, &structs.DCSpecificRequest{}, &out)
	if len(out.Services) != 0 || !out.ResultsFilteredByACLs {
		t.Fatalf("anonymous: %+v", out.Services)
	}
}
