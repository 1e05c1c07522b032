package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

// fakeServer answers Health.ServiceNodes with a version number and blocks
// like a server until the version moves past MinQueryIndex.
type fakeServer struct {
	mu      sync.Mutex
	version uint64
	changed chan struct{}
	calls   atomic.Int64
	fail    atomic.Bool
}

func newFake() *fakeServer { return &fakeServer{version: 1, changed: make(chan struct{})} }

func (f *fakeServer) bump() {
	f.mu.Lock()
	f.version++
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeServer) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	f.calls.Add(1)
	if f.fail.Load() {
		return structs.ErrNoDCPath
	}
	a := args.(*structs.ServiceSpecificRequest)
	for {
		f.mu.Lock()
		v, ch := f.version, f.changed
		f.mu.Unlock()
		if v > a.MinQueryIndex {
			*reply.(*structs.IndexedCheckServiceNodes) = structs.IndexedCheckServiceNodes{
				Nodes:     structs.CheckServiceNodes{{Node: &structs.Node{Node: "n"}, Service: &structs.NodeService{Port: int(v)}}},
				QueryMeta: structs.QueryMeta{Index: v},
			}
			return nil
		}
		select {
		case <-ch:
		case <-time.After(a.MaxQueryTime):
			*reply.(*structs.IndexedCheckServiceNodes) = structs.IndexedCheckServiceNodes{QueryMeta: structs.QueryMeta{Index: v}}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func get(t *testing.T, c *Cache, dc string) (int, error) {
	t.Helper()
	var out structs.IndexedCheckServiceNodes
	err := c.RPC(context.Background(), structs.MethodHealthServiceNodes,
		&structs.ServiceSpecificRequest{Datacenter: dc, ServiceName: "web", QueryOptions: structs.QueryOptions{AllowStale: true}}, &out)
	if err != nil || len(out.Nodes) == 0 {
		return 0, err
	}
	return out.Nodes[0].Service.Port, nil
}

func TestCacheServesFromMemoryAndFollowsChanges(t *testing.T) {
	f := newFake()
	c := newTestCache(t, f.RPC, func(c *Config) { c.RefreshWait = time.Second })
	defer c.Shutdown(context.Background())
	if v, err := get(t, c, ""); err != nil || v != 1 {
		t.Fatalf("first read %d %v", v, err)
	}
	before := f.calls.Load()
	for i := 0; i < 100; i++ {
		if v, _ := get(t, c, ""); v != 1 {
			t.Fatalf("cached read %d", v)
		}
	}
	// Only the refresher may have called (it is parked in a blocking query).
	if n := f.calls.Load() - before; n > 1 {
		t.Fatalf("%d server calls for 100 cached reads", n)
	}
	f.bump()
	testutil.WaitFor(t, 2*time.Second, "the cache to follow the change", func() bool {
		v, _ := get(t, c, "")
		return v == 2
	})
}

func TestCacheBypassedForUnreachableDC(t *testing.T) {
	f := newFake()
	var reachable atomic.Bool
	reachable.Store(true)
	c := newTestCache(t, f.RPC, func(c *Config) {
		c.RefreshWait = time.Second
		c.Reachable = func(string) bool { return reachable.Load() }
	})
	defer c.Shutdown(context.Background())
	if _, err := get(t, c, "dc2"); err != nil {
		t.Fatal(err)
	}
	f.fail.Store(true)
	reachable.Store(false)
	if _, err := get(t, c, "dc2"); !errors.Is(err, structs.ErrNoDCPath) {
		t.Fatalf("unreachable dc served from cache: %v", err)
	}
}

func TestUncacheableGoesThrough(t *testing.T) {
	f := newFake()
	c := newTestCache(t, f.RPC, nil)
	defer c.Shutdown(context.Background())
	var out structs.IndexedCheckServiceNodes
	for i := 0; i < 3; i++ {
		c.RPC(context.Background(), structs.MethodHealthServiceNodes,
			&structs.ServiceSpecificRequest{ServiceName: "web"}, &out) // not stale
	}
	if f.calls.Load() != 3 || c.Len() != 0 {
		t.Fatalf("calls %d entries %d", f.calls.Load(), c.Len())
	}
}

func TestIdleEntriesAreDropped(t *testing.T) {
	f := newFake()
	c := newTestCache(t, f.RPC, func(c *Config) { c.RefreshWait, c.IdleTTL = 20*time.Millisecond, 50*time.Millisecond })
	defer c.Shutdown(context.Background())
	get(t, c, "")
	testutil.WaitFor(t, 2*time.Second, "the idle entry to go", func() bool { return c.Len() == 0 })
}

// newTestCache builds a cache for dc1 from DefaultConfig changed by set.
func newTestCache(t testing.TB, rpc RPCFunc, set func(*Config)) *Cache {
	t.Helper()
	cfg := DefaultConfig()
	cfg.LocalDC = "dc1"
	if set != nil {
		set(&cfg)
	}
	c, err := New(cfg, rpc)
	if err != nil {
		t.Fatalf("cache.New: %v", err)
	}
	return c
}

func TestNewValidates(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"no LocalDC":              func(c *Config) { c.LocalDC = "" },
		"zero RefreshWait":        func(c *Config) { c.RefreshWait = 0 },
		"RetryMax below RetryMin": func(c *Config) { c.RetryMax = c.RetryMin / 2 },
		"zero MaxEntries":         func(c *Config) { c.MaxEntries = 0 },
		"negatives over entries":  func(c *Config) { c.MaxNegativeEntries = c.MaxEntries + 1 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.LocalDC = "dc1"
			mutate(&cfg)
			if c, err := New(cfg, newFake().RPC); !errors.Is(err, ErrInvalidConfig) || c != nil {
				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
		})
	}
}
