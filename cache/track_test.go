package cache

import (
	"context"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

func TestTrackFollowsTheEntry(t *testing.T) {
	f := newFake()
	c := newTestCache(t, f.RPC, func(c *Config) { c.RefreshWait = time.Second })
	defer c.Shutdown(context.Background())
	args := func(dc string) *structs.ServiceSpecificRequest {
		return &structs.ServiceSpecificRequest{Datacenter: dc, ServiceName: "web", QueryOptions: structs.QueryOptions{AllowStale: true}}
	}
	if c.Track(structs.MethodHealthServiceNodes, &structs.ServiceSpecificRequest{Datacenter: "dc1", ServiceName: "web"}) != nil {
		t.Fatal("a read that is not stale is tracked")
	}
	if c.Track(structs.MethodHealthServiceNodes, args("dc2")) != nil {
		t.Fatal("a remote read is tracked with Reachable nil")
	}
	track := c.Track(structs.MethodHealthServiceNodes, args("dc1"))
	if track == nil {
		t.Fatal("no tracker")
	}
	if _, ok := track(); ok {
		t.Fatal("tracked before anything was cached")
	}
	if _, err := get(t, c, "dc1"); err != nil {
		t.Fatal(err)
	}
	if idx, ok := track(); !ok || idx != 1 {
		t.Fatalf("index %d %v, want 1", idx, ok)
	}
	f.bump()
	testutil.WaitFor(t, 5*time.Second, "index 2", func() bool { idx, ok := track(); return ok && idx == 2 })
	if n := testing.AllocsPerRun(100, func() { track() }); n != 0 {
		t.Fatalf("%v allocations per call", n)
	}
	f.fail.Store(true)
	f.bump()
	testutil.WaitFor(t, 5*time.Second, "refresh failure seen", func() bool { _, ok := track(); return !ok })
}
