package cache

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

// catalogFake answers service and node reads from a small catalog, blocks
// like a server on MinQueryIndex, and counts calls per cache key.
type catalogFake struct {
	mu       sync.Mutex
	version  uint64
	changed  chan struct{}
	services map[string]bool // dc|name
	nodes    map[string]bool // dc|name
	calls    map[string]int  // dc|kind|name → calls
	total    atomic.Int64
	blocked  atomic.Int64
}

func newCatalogFake() *catalogFake {
	return &catalogFake{version: 1, changed: make(chan struct{}),
		services: map[string]bool{}, nodes: map[string]bool{}, calls: map[string]int{}}
}

func (f *catalogFake) addService(dc, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.services[dc+"|"+name] = true
	f.version++
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *catalogFake) addNode(dc, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes[dc+"|"+name] = true
}

func (f *catalogFake) callsFor(k string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[k]
}

func (f *catalogFake) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	f.total.Add(1)
	var opts *structs.QueryOptions
	var key string
	switch a := args.(type) {
	case *structs.ServiceSpecificRequest:
		opts, key = &a.QueryOptions, a.Datacenter+"|svc|"+a.ServiceName
		if a.TagFilter {
			key += "|" + strings.Join(a.ServiceTags, ",")
		}
	case *structs.NodeSpecificRequest:
		opts, key = &a.QueryOptions, a.Datacenter+"|node|"+a.Node
	default:
		return structs.ErrUnknownMethod
	}
	f.mu.Lock()
	f.calls[key]++
	f.mu.Unlock()
	for {
		f.mu.Lock()
		v, ch := f.version, f.changed
		f.mu.Unlock()
		if opts.MinQueryIndex == 0 || v > opts.MinQueryIndex {
			break
		}
		f.blocked.Add(1)
		select {
		case <-ch:
			f.blocked.Add(-1)
			continue
		case <-time.After(opts.MaxQueryTime):
			f.blocked.Add(-1)
		case <-ctx.Done():
			f.blocked.Add(-1)
			return ctx.Err()
		}
		break
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch a := args.(type) {
	case *structs.ServiceSpecificRequest:
		out := reply.(*structs.IndexedCheckServiceNodes)
		*out = structs.IndexedCheckServiceNodes{QueryMeta: structs.QueryMeta{Index: f.version}}
		if f.services[a.Datacenter+"|"+a.ServiceName] && !a.TagFilter {
			out.Nodes = structs.CheckServiceNodes{{Node: &structs.Node{Node: "n1", Address: "10.0.0.1"},
				Service: &structs.NodeService{Service: a.ServiceName, Port: 80}}}
		}
	case *structs.NodeSpecificRequest:
		out := reply.(*structs.IndexedNodeServices)
		*out = structs.IndexedNodeServices{QueryMeta: structs.QueryMeta{Index: f.version}}
		if f.nodes[a.Datacenter+"|"+a.Node] {
			out.NodeServices = &structs.NodeServices{Node: &structs.Node{Node: a.Node, Address: "10.0.0.1"}}
		}
	}
	return nil
}

func stale() structs.QueryOptions { return structs.QueryOptions{AllowStale: true} }

func readService(t testing.TB, c *Cache, dc, name, tag string) int {
	t.Helper()
	args := &structs.ServiceSpecificRequest{Datacenter: dc, ServiceName: name, QueryOptions: stale()}
	if tag != "" {
		args.ServiceTags, args.TagFilter = []string{tag}, true
	}
	var out structs.IndexedCheckServiceNodes
	if err := c.RPC(context.Background(), structs.MethodHealthServiceNodes, args, &out); err != nil {
		t.Fatalf("read %s.%s: %v", name, dc, err)
	}
	return len(out.Nodes)
}

