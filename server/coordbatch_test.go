package server

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"consulate/structs"
)

// TestCoordinateUpdatesBatched: concurrent updates all land, in far
// fewer Raft entries than updates, and each call returns once its
// coordinate is readable.
func TestCoordinateUpdatesBatched(t *testing.T) {
	s := devServer(t)
	const n = 200
	for i := range n {
		rpc(t, s, structs.MethodCatalogRegister, &structs.RegisterRequest{Node: fmt.Sprintf("n%d", i), Address: "10.0.0.1"}, new(struct{}))
	}
	before := s.raft.LastIndex()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			c := validCoord()
			c.Vec[0] = float64(i)
			errs <- s.RPC(context.Background(), structs.MethodCoordinateUpdate,
				&structs.CoordinateUpdateRequest{Node: fmt.Sprintf("n%d", i), Coord: c}, &struct{}{})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	entries := s.raft.LastIndex() - before
	if entries >= n/2 {
		t.Fatalf("%d coordinate updates took %d Raft entries", n, entries)
	}
	var out structs.IndexedCoordinates
	rpc(t, s, structs.MethodCoordinateListNodes, &structs.DCSpecificRequest{}, &out)
	got := map[string]float64{}
	for _, c := range out.Coordinates {
		got[c.Node] = c.Coord.Vec[0]
	}
	for i := range n {
		if v, ok := got[fmt.Sprintf("n%d", i)]; !ok || v != float64(i) {
			t.Fatalf("n%d: %v %v", i, v, ok)
		}
	}
	t.Logf("%d updates in %d Raft entries", n, entries)
}
