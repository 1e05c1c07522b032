package preparedquery

import (
	"context"
	"fmt"
	"testing"
	"time"

	"consulate/structs"
)

// BenchmarkFailover20DCs runs a prepared query whose service is healthy in
// no local instance, failing over through 20 datacenters with one-way
// latencies of 1..20 ms (the nth in order takes n ms). "last" has
// instances only in the 20th, "middle" only in the 10th, "none" in none.
// Asked one after another these cost the sum of the latencies up to the
// answer (210, 55, 210 ms); asked at once, about the slowest of them.
func BenchmarkFailover20DCs(b *testing.B) {
	for _, c := range []struct {
		name   string
		answer int // index with instances, -1 none
	}{{"last", 19}, {"middle", 9}, {"none", -1}} {
		b.Run(c.name, func(b *testing.B) {
			var order []string
			for i := range 20 {
				order = append(order, fmt.Sprintf("dc%02d", i+2))
			}
			e := &Executor{
				LocalDC: "dc01",
				Local: func(ctx context.Context, s string) (structs.CheckServiceNodes, error) {
					return nil, nil
				},
				Order: func(int, []string) []string { return order },
				Remote: func(ctx context.Context, dc string, q *structs.PreparedQuery, _ int) (*structs.PreparedQueryExecuteResponse, error) {
					var i int
					fmt.Sscanf(dc, "dc%d", &i)
					i -= 2
					t := time.NewTimer(time.Duration(i+1) * time.Millisecond)
					defer t.Stop()
					select {
					case <-t.C:
					case <-ctx.Done():
						return nil, ctx.Err()
					}
					out := &structs.PreparedQueryExecuteResponse{}
					if i == c.answer {
						out.Nodes = structs.CheckServiceNodes{{
							Node:    &structs.Node{Node: "n-" + dc},
							Service: &structs.NodeService{ID: "web", Service: "web"},
						}}
					}
					return out, nil
				},
			}
			q := &structs.PreparedQuery{Service: structs.ServiceQuery{Service: "web",
				Failover: structs.QueryFailoverOptions{Datacenters: order}}}
			b.ResetTimer()
			for range b.N {
				resp, err := e.Execute(context.Background(), q, 0)
				if err != nil {
					b.Fatal(err)
				}
				if want := c.answer + 1; c.answer >= 0 && resp.Failovers != want {
					b.Fatalf("failovers %d want %d", resp.Failovers, want)
				}
			}
		})
	}
}