func readNode(t testing.TB, c *Cache, dc, name string) bool {
	t.Helper()
	var out structs.IndexedNodeServices
	if err := c.RPC(context.Background(), structs.MethodCatalogNodeServices,
		&structs.NodeSpecificRequest{Datacenter: dc, Node: name, QueryOptions: stale()}, &out); err != nil {
		t.Fatalf("read node %s.%s: %v", name, dc, err)
	}
	return out.NodeServices != nil
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestFloodOfDistinctNamesIsBounded reads 100,000 made-up names, each
// twice, in every form DNS asks (service, tagged service, node, other
// datacenter), with the production limits: the entries, refreshers,
// remembered names and heap stay bounded, and the real names stay in
// memory throughout.
func TestFloodOfDistinctNamesIsBounded(t *testing.T) {
	f := newCatalogFake()
	f.addService("dc1", "web")
	f.addService("dc2", "web")
	f.addNode("dc1", "n1")
	cfg := DefaultConfig() // the production limits
	cfg.LocalDC = "dc1"
	// Other datacenters cached too (nil reads them through).
	cfg.Reachable = func(string) bool { return true }
	// Refreshers park for the whole test, so any call for a real name
	// during the flood is a read that missed the cache.
	cfg.RefreshWait = time.Hour
	c, err := New(cfg, f.RPC)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown(context.Background())

	if readService(t, c, "dc1", "web", "") != 1 || !readNode(t, c, "dc1", "n1") || readService(t, c, "dc2", "web", "") != 1 {
		t.Fatal("real names not found")
	}
	// The refreshers of the real names are parked in blocking queries.
	testutil.WaitFor(t, 5*time.Second, "three blocked fetches", func() bool { return f.blocked.Load() == 3 })
	hotCalls := f.callsFor("dc1|svc|web") + f.callsFor("dc1|node|n1") + f.callsFor("dc2|svc|web")
	goroutines := runtime.NumGoroutine()
	heap := heapInUse()

	const names = 100_000
	start := time.Now()
	for i := range names {
		for range 2 {
			switch i % 4 {
			case 0:
				readService(t, c, "dc1", fmt.Sprintf("rnd%d", i), "")
			case 1:
				readService(t, c, "dc1", "web", fmt.Sprintf("t%d", i))
			case 2:
				readNode(t, c, "dc1", fmt.Sprintf("x%d", i))
			case 3:
				readService(t, c, "dc2", fmt.Sprintf("rnd%d", i), "")
			}
		}
		if i%1000 == 0 {
			if readService(t, c, "dc1", "web", "") != 1 || !readNode(t, c, "dc1", "n1") {
				t.Fatal("real name lost during the flood")
			}
			if g := runtime.NumGoroutine(); g > goroutines+100 {
				t.Fatalf("after %d names: %d goroutines, started with %d", i, g, goroutines)
			}
		}
	}
	t.Logf("%d names read twice in %v", names, time.Since(start))

	st := c.Stats()
	if st.Entries > 3+cfg.MaxNegativeEntries || st.Negative > cfg.MaxNegativeEntries || st.Recent > cfg.MaxRecent {
		t.Fatalf("after the flood: %+v (limits: %d negative, %d recent)", st, cfg.MaxNegativeEntries, cfg.MaxRecent)
	}
	if g := runtime.NumGoroutine(); g > goroutines+100 {
		t.Fatalf("after the flood: %d goroutines, started with %d", g, goroutines)
	}
	if grew := int64(heapInUse()) - int64(heap); grew > 50<<20 {
		t.Fatalf("heap grew by %d MB", grew>>20)
	}
	// Served from memory the whole time: only the refreshers, parked in
	// their blocking queries, may have called for the real names.
	if n := f.callsFor("dc1|svc|web") + f.callsFor("dc1|node|n1") + f.callsFor("dc2|svc|web"); n != hotCalls {
		t.Fatalf("real names cost %d server calls during the flood", n-hotCalls)
	}
}

// TestNegativeNameCachedOnlyWhenReadAgain: a name that finds nothing is
// read through until it is read twice; then it is kept fresh, and a
// registration shows up without another read-through.
func TestNegativeNameCachedOnlyWhenReadAgain(t *testing.T) {
	f := newCatalogFake()
	c := newTestCache(t, f.RPC, func(c *Config) { c.RefreshWait = time.Minute })
	defer c.Shutdown(context.Background())

	readService(t, c, "dc1", "api", "")
	if st := c.Stats(); st.Entries != 0 || st.Recent != 1 {
		t.Fatalf("after one read: %+v", st)
	}
	readService(t, c, "dc1", "api", "")
	if st := c.Stats(); st.Entries != 1 || st.Negative != 1 || st.Recent != 0 {
		t.Fatalf("after two reads: %+v", st)
	}
	testutil.WaitFor(t, 5*time.Second, "one blocked fetch", func() bool { return f.blocked.Load() == 1 })
	calls := f.callsFor("dc1|svc|api")
	if readService(t, c, "dc1", "api", "") != 0 || f.callsFor("dc1|svc|api") != calls {
		t.Fatal("hot negative name not served from memory")
	}
	f.addService("dc1", "api")
	testutil.WaitFor(t, 5*time.Second, "api to appear through the cache", func() bool { return readService(t, c, "dc1", "api", "") == 1 })
	if st := c.Stats(); st.Negative != 0 {
		t.Fatalf("name that now exists still counted negative: %+v", st)
	}
}

// TestEntriesBeyondTheLimitReadThrough: with every slot taken, further
// names are answered correctly by plain reads and start no refresher;
// when an entry goes idle its slot is reused.
func TestEntriesBeyondTheLimitReadThrough(t *testing.T) {
	f := newCatalogFake()
	for i := range 5 {
		f.addService("dc1", fmt.Sprintf("s%d", i))
	}
	c := newTestCache(t, f.RPC, func(c *Config) {
		c.RefreshWait, c.IdleTTL = 20*time.Millisecond, 100*time.Millisecond
		c.MaxEntries, c.MaxNegativeEntries = 2, 1
	})
	defer c.Shutdown(context.Background())

	readService(t, c, "dc1", "s0", "")
	readService(t, c, "dc1", "s1", "")
	before := f.callsFor("dc1|svc|s2")
	for range 3 {
		if readService(t, c, "dc1", "s2", "") != 1 {
			t.Fatal("read through lost the answer")
		}
	}
	if n := f.callsFor("dc1|svc|s2") - before; n != 3 || c.Len() != 2 {
		t.Fatalf("over the limit: %d server calls for 3 reads, %d entries", n, c.Len())
	}
	// Nobody reads s0 and s1 any more: their refreshers end and s2 gets
	// a slot.
	testutil.WaitFor(t, 5*time.Second, "the cache to empty", func() bool { return c.Len() == 0 })
	readService(t, c, "dc1", "s2", "")
	if c.Len() != 1 {
		t.Fatalf("freed slot not reused: %d entries", c.Len())
	}
}

func TestRecentSetForgetsOldest(t *testing.T) {
	s := newRecentSet(3)
	for _, k := range []string{"a", "b", "c"} {
		s.add(k)
	}
	s.add("a") // a is now the most recent
	s.add("d") // forgets b
	if s.len() != 3 || s.remove("b") || !s.remove("a") || !s.remove("c") || !s.remove("d") || s.len() != 0 {
		t.Fatalf("unexpected set state, len %d", s.len())
	}
}
