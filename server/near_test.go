package server

import (
	"testing"

	"github.com/hashicorp/serf/coordinate"

	"consulate/structs"
)

func TestNearSortsByCoordinates(t *testing.T) {
	s := devServer(t)
	at := func(x float64) *coordinate.Coordinate {
		c := coordinate.NewCoordinate(coordinate.DefaultConfig())
		c.Vec[0] = x
		return c
	}
	// Registration order n1, n2, n3; distances from "me": n3 < n1 < n2.
	pos := map[string]float64{"me": 0, "n1": 0.010, "n2": 0.050, "n3": 0.001}
	for _, n := range []string{"me", "n1", "n2", "n3"} {
		if n == "me" {
			rpc(t, s, structs.MethodCatalogRegister, &structs.RegisterRequest{Node: n, Address: "10.0.0.9"}, &struct{}{})
		} else {
			registerWeb(t, s, n, "10.0.0.1", "web-"+n)
		}
		rpc(t, s, structs.MethodCoordinateUpdate, &structs.CoordinateUpdateRequest{Node: n, Coord: at(pos[n])}, &struct{}{})
	}
	var sn structs.IndexedServiceNodes
	rpc(t, s, structs.MethodCatalogServiceNodes, &structs.ServiceSpecificRequest{ServiceName: "web",
		Source: structs.QuerySource{Node: "me"}}, &sn)
	var got []string
	for _, n := range sn.ServiceNodes {
		got = append(got, n.Node)
	}
	if len(got) != 3 || got[0] != "n3" || got[1] != "n1" || got[2] != "n2" {
		t.Fatalf("catalog order %v", got)
	}
	var hs structs.IndexedCheckServiceNodes
	rpc(t, s, structs.MethodHealthServiceNodes, &structs.ServiceSpecificRequest{ServiceName: "web",
		Source: structs.QuerySource{Node: "me"}}, &hs)
	if hs.Nodes[0].Node.Node != "n3" || hs.Nodes[2].Node.Node != "n2" {
		t.Fatalf("health order %v %v %v", hs.Nodes[0].Node.Node, hs.Nodes[1].Node.Node, hs.Nodes[2].Node.Node)
	}
	// Unknown source: order untouched, no error.
	rpc(t, s, structs.MethodCatalogServiceNodes, &structs.ServiceSpecificRequest{ServiceName: "web",
		Source: structs.QuerySource{Node: "nobody"}}, &sn)
	if len(sn.ServiceNodes) != 3 {
		t.Fatal("lost nodes")
	}
}
