package federation

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/serf/coordinate"

	"consulate/structs"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func wanMember(name string) structs.Member {
	return structs.Member{Name: name, Addr: "127.0.21.11", Port: 8302}
}

func TestFeedRingNewestFirstBoundedAndAged(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f := NewFeed(clk.now)
	f.Record("member-join", []structs.Member{wanMember("old.dc2")})
	clk.add(2 * time.Hour)
	for i := range FeedMaxEvents + 20 {
		f.Record("member-failed", []structs.Member{wanMember(fmt.Sprintf("s%d.dc2", i))})
		clk.add(time.Millisecond)
	}
	evs := f.Events()
	if len(evs) != FeedMaxEvents {
		t.Fatalf("%d events", len(evs))
	}
	if evs[0].Node != fmt.Sprintf("s%d.dc2", FeedMaxEvents+19) || evs[len(evs)-1].Node != "s20.dc2" {
		t.Fatalf("order: first %s last %s", evs[0].Node, evs[len(evs)-1].Node)
	}
	if e := evs[0]; e.Event != "fail" || e.Datacenter != "dc2" || e.Address != "127.0.21.11:8302" || e.Time == "" {
		t.Fatalf("event %+v", e)
	}
	clk.add(FeedEventAge + time.Second)
	f.Record("member-leave", []structs.Member{wanMember("s1.dc2")})
	if evs := f.Events(); len(evs) != 1 || evs[0].Event != "leave" {
		t.Fatalf("after an hour: %+v", evs)
	}
}

func TestFeedIndexMovesOnEventsAndStateOnly(t *testing.T) {
	f := NewFeed(nil)
	i0 := f.Observe("dc1:1/0/0/true/false;")
	if f.Observe("dc1:1/0/0/true/false;") != i0 {
		t.Fatal("same state moved the index")
	}
	i1 := f.Observe("dc1:1/0/0/false/false;")
	if i1 <= i0 {
		t.Fatal("state change did not move the index")
	}
	f.Record("member-join", []structs.Member{wanMember("a.dc2"), wanMember("b.dc2")})
	if f.Index() != i1+1 {
		t.Fatalf("index %d after one event batch from %d", f.Index(), i1)
	}
}

func TestFeedBlockWakes(t *testing.T) {
	f := NewFeed(nil)
	snap := func(context.Context) UIFederation {
		return UIFederation{Datacenters: []UIDatacenter{{Datacenter: "dc1", Alive: 1}}}
	}
	_, idx := f.Block(context.Background(), 0, time.Second, snap)
	// No change: the read waits the whole wait.
	start := time.Now()
	if _, got := f.Block(context.Background(), idx, 100*time.Millisecond, snap); got != idx || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("timed-out read: index %d after %v", got, time.Since(start))
	}
	// An index this feed never gave (another server's) answers at once.
	start = time.Now()
	if _, got := f.Block(context.Background(), idx+100, 10*time.Second, snap); got != idx || time.Since(start) > 5*time.Second {
		t.Fatalf("foreign index: got %d after %v", got, time.Since(start))
	}
	done := make(chan uint64, 1)
	go func() {
		_, got := f.Block(context.Background(), idx, 30*time.Second, snap)
		done <- got
	}()
	time.Sleep(50 * time.Millisecond) // let it block (the answer is checked either way)
	f.Record("member-failed", []structs.Member{wanMember("s1.dc2")})
	select {
	case got := <-done:
		if got <= idx {
			t.Fatalf("woke with index %d", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocking read did not wake on an event")
	}
}

func TestRTTMatrix(t *testing.T) {
	c := func(node string, x float64) *structs.Coordinate {
		co := coordinate.NewCoordinate(coordinate.DefaultConfig())
		co.Vec[0] = x
		co.Height = 0
		return &structs.Coordinate{Node: node, Coord: co}
	}
	m := RTTMatrix([]*structs.DatacenterMap{
		{Datacenter: "dc1", Coordinates: structs.Coordinates{c("a.dc1", 0), c("b.dc1", 0.002)}},
		{Datacenter: "dc2", Coordinates: structs.Coordinates{c("a.dc2", 0.010)}},
	})
	if got := m["dc1"]["dc2"]; got < 8.9 || got > 9.1 {
		t.Fatalf("dc1→dc2 %v ms", got)
	}
	if got := m["dc2"]["dc2"]; got != 0 {
		t.Fatalf("dc2→dc2 %v", got)
	}
	if got := m["dc1"]["dc1"]; got < 1.9 || got > 2.1 {
		t.Fatalf("dc1→dc1 %v", got)
	}
}

// TestUILeaderAsksShared: many UI readers snapshotting at once ask each
// datacenter for its leader once per uiLeaderTTL, not once each.
func TestUILeaderAsksShared(t *testing.T) {
	cfg := DefaultConfig()
	cfg.LocalDC = "dc1"
	r, err := New(cfg, &fakeCaller{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.UpdateServer(Server{Name: "a.dc2", Datacenter: "dc2", Addr: "a:1", Status: structs.StatusAlive})
	var asks atomic.Int32
	rpc := func(ctx context.Context, m structs.Method, args, reply any) error {
		asks.Add(1)
		*(reply.(*string)) = "leader:8300"
		return nil
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Go(func() {
			got, _ := r.UIFederation(context.Background(), rpc, nil, 0, time.Second)
			for _, d := range got.Datacenters {
				if !d.HasLeader {
					t.Errorf("%s without leader in a shared answer", d.Datacenter)
				}
			}
		})
	}
	wg.Wait()
	if n := int(asks.Load()); n != len(r.Datacenters()) {
		t.Fatalf("%d leader asks for 20 readers of %d datacenters, want one round", n, len(r.Datacenters()))
	}
}

// A gateway switch on the same route, or a route error, is a state change:
// a blocking UI read waiting on the old index answers at once.
func TestFeedBlockWakesOnGatewaySwitch(t *testing.T) {
	row := UIDatacenter{Datacenter: "dc2", Alive: 3, HasLeader: true, Route: "gateway",
		Gateways: []string{"127.0.41.21:8443"}}
	switched := row
	switched.Gateways = []string{"127.0.41.22:8443"}
	failing := row
	failing.RouteError = "gateway 127.0.41.21:8443: no route to datacenter \"dc2\""
	for name, next := range map[string]UIDatacenter{"gateways": switched, "route error": failing} {
		f := NewFeed(nil)
		_, idx := f.Block(context.Background(), 0, time.Second, func(context.Context) UIFederation {
			return UIFederation{Datacenters: []UIDatacenter{row}}
		})
		start := time.Now()
		_, got := f.Block(context.Background(), idx, 10*time.Second, func(context.Context) UIFederation {
			return UIFederation{Datacenters: []UIDatacenter{next}}
		})
		if got == idx || time.Since(start) > 5*time.Second {
			t.Errorf("%s changed: index %d (was %d) after %v", name, got, idx, time.Since(start))
		}
	}
}
