package views

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/serf/coordinate"

	"consulate/internal/testutil"
	"consulate/metrics"
	"consulate/structs"
)

// fakeServer plays the servers' side of subscriptions: each one gets a
// channel of frames; end finishes the current streams with an error.
type fakeServer struct {
	mu     sync.Mutex
	subs   []*fakeSub
	opened int
}

type fakeSub struct {
	req    *structs.SubscribeRequest
	frames chan *structs.ServiceHealthEvent
	end    chan error
}

func (f *fakeServer) subscribe(ctx context.Context, req *structs.SubscribeRequest, recv func(*structs.ServiceHealthEvent) error) error {
	s := &fakeSub{req: req, frames: make(chan *structs.ServiceHealthEvent, 16), end: make(chan error, 1)}
	f.mu.Lock()
	f.subs = append(f.subs, s)
	f.opened++
	f.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-s.end:
			return err
		case ev := <-s.frames:
			if err := recv(ev); err != nil {
				return err
			}
		}
	}
}

// latest returns the newest subscription, waiting for it to be opened
// (the n-th one, counting from 1).
func (f *fakeServer) nth(t *testing.T, n int) *fakeSub {
	t.Helper()
	var s *fakeSub
	testutil.WaitFor(t, 5*time.Second, fmt.Sprintf("subscription %d", n), func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.subs) >= n {
			s = f.subs[n-1]
			return true
		}
		return false
	})
	return s
}

func (f *fakeServer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opened
}

func inst(node, id string, tags []string, meta map[string]string, status string) structs.CheckServiceNode {
	return structs.CheckServiceNode{
		Node:    &structs.Node{Node: node, Address: "10.0.0.1", Meta: meta},
		Service: &structs.NodeService{ID: id, Service: "web", Tags: tags, Port: 80},
		Checks:  structs.HealthChecks{{Node: node, CheckID: "c-" + id, ServiceID: id, Status: status}},
	}
}

func newStore(t *testing.T, cfg Config, deps Deps) (*Store, *fakeServer) {
	t.Helper()
	f := &fakeServer{}
	if cfg.LocalDC == "" {
		def := DefaultConfig()
		def.LocalDC = "dc1"
		def.RetryMin, def.RetryMax = 5*time.Millisecond, 20*time.Millisecond
		if cfg.IdleTTL != 0 {
			def.IdleTTL = cfg.IdleTTL
		}
		if cfg.MaxViews != 0 {
			def.MaxViews = cfg.MaxViews
		}
		// The fake streams send no heartbeats unless a test does; the
		// tests of staleness set their own.
		def.StaleAfter = time.Minute
		if cfg.StaleAfter != 0 {
			def.StaleAfter = cfg.StaleAfter
		}
		cfg = def
	}
	if deps.Subscribe == nil {
		deps.Subscribe = f.subscribe
	}
	s, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s, f
}

func read(t *testing.T, s *Store, args *structs.ServiceSpecificRequest) (*structs.IndexedCheckServiceNodes, bool) {
	t.Helper()
	var out structs.IndexedCheckServiceNodes
	handled, err := s.RPC(context.Background(), structs.MethodHealthServiceNodes, args, &out)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !handled {
		// The caller's read through, answered (at index 0: nothing
		// held back).
		s.Observe(s.Epoch(), structs.MethodHealthServiceNodes, args, &structs.IndexedCheckServiceNodes{})
	}
	return &out, handled
}

// served waits until the store answers args from its view.
func served(t *testing.T, s *Store, args *structs.ServiceSpecificRequest) *structs.IndexedCheckServiceNodes {
	t.Helper()
	var out *structs.IndexedCheckServiceNodes
	testutil.WaitFor(t, 5*time.Second, "view served", func() bool {
		var ok bool
		out, ok = read(t, s, args)
		return ok
	})
	return out
}

