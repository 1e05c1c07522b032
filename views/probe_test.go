package views

import (
	"context"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

// TestProbe: a probe for the read learns the answering state's generation
// (the same until the view changes, another after), a Known hit leaves
// the reply's instances out but its meta in, and a probe for other args
// is not touched.
func TestProbe(t *testing.T) {
	s, f := newStore(t, Config{}, Deps{})
	args := &structs.ServiceSpecificRequest{ServiceName: "web"}
	read(t, s, args)
	f.nth(t, 1).frames <- &structs.ServiceHealthEvent{Index: 5, Snapshot: true,
		Nodes: structs.CheckServiceNodes{inst("a", "web", nil, nil, "passing")}}
	served(t, s, args)

	probeRead := func(p *Probe) *structs.IndexedCheckServiceNodes {
		t.Helper()
		var out structs.IndexedCheckServiceNodes
		if ok, err := s.RPC(WithProbe(context.Background(), p), structs.MethodHealthServiceNodes, args, &out); !ok || err != nil {
			t.Fatalf("not served: %v %v", ok, err)
		}
		return &out
	}
	p1 := &Probe{Args: args}
	if out := probeRead(p1); p1.Gen == 0 || len(out.Nodes) != 1 {
		t.Fatalf("gen %d, %d nodes", p1.Gen, len(out.Nodes))
	}
	p2 := &Probe{Args: args, Known: func(gen uint64) bool { return gen == p1.Gen }}
	if out := probeRead(p2); p2.Gen != p1.Gen || out.Nodes != nil || out.Index != 5 || !out.KnownLeader {
		t.Fatalf("hit: gen %d (want %d), nodes %v, meta %+v", p2.Gen, p1.Gen, out.Nodes, out.QueryMeta)
	}
	other := &Probe{Args: &structs.ServiceSpecificRequest{ServiceName: "web"}}
	probeRead(other)
	if other.Gen != 0 {
		t.Fatal("a probe for other args was set")
	}

	f.nth(t, 1).frames <- &structs.ServiceHealthEvent{Index: 6,
		Nodes: structs.CheckServiceNodes{inst("a", "web", nil, nil, "critical")}}
	testutil.WaitFor(t, 5*time.Second, "index 6", func() bool { out, _ := read(t, s, args); return out.Index == 6 })
	p3 := &Probe{Args: args, Known: func(gen uint64) bool { return gen == p1.Gen }}
	if out := probeRead(p3); p3.Gen == p1.Gen || len(out.Nodes) != 1 || out.Nodes[0].Checks[0].Status != "critical" {
		t.Fatalf("after change: gen %d (old %d), nodes %v", p3.Gen, p1.Gen, out.Nodes)
	}
}
