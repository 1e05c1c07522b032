package cache

import (
	"context"
	"testing"
	"time"

	"consulate/structs"
)

// BenchmarkHit is the DNS fast path: a stale read of a service that is
// cached and kept fresh.
func BenchmarkHit(b *testing.B) {
	f := newFake()
	c := newTestCache(b, f.RPC, func(c *Config) { c.RefreshWait = time.Minute })
	b.Cleanup(func() { c.Shutdown(context.Background()) })
	args := &structs.ServiceSpecificRequest{Datacenter: "dc1", ServiceName: "web",
		QueryOptions: structs.QueryOptions{AllowStale: true}}
	var out structs.IndexedCheckServiceNodes
	if err := c.RPC(context.Background(), structs.MethodHealthServiceNodes, args, &out); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var out structs.IndexedCheckServiceNodes
		for pb.Next() {
			if err := c.RPC(context.Background(), structs.MethodHealthServiceNodes, args, &out); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