func names(n structs.CheckServiceNodes) []string {
	var out []string
	for _, x := range n {
		out = append(out, x.Node.Node+"/"+x.Service.ID)
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	if _, err := New(DefaultConfig(), Deps{Subscribe: (&fakeServer{}).subscribe}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("missing LocalDC: %v", err)
	}
	cfg := DefaultConfig()
	cfg.LocalDC = "dc1"
	if _, err := New(cfg, Deps{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("missing Subscribe: %v", err)
	}
	cfg.StaleAfter = 0
	if _, err := New(cfg, Deps{Subscribe: (&fakeServer{}).subscribe}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("zero StaleAfter: %v", err)
	}
}

func TestFirstReadGoesThroughThenSnapshotAndDeltas(t *testing.T) {
	s, f := newStore(t, Config{}, Deps{})
	args := &structs.ServiceSpecificRequest{ServiceName: "web"}
	if _, ok := read(t, s, args); ok {
		t.Fatal("first read must go through")
	}
	sub := f.nth(t, 1)
	if sub.req.ServiceName != "web" || sub.req.Datacenter != "" {
		t.Fatalf("subscribed %+v", sub.req)
	}
	if _, ok := read(t, s, args); ok {
		t.Fatal("served before the snapshot")
	}
	sub.frames <- &structs.ServiceHealthEvent{Index: 10, Snapshot: true, Nodes: structs.CheckServiceNodes{
		inst("n2", "web", nil, nil, "passing"), inst("N1", "web", nil, nil, "passing"), inst("n1", "a", nil, nil, "critical")}}
	out := served(t, s, args)
	if out.Index != 10 || !out.KnownLeader {
		t.Fatalf("meta %+v", out.QueryMeta)
	}
	if got := fmt.Sprint(names(out.Nodes)); got != "[n1/a N1/web n2/web]" && got != "[N1/web n1/a n2/web]" {
		t.Fatalf("order %s", got)
	}
	sub.frames <- &structs.ServiceHealthEvent{Index: 12, Nodes: structs.CheckServiceNodes{inst("n3", "web", nil, nil, "passing")},
		Deleted: []structs.ServiceInstanceID{{Node: "n2", ServiceID: "web"}}}
	testutil.WaitFor(t, 5*time.Second, "delta applied", func() bool {
		out, _ := read(t, s, args)
		return out.Index == 12 && len(out.Nodes) == 3 && out.Nodes[2].Node.Node == "n3"
	})
	// The service name matches without case, as the catalog's.
	if out, ok := read(t, s, &structs.ServiceSpecificRequest{ServiceName: "WEB"}); !ok || out.Index != 12 {
		t.Fatal("name without case not shared")
	}
	if f.count() != 1 {
		t.Fatalf("subscriptions %d, want 1 shared", f.count())
	}
	got := map[string]float64{}
	s.Collect(func(name string, _ metrics.Labels, v float64) { got[name] = v })
	if got["consul.agent.views.count"] != 1 || got["consul.agent.views.served"] != 1 {
		t.Fatalf("gauges %v", got)
	}
}

func TestNotHandled(t *testing.T) {
	s, f := newStore(t, Config{}, Deps{})
	var out structs.IndexedCheckServiceNodes
	for _, c := range []struct {
		method structs.Method
		args   any
	}{
		{structs.MethodCatalogServiceNodes, &structs.ServiceSpecificRequest{ServiceName: "web"}},
		{structs.MethodHealthServiceNodes, &structs.ServiceSpecificRequest{ServiceName: "web", QueryOptions: structs.QueryOptions{RequireConsistent: true}}},
		{structs.MethodHealthServiceNodes, &structs.ServiceSpecificRequest{}},
		// ?near without a coordinate source.
		{structs.MethodHealthServiceNodes, &structs.ServiceSpecificRequest{ServiceName: "web", Source: structs.QuerySource{Node: "x"}}},
	} {
		if ok, err := s.RPC(context.Background(), c.method, c.args, &out); ok || err != nil {
			t.Fatalf("%s %+v handled", c.method, c.args)
		}
		if c.method == structs.MethodHealthServiceNodes && c.args.(*structs.ServiceSpecificRequest).Source.Node == "" {
			s.Observe(s.Epoch(), c.method, c.args, &out)
		}
	}
	if f.count() != 0 || s.Len() != 0 {
		t.Fatal("views started for reads it does not serve")
	}
}

func TestFilters(t *testing.T) {
	s, f := newStore(t, Config{}, Deps{})
	read(t, s, &structs.ServiceSpecificRequest{ServiceName: "web"})
	f.nth(t, 1).frames <- &structs.ServiceHealthEvent{Index: 5, Snapshot: true, Nodes: structs.CheckServiceNodes{
		inst("a", "web", []string{"Primary", "v1"}, map[string]string{"rack": "r1"}, "passing"),
		inst("b", "web", []string{"v1"}, map[string]string{"rack": "r2"}, "passing"),
		inst("c", "web", nil, nil, "passing")}}
	all := served(t, s, &structs.ServiceSpecificRequest{ServiceName: "web"})
	if len(all.Nodes) != 3 {
		t.Fatal(names(all.Nodes))
	}
	for _, c := range []struct {
		args *structs.ServiceSpecificRequest
		want string
	}{
		{&structs.ServiceSpecificRequest{ServiceName: "web", ServiceTags: []string{"primary"}, TagFilter: true}, "[a/web]"},
		{&structs.ServiceSpecificRequest{ServiceName: "web", ServiceTags: []string{"primary"}}, "[a/web b/web c/web]"},
		{&structs.ServiceSpecificRequest{ServiceName: "web", ServiceTags: []string{"v1", "primary"}, TagFilter: true}, "[a/web]"},
		{&structs.ServiceSpecificRequest{ServiceName: "web", ServiceTags: []string{"v1"}, TagFilter: true}, "[a/web b/web]"},
		{&structs.ServiceSpecificRequest{ServiceName: "web", NodeMetaFilters: map[string]string{"rack": "r2"}}, "[b/web]"},
		{&structs.ServiceSpecificRequest{ServiceName: "web", NodeMetaFilters: map[string]string{"rack": "r3"}}, "[]"},
	} {
		out, ok := read(t, s, c.args)
		if !ok {
			t.Fatalf("%+v not served", c.args)
		}
		if got := fmt.Sprint(names(out.Nodes)); got != c.want {
			t.Errorf("%+v: %s, want %s", c.args, got, c.want)
		}
	}
	// The caller's slice is its own: changing it leaves the view alone.
	out, _ := read(t, s, &structs.ServiceSpecificRequest{ServiceName: "web"})
	out.Nodes[0] = out.Nodes[2]
	out.Nodes[1].Checks = nil
	again, _ := read(t, s, &structs.ServiceSpecificRequest{ServiceName: "web"})
	if got := fmt.Sprint(names(again.Nodes)); got != "[a/web b/web c/web]" || again.Nodes[1].Checks == nil {
		t.Fatalf("view changed by a caller: %s", got)
	}
}

func TestNear(t *testing.T) {
	at := func(x float64) *coordinate.Coordinate {
		c := coordinate.NewCoordinate(coordinate.DefaultConfig())
		c.Vec[0] = x
		return c
	}
	coords := structs.Coordinates{{Node: "me", Coord: at(0)}, {Node: "a", Coord: at(0.05)},
		{Node: "b", Coord: at(0.001)}, {Node: "c", Coord: at(0.01)}}
	var asked []string
	var mu sync.Mutex
	s, f := newStore(t, Config{}, Deps{NodeName: "me", Coordinates: func(_ context.Context, dc string) (structs.Coordinates, error) {
		mu.Lock()
		asked = append(asked, dc)
		mu.Unlock()
		return coords, nil
	}})
	read(t, s, &structs.ServiceSpecificRequest{ServiceName: "web"})
	f.nth(t, 1).frames <- &structs.ServiceHealthEvent{Index: 5, Snapshot: true, Nodes: structs.CheckServiceNodes{
		inst("a", "web", nil, nil, "passing"), inst("b", "web", nil, nil, "passing"),
		inst("c", "web", nil, nil, "passing"), inst("d", "web", nil, nil, "passing")}}
	served(t, s, &structs.ServiceSpecificRequest{ServiceName: "web"})
	for _, src := range []structs.QuerySource{{Node: "me"}, {Node: "_agent"}, {Node: "me", Datacenter: "dc1"}} {
		out, ok := read(t, s, &structs.ServiceSpecificRequest{ServiceName: "web", Source: src})
		if !ok {
			t.Fatal("near read not served")
		}
		if got := fmt.Sprint(names(out.Nodes)); got != "[b/web c/web a/web d/web]" {
			t.Fatalf("near %+v: %s", src, got)
		}
	}
	// A source in another datacenter does not sort, as the servers.
	out, _ := read(t, s, &structs.ServiceSpecificRequest{ServiceName: "web", Source: structs.QuerySource{Node: "me", Datacenter: "dc9"}})
	if got := fmt.Sprint(names(out.Nodes)); got != "[a/web b/web c/web d/web]" {
		t.Fatalf("other DC source sorted: %s", got)
	}
}

func TestBlockingReads(t *testing.T) {
	s, f := newStore(t, Config{}, Deps{})
	read(t, s, &structs.ServiceSpecificRequest{ServiceName: "web"})
	sub := f.nth(t, 1)
	sub.frames <- &structs.ServiceHealthEvent{Index: 10, Snapshot: true, Nodes: structs.CheckServiceNodes{inst("a", "web", nil, nil, "passing")}}
	served(t, s, &structs.ServiceSpecificRequest{ServiceName: "web"})

	// Past the index already: at once.
	start := time.Now()
	out, ok := read(t, s, &structs.ServiceSpecificRequest{ServiceName: "web", QueryOptions: structs.QueryOptions{MinQueryIndex: 9, MaxQueryTime: time.Minute}})
	if !ok || out.Index != 10 || time.Since(start) > time.Second {
		t.Fatalf("index past min: %v %d after %v", ok, out.Index, time.Since(start))
	}
	// At the index: waits for the next change.
	type result struct {
		out *structs.IndexedCheckServiceNodes
		ok  bool
		err error
	}
	res := make(chan result, 1)
	go func() {
		var out structs.IndexedCheckServiceNodes
		ok, err := s.RPC(context.Background(), structs.MethodHealthServiceNodes,
			&structs.ServiceSpecificRequest{ServiceName: "web", QueryOptions: structs.QueryOptions{MinQueryIndex: 10, MaxQueryTime: time.Minute}}, &out)
		res <- result{&out, ok, err}
	}()
	select {
	case r := <-res:
		t.Fatalf("returned before a change: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	sub.frames <- &structs.ServiceHealthEvent{Index: 11, Nodes: structs.CheckServiceNodes{inst("b", "web", nil, nil, "passing")}}
	select {
	case r := <-res:
		if !r.ok || r.err != nil || r.out.Index != 11 || len(r.out.Nodes) != 2 {
			t.Fatalf("woken with %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not woken by the change")
	}
	// Query time up: answers with the current index.
	start = time.Now()
	out, ok = read(t, s, &structs.ServiceSpecificRequest{ServiceName: "web", QueryOptions: structs.QueryOptions{MinQueryIndex: 11, MaxQueryTime: 30 * time.Millisecond}})
	if !ok || out.Index != 11 || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("timeout: %v %d after %v", ok, out.Index, time.Since(start))
	}
	// The caller leaving ends the wait with its error.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	var o structs.IndexedCheckServiceNodes
	if ok, err := s.RPC(ctx, structs.MethodHealthServiceNodes, &structs.ServiceSpecificRequest{ServiceName: "web",
		QueryOptions: structs.QueryOptions{MinQueryIndex: 11, MaxQueryTime: time.Minute}}, &o); !ok || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ctx end: %v %v", ok, err)
	}
	// A stream ending during a wait sends the read to the servers.
	// It reads through for what is left of its wait, not a new one.
	waiting := &structs.ServiceSpecificRequest{ServiceName: "web", QueryOptions: structs.QueryOptions{MinQueryIndex: 11, MaxQueryTime: time.Second}}
	go func() {
		var out structs.IndexedCheckServiceNodes
		ok, err := s.RPC(context.Background(), structs.MethodHealthServiceNodes, waiting, &out)
		res <- result{&out, ok, err}
	}()
	time.Sleep(300 * time.Millisecond) // let it wait (it waits up to 1 s + 1/16)
	sub.end <- structs.ErrSubscriptionClosed
	select {
	case r := <-res:
		if r.ok || r.err != nil {
			t.Fatalf("stream end during wait: %+v", r)
		}
		if waiting.MaxQueryTime > 800*time.Millisecond || waiting.MaxQueryTime <= 0 {
			t.Fatalf("read through with MaxQueryTime %v, want what was left of its wait", waiting.MaxQueryTime)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait not ended by the stream end")
	}
}

func TestQueryWait(t *testing.T) {
	s, _ := newStore(t, Config{}, Deps{})
	for _, c := range []struct{ asked, lo, hi time.Duration }{
		{0, 5 * time.Minute, 5*time.Minute + 5*time.Minute/16},
		{time.Minute, time.Minute, time.Minute + time.Minute/16},
		{time.Hour, 10 * time.Minute, 10*time.Minute + 10*time.Minute/16},
	} {
		for range 20 {
			if w := s.queryWait(c.asked); w < c.lo || w >= c.hi {
				t.Fatalf("wait for %v = %v, want [%v,%v)", c.asked, w, c.lo, c.hi)
			}
		}
	}
}

func TestResubscribeNeverServesBackwards(t *testing.T) {
	s, f := newStore(t, Config{}, Deps{})
	args := &structs.ServiceSpecificRequest{ServiceName: "web"}
	read(t, s, args)
	sub := f.nth(t, 1)
	sub.frames <- &structs.ServiceHealthEvent{Index: 20, Snapshot: true, Nodes: structs.CheckServiceNodes{inst("a", "web", nil, nil, "passing")}}
	if out := served(t, s, args); out.Index != 20 {
		t.Fatal(out.Index)
	}
	sub.end <- structs.ErrSubscriptionClosed
	testutil.WaitFor(t, 5*time.Second, "view not served after stream end", func() bool {
		_, ok := read(t, s, args)
		return !ok
	})
	// A server behind: its snapshot is not served...
	sub2 := f.nth(t, 2)
	sub2.frames <- &structs.ServiceHealthEvent{Index: 15, Snapshot: true}
	sub2.frames <- &structs.ServiceHealthEvent{Index: 18, Nodes: structs.CheckServiceNodes{inst("b", "web", nil, nil, "passing")}}
	// ...until it catches up.
	sub2.frames <- &structs.ServiceHealthEvent{Index: 20, Nodes: structs.CheckServiceNodes{inst("c", "web", nil, nil, "passing")}}
	// Frames are handled in order; once the last one is in, the view
	// serves index 20 and must never have served 15 or 18 in between.
	out := served(t, s, args)
	if out.Index != 20 || len(out.Nodes) != 2 {
		t.Fatalf("after catching up: %d %v", out.Index, names(out.Nodes))
	}
	// A delta before a snapshot is refused (the stream restarts).
	sub2.end <- errors.New("connection reset")
	sub3 := f.nth(t, 3)
	sub3.frames <- &structs.ServiceHealthEvent{Index: 30}
	f.nth(t, 4).frames <- &structs.ServiceHealthEvent{Index: 31, Snapshot: true}
	testutil.WaitFor(t, 5*time.Second, "fresh snapshot served", func() bool {
		out, ok := read(t, s, args)
		return ok && out.Index == 31 && len(out.Nodes) == 0
	})
}

func TestBackwardsIndexNeverServedUnderReads(t *testing.T) {
	// Readers hammer the view while the stream restarts on a server
	// behind; no read may see an index below one already answered.
	s, f := newStore(t, Config{}, Deps{})
	args := &structs.ServiceSpecificRequest{ServiceName: "web"}
	read(t, s, args)
	f.nth(t, 1).frames <- &structs.ServiceHealthEvent{Index: 100, Snapshot: true}
	served(t, s, args)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var high uint64
			for i := 0; i < 1_000_000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var out structs.IndexedCheckServiceNodes
				ok, _ := s.RPC(context.Background(), structs.MethodHealthServiceNodes, args, &out)
				if ok {
					if out.Index < high {
						errs <- fmt.Sprintf("index %d after %d", out.Index, high)
						return
					}
					high = out.Index
				}
			}
		}()
	}
	for n := 1; n <= 5; n++ {
		sub := f.nth(t, n)
		if n > 1 {
			sub.frames <- &structs.ServiceHealthEvent{Index: uint64(100 + n - 3), Snapshot: true}
			sub.frames <- &structs.ServiceHealthEvent{Index: uint64(100 + n)}
		}
		sub.frames <- &structs.ServiceHealthEvent{Index: uint64(101 + n)}
		sub.end <- structs.ErrSubscriptionClosed
	}
	close(stop)
	wg.Wait()
	select {
	case e := <-errs:
		t.Fatal(e)
	default:
	}
}

func TestIdleViewDropped(t *testing.T) {
	s, f := newStore(t, Config{IdleTTL: 50 * time.Millisecond}, Deps{})
	args := &structs.ServiceSpecificRequest{ServiceName: "web"}
	read(t, s, args)
	f.nth(t, 1).frames <- &structs.ServiceHealthEvent{Index: 3, Snapshot: true}
	served(t, s, args)
	testutil.WaitFor(t, 5*time.Second, "idle view dropped", func() bool { return s.Len() == 0 })
	if _, ok := read(t, s, args); ok {
		t.Fatal("dropped view served")
	}
	f.nth(t, 2) // the next read starts a new one
}

func TestBoundAndShutdown(t *testing.T) {
	s, f := newStore(t, Config{MaxViews: 2}, Deps{})
	for _, svc := range []string{"a", "b", "c"} {
		read(t, s, &structs.ServiceSpecificRequest{ServiceName: svc})
	}
	// The token and datacenter are part of the key too.
	read(t, s, &structs.ServiceSpecificRequest{ServiceName: "a", QueryOptions: structs.QueryOptions{Token: "t"}})
	if s.Len() != 2 {
		t.Fatalf("views %d, want 2", s.Len())
	}
	f.nth(t, 2)
	if f.count() != 2 {
		t.Fatalf("subscriptions %d", f.count())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 0 {
		t.Fatal("views left after shutdown")
	}
	if _, ok := read(t, s, &structs.ServiceSpecificRequest{ServiceName: "z"}); ok || s.Len() != 0 {
		t.Fatal("view started after shutdown")
	}
}

func TestCrossDCKey(t *testing.T) {
	// Off (the default), reads of other datacenters go through.
	s0, f0 := newStore(t, Config{}, Deps{})
	read(t, s0, &structs.ServiceSpecificRequest{ServiceName: "web", Datacenter: "dc2"})
	if s0.Len() != 0 || f0.count() != 0 {
		t.Fatal("remote view started with RemoteDatacenters off")
	}
	// Blocking reads of another datacenter share a view by default; the
	// plain ones keep going through.
	blocking := &structs.ServiceSpecificRequest{ServiceName: "web", Datacenter: "dc2",
		QueryOptions: structs.QueryOptions{MinQueryIndex: 5, MaxQueryTime: time.Second}}
	read(t, s0, blocking)
	sub := f0.nth(t, 1)
	if sub.req.Datacenter != "dc2" || s0.Len() != 1 {
		t.Fatalf("blocking remote read: subscribed to %q, %d views", sub.req.Datacenter, s0.Len())
	}
	sub.frames <- &structs.ServiceHealthEvent{Index: 9, Snapshot: true, Nodes: structs.CheckServiceNodes{}}
	if out := served(t, s0, blocking); out.Index != 9 {
		t.Fatalf("blocking remote read served index %d, want 9", out.Index)
	}
	if _, ok := read(t, s0, &structs.ServiceSpecificRequest{ServiceName: "web", Datacenter: "dc2"}); ok {
		t.Fatal("plain remote read answered from the view with RemoteDatacenters off")
	}
	noBlock, fnb := newStore(t, Config{}, Deps{})
	noBlock.cfg.RemoteBlocking = false
	read(t, noBlock, blocking)
	if noBlock.Len() != 0 || fnb.count() != 0 {
		t.Fatal("remote view started with RemoteBlocking off")
	}

	on := DefaultConfig()
	on.LocalDC, on.RemoteDatacenters = "dc1", true
	s, f := newStore(t, on, Deps{})
	read(t, s, &structs.ServiceSpecificRequest{ServiceName: "web", Datacenter: "dc2"})
	read(t, s, &structs.ServiceSpecificRequest{ServiceName: "web", Datacenter: "dc1"})
	read(t, s, &structs.ServiceSpecificRequest{ServiceName: "web"})
	if s.Len() != 2 {
		t.Fatalf("views %d, want 2 (dc1 and \"\" are the same)", s.Len())
	}
	dcs := map[string]bool{f.nth(t, 1).req.Datacenter: true, f.nth(t, 2).req.Datacenter: true}
	if !dcs["dc2"] || !dcs[""] {
		t.Fatalf("subscribed to %v", dcs)
	}
}

// BenchmarkServe measures a read of 50 instances served from a view (the
// copy the caller owns included).
func BenchmarkServe(b *testing.B) {
	f := &fakeServer{}
	cfg := DefaultConfig()
	cfg.LocalDC = "dc1"
	s, _ := New(cfg, Deps{Subscribe: f.subscribe})
	defer s.Shutdown(context.Background())
	args := &structs.ServiceSpecificRequest{ServiceName: "web"}
	var out structs.IndexedCheckServiceNodes
	s.Observe(s.Epoch(), structs.MethodHealthServiceNodes, args, &out)
	nodes := structs.CheckServiceNodes{}
	for i := range 50 {
		nodes = append(nodes, inst(fmt.Sprintf("n%02d", i), "web", []string{"v1"}, nil, "passing"))
	}
	for f.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	f.subs[0].frames <- &structs.ServiceHealthEvent{Index: 7, Snapshot: true, Nodes: nodes}
	for {
		if ok, _ := s.RPC(context.Background(), structs.MethodHealthServiceNodes, args, &out); ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var out structs.IndexedCheckServiceNodes
		for pb.Next() {
			if ok, _ := s.RPC(context.Background(), structs.MethodHealthServiceNodes, args, &out); !ok || len(out.Nodes) != 50 {
				b.Fatal("not served")
			}
		}
	})
}

// BenchmarkApplyDelta measures one change (one instance's checks) to a
// view of 1,000 instances: the map update, the rebuilt sorted list and
// the publish.
func BenchmarkApplyDelta(b *testing.B) {
	v := newView(viewKey{service: "web"}, &structs.SubscribeRequest{ServiceName: "web"})
	nodes := structs.CheckServiceNodes{}
	for i := range 1000 {
		nodes = append(nodes, inst(fmt.Sprintf("Node-%04d", i), "web", nil, nil, "passing"))
	}
	if err := v.apply(&structs.ServiceHealthEvent{Index: 1, Snapshot: true, Nodes: nodes}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		n := inst(fmt.Sprintf("Node-%04d", i%1000), "web", nil, nil, "critical")
		if err := v.apply(&structs.ServiceHealthEvent{Index: uint64(i + 2), Nodes: structs.CheckServiceNodes{n}}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDeltaChangingKnownInstancesKeepsOrder(t *testing.T) {
	v := newView(viewKey{service: "web"}, &structs.SubscribeRequest{ServiceName: "web"})
	must := func(ev *structs.ServiceHealthEvent) {
		t.Helper()
		if err := v.apply(ev); err != nil {
			t.Fatal(err)
		}
	}
	must(&structs.ServiceHealthEvent{Index: 1, Snapshot: true, Nodes: structs.CheckServiceNodes{
		inst("c", "web", nil, nil, "passing"), inst("B", "web", nil, nil, "passing"), inst("a", "web", nil, nil, "passing"),
		inst("a", "api", nil, nil, "passing")}})
	must(&structs.ServiceHealthEvent{Index: 2, Nodes: structs.CheckServiceNodes{inst("B", "web", nil, nil, "critical"), inst("a", "api", nil, nil, "warning")}})
	st := v.state.Load()
	if got := fmt.Sprint(names(st.nodes)); got != "[a/api a/web B/web c/web]" {
		t.Fatal(got)
	}
	if st.nodes[2].Checks[0].Status != "critical" || st.nodes[0].Checks[0].Status != "warning" || st.index != 2 {
		t.Fatalf("patch lost: %+v", st.nodes)
	}
	// A new instance goes through the full rebuild, in order.
	must(&structs.ServiceHealthEvent{Index: 3, Nodes: structs.CheckServiceNodes{inst("b2", "web", nil, nil, "passing"), inst("c", "web", nil, nil, "critical")}})
	if got := fmt.Sprint(names(v.state.Load().nodes)); got != "[a/api a/web B/web b2/web c/web]" {
		t.Fatal(got)
	}
	must(&structs.ServiceHealthEvent{Index: 4, Nodes: structs.CheckServiceNodes{inst("b2", "web", nil, nil, "critical")}})
	if st := v.state.Load(); st.nodes[3].Checks[0].Status != "critical" || st.nodes[4].Checks[0].Status != "critical" {
		t.Fatalf("%+v", names(st.nodes))
	}
}

func TestObservedDirectReadHoldsBackOlderSnapshot(t *testing.T) {
	s, f := newStore(t, Config{}, Deps{})
	args := &structs.ServiceSpecificRequest{ServiceName: "web"}
	// The read through (made by the caller) answered index 40.
	s.Observe(s.Epoch(), structs.MethodHealthServiceNodes, args, &structs.IndexedCheckServiceNodes{QueryMeta: structs.QueryMeta{Index: 40}})
	// A read that was not answered (its Observe never made) starts nothing.
	var out structs.IndexedCheckServiceNodes
	if ok, _ := s.RPC(context.Background(), structs.MethodHealthServiceNodes, &structs.ServiceSpecificRequest{ServiceName: "db"}, &out); ok || s.Len() != 1 {
		t.Fatalf("view started without an answer: %v %d", ok, s.Len())
	}
	sub := f.nth(t, 1)
	sub.frames <- &structs.ServiceHealthEvent{Index: 38, Snapshot: true}
	sub.frames <- &structs.ServiceHealthEvent{Index: 40, Nodes: structs.CheckServiceNodes{inst("a", "web", nil, nil, "passing")}}
	if out := served(t, s, args); out.Index != 40 {
		t.Fatalf("served %d before reaching the observed 40", out.Index)
	}
}

func TestWriteThenReadGoesThroughUntilTheViewCatchesUp(t *testing.T) {
	s, f := newStore(t, Config{}, Deps{})
	args := &structs.ServiceSpecificRequest{ServiceName: "web"}
	read(t, s, args)
	sub := f.nth(t, 1)
	sub.frames <- &structs.ServiceHealthEvent{Index: 10, Snapshot: true, Nodes: structs.CheckServiceNodes{inst("a", "web", nil, nil, "passing")}}
	served(t, s, args)
	// Writes that cannot change health leave the view alone.
	s.NoteWrite(structs.MethodKVSApply)
	if _, ok := read(t, s, args); !ok {
		t.Fatal("a KV write stopped the view")
	}
	// This agent writes (index 11): the next read goes through...
	s.NoteWrite(structs.MethodCatalogRegister)
	var out structs.IndexedCheckServiceNodes
	if ok, _ := s.RPC(context.Background(), structs.MethodHealthServiceNodes, args, &out); ok {
		t.Fatal("served right after a write")
	}
	// ...and its answer (index 11) holds the view back until it has it.
	s.Observe(s.Epoch(), structs.MethodHealthServiceNodes, args, &structs.IndexedCheckServiceNodes{QueryMeta: structs.QueryMeta{Index: 11}})
	if ok, _ := s.RPC(context.Background(), structs.MethodHealthServiceNodes, args, &out); ok {
		t.Fatalf("served index %d behind the observed 11", out.Index)
	}
	sub.frames <- &structs.ServiceHealthEvent{Index: 11, Nodes: structs.CheckServiceNodes{inst("a", "web", nil, nil, "critical")}}
	if out := served(t, s, args); out.Index != 11 || out.Nodes[0].Checks[0].Status != "critical" {
		t.Fatalf("after catching up: %d", out.Index)
	}
}

func heartbeat(index uint64) *structs.ServiceHealthEvent {
	return &structs.ServiceHealthEvent{Index: index}
}

// Heartbeats keep a quiet view serving well past StaleAfter, and change
// nothing a reader sees (a blocked reader is not woken by them).
func TestHeartbeatsKeepTheViewServing(t *testing.T) {
	const staleAfter = 150 * time.Millisecond
	s, f := newStore(t, Config{StaleAfter: staleAfter}, Deps{})
	args := &structs.ServiceSpecificRequest{ServiceName: "web"}
	read(t, s, args)
	sub := f.nth(t, 1)
	sub.frames <- &structs.ServiceHealthEvent{Index: 7, Snapshot: true, Nodes: structs.CheckServiceNodes{inst("a", "web", nil, nil, "passing")}}
	served(t, s, args)
	v := s.views[viewKey{service: "web"}]
	before := v.state.Load()

	// A blocked reader through the heartbeats: woken only by the change.
	got := make(chan uint64, 1)
	go func() {
		var out structs.IndexedCheckServiceNodes
		ok, err := s.RPC(context.Background(), structs.MethodHealthServiceNodes,
			&structs.ServiceSpecificRequest{ServiceName: "web", QueryOptions: structs.QueryOptions{MinQueryIndex: 7, MaxQueryTime: time.Minute}}, &out)
		if !ok || err != nil {
			got <- 0
			return
		}
		got <- out.Index
	}()
	end := time.Now().Add(5 * staleAfter)
	for n := 0; n < 1000 && time.Now().Before(end); n++ {
		select {
		case sub.frames <- heartbeat(7):
		case <-time.After(time.Second):
			t.Fatal("the view stopped reading its stream")
		}
		if out, ok := read(t, s, args); !ok || out.Index != 7 {
			t.Fatalf("not served during heartbeats: %v %d", ok, out.Index)
		}
		time.Sleep(staleAfter / 5)
	}
	if v.state.Load() != before {
		t.Fatal("a heartbeat published a new state")
	}
	select {
	case idx := <-got:
		t.Fatalf("blocked reader woken by heartbeats (index %d)", idx)
	default:
	}
	if f.count() != 1 {
		t.Fatalf("%d subscriptions, want 1", f.count())
	}
	sub.frames <- &structs.ServiceHealthEvent{Index: 8, Nodes: structs.CheckServiceNodes{inst("b", "web", nil, nil, "passing")}}
	select {
	case idx := <-got:
		if idx != 8 {
			t.Fatalf("blocked reader got index %d", idx)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked reader not woken by the change")
	}
}

// A stream silent for StaleAfter (a cut network: no end, no frame) stops
// the view at once: reads go to the servers, blocked readers wake to go
// there too, and the view subscribes again; only a new snapshot at least
// as recent as what it served makes it serve again.
func TestSilentStreamStopsServing(t *testing.T) {
	const staleAfter = 200 * time.Millisecond
	s, f := newStore(t, Config{StaleAfter: staleAfter}, Deps{})
	args := &structs.ServiceSpecificRequest{ServiceName: "web"}
	read(t, s, args)
	sub := f.nth(t, 1)
	sub.frames <- &structs.ServiceHealthEvent{Index: 40, Snapshot: true, Nodes: structs.CheckServiceNodes{inst("a", "web", nil, nil, "passing")}}
	served(t, s, args)

	// Readers blocked on the view, with a long wait; then silence.
	type result struct {
		handled bool
		err     error
		at      time.Time
	}
	const readers = 4
	results := make(chan result, readers)
	for range readers {
		go func() {
			var out structs.IndexedCheckServiceNodes
			ok, err := s.RPC(context.Background(), structs.MethodHealthServiceNodes,
				&structs.ServiceSpecificRequest{ServiceName: "web",
					QueryOptions: structs.QueryOptions{MinQueryIndex: 40, MaxQueryTime: 5 * time.Minute}}, &out)
			results <- result{ok, err, time.Now()}
		}()
	}
	silentFrom := time.Now()
	for range readers {
		select {
		case r := <-results:
			if r.handled || r.err != nil {
				t.Fatalf("blocked reader: handled %v, err %v; want a fall back to the servers", r.handled, r.err)
			}
			if d := r.at.Sub(silentFrom); d < staleAfter/2 {
				t.Fatalf("blocked reader gave up after %v, before the stream was silent for %v", d, staleAfter)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("blocked reader still waiting on a dead view")
		}
	}
	if _, ok := read(t, s, args); ok {
		t.Fatal("stale view served")
	}
	// The dead stream was cancelled and a new one opened.
	sub2 := f.nth(t, 2)
	// A snapshot behind what was served is not served; one that caught
	// up is.
	sub2.frames <- &structs.ServiceHealthEvent{Index: 39, Snapshot: true}
	sub2.frames <- heartbeat(39)
	if _, ok := read(t, s, args); ok {
		t.Fatal("served a snapshot behind the last index served")
	}
	sub2.frames <- &structs.ServiceHealthEvent{Index: 41, Nodes: structs.CheckServiceNodes{inst("b", "web", nil, nil, "passing")}}
	out := served(t, s, args)
	if out.Index != 41 || len(out.Nodes) != 1 {
		t.Fatalf("after resubscribing: %d %v", out.Index, names(out.Nodes))
	}
	m := map[string]float64{}
	s.Collect(func(name string, _ metrics.Labels, v float64) { m[name] = v })
	if m["consul.agent.views.stale_streams"] < 1 {
		t.Fatalf("stale streams metric %v", m)
	}
}

// A new subscription that delivers nothing (a relay that cannot reach
// the other datacenter and does not say so) is given up after StaleAfter
// too and tried again.
func TestSilentNewSubscriptionRetried(t *testing.T) {
	s, f := newStore(t, Config{StaleAfter: 100 * time.Millisecond}, Deps{})
	args := &structs.ServiceSpecificRequest{ServiceName: "web"}
	read(t, s, args)
	f.nth(t, 3).frames <- &structs.ServiceHealthEvent{Index: 3, Snapshot: true}
	if out := served(t, s, args); out.Index != 3 {
		t.Fatal(out.Index)
	}
}
