package federation

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"consulate/structs"
)

// TestHealthWithLeadersTwentyDCs: `operator wan` and the UI's federation
// page ask every datacenter for its leader; with 20 datacenters 10–200 ms
// away that is one call each, all at once, so it takes about the slowest
// one, not the sum (2.1 s).
func TestHealthWithLeadersTwentyDCs(t *testing.T) {
	r := newTestRouter(t, &fakeCaller{}, nil)
	delays := map[string]time.Duration{}
	var sum time.Duration
	for i := range 20 {
		dc := fmt.Sprintf("dc%d", i+1)
		addDC(r, dc, 1, structs.StatusAlive)
		delays[dc] = time.Duration(10*((i*7)%20+1)) * time.Millisecond
		sum += delays[dc]
	}
	var mu sync.Mutex
	asked := map[string]int{}
	rpc := func(ctx context.Context, _ structs.Method, args, reply any) error {
		dc := args.(*structs.EmptyRequest).Datacenter
		mu.Lock()
		asked[dc]++
		mu.Unlock()
		t := time.NewTimer(delays[dc])
		defer t.Stop()
		select {
		case <-t.C:
			*reply.(*string) = dc + "-1:8300"
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	start := time.Now()
	rows := r.HealthWithLeaders(context.Background(), rpc)
	took := time.Since(start)
	if took > sum/3 {
		t.Fatalf("took %v; one after another: %v", took, sum)
	}
	if len(rows) != 20 {
		t.Fatalf("%d rows", len(rows))
	}
	for _, row := range rows {
		if !row.HasLeader || asked[row.Datacenter] != 1 {
			t.Errorf("%s: leader %v, asked %d times", row.Datacenter, row.HasLeader, asked[row.Datacenter])
		}
	}
}
