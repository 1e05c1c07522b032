package cache

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

// fakeServers answers the agent cache's fetches: Health.ServiceNodes
// blocking on index, like a server.
type fakeServers struct {
	mu      sync.Mutex
	index   uint64
	changed chan struct{}
	calls   int
	fail    error
}

func newFakeServers() *fakeServers { return &fakeServers{index: 5, changed: make(chan struct{})} }

func (f *fakeServers) bump() {
	f.mu.Lock()
	f.index++
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeServers) rpc(ctx context.Context, method structs.Method, args, reply any) error {
	a := args.(*structs.ServiceSpecificRequest)
	if a.UseCache || !a.AllowStale {
		return errors.New("fetch must clear UseCache and allow stale")
	}
	f.mu.Lock()
	f.calls++
	if f.fail != nil {
		err := f.fail
		f.mu.Unlock()
		return err
	}
	ch, idx := f.changed, f.index
	f.mu.Unlock()
	if a.MinQueryIndex > 0 && idx <= a.MinQueryIndex {
		t := time.NewTimer(a.MaxQueryTime)
		defer t.Stop()
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := reply.(*structs.IndexedCheckServiceNodes)
	out.Index = f.index
	out.Nodes = structs.CheckServiceNodes{{Node: &structs.Node{Node: "a"}, Service: &structs.NodeService{ID: "web"}}}
	return nil
}

func newTestAgent(t *testing.T, f *fakeServers, tune func(*AgentConfig)) *Agent {
	t.Helper()
	cfg := DefaultAgentConfig()
	cfg.RefreshWait, cfg.RetryMin, cfg.RetryMax = 100*time.Millisecond, 5*time.Millisecond, 10*time.Millisecond
	if tune != nil {
		tune(&cfg)
	}
	c, err := NewAgent(cfg, f.rpc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return c
}

func readCached(c *Agent, svc string) (*structs.IndexedCheckServiceNodes, bool, error) {
	var out structs.IndexedCheckServiceNodes
	ok, err := c.RPC(context.Background(), structs.MethodHealthServiceNodes,
		&structs.ServiceSpecificRequest{ServiceName: svc, QueryOptions: structs.QueryOptions{UseCache: true}}, &out)
	return &out, ok, err
}

func TestAgentConfigValidate(t *testing.T) {
	cfg := DefaultAgentConfig()
	cfg.MaxEntries = 0
	if _, err := NewAgent(cfg, newFakeServers().rpc); !errors.Is(err, ErrInvalidConfig) {
		t.Fatal(err)
	}
	if _, err := NewAgent(DefaultAgentConfig(), nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatal(err)
	}
}

func TestAgentNotHandled(t *testing.T) {
	c := newTestAgent(t, newFakeServers(), nil)
	var out structs.IndexedCheckServiceNodes
	for _, args := range []*structs.ServiceSpecificRequest{
		{ServiceName: "web"},
		{ServiceName: "web", QueryOptions: structs.QueryOptions{UseCache: true, RequireConsistent: true}},
	} {
		if ok, _ := c.RPC(context.Background(), structs.MethodHealthServiceNodes, args, &out); ok {
			t.Fatalf("%+v handled", args)
		}
	}
	if ok, _ := c.RPC(context.Background(), structs.MethodHealthServiceChecks,
		&structs.ServiceSpecificRequest{ServiceName: "web", QueryOptions: structs.QueryOptions{UseCache: true}}, &out); ok {
		t.Fatal("unknown method handled")
	}
}

func TestAgentHitRefreshAndCopy(t *testing.T) {
	f := newFakeServers()
	c := newTestAgent(t, f, nil)
	out, ok, err := readCached(c, "web")
	if !ok || err != nil || out.CacheHit || out.Index != 5 {
		t.Fatalf("miss: %v %v %+v", ok, err, out.QueryMeta)
	}
	out, _, _ = readCached(c, "web")
	if !out.CacheHit || out.CacheAge != 0 {
		t.Fatalf("hit: %+v", out.QueryMeta)
	}
	out.Nodes[0] = structs.CheckServiceNode{}
	again, _, _ := readCached(c, "web")
	if again.Nodes[0].Node == nil {
		t.Fatal("a caller's change reached the cache")
	}
	f.bump()
	testutil.WaitFor(t, 5*time.Second, "refreshed", func() bool {
		out, _, _ := readCached(c, "web")
		return out.CacheHit && out.Index == 6
	})
	// Lost contact: still a hit, ageing.
	f.mu.Lock()
	f.fail = structs.ErrNoLeader
	f.mu.Unlock()
	f.bump()
	testutil.WaitFor(t, 5*time.Second, "age while refresh fails", func() bool {
		out, _, _ := readCached(c, "web")
		return out.CacheHit && out.CacheAge > 20*time.Millisecond
	})
	// max-age below that age: fetched, which fails.
	var o structs.IndexedCheckServiceNodes
	if _, err := c.RPC(context.Background(), structs.MethodHealthServiceNodes, &structs.ServiceSpecificRequest{ServiceName: "web",
		QueryOptions: structs.QueryOptions{UseCache: true, MaxAge: time.Millisecond}}, &o); !errors.Is(err, structs.ErrNoLeader) {
		t.Fatalf("max-age past: %v", err)
	}
}

func TestAgentBoundAndIdle(t *testing.T) {
	f := newFakeServers()
	c := newTestAgent(t, f, func(cfg *AgentConfig) { cfg.MaxEntries, cfg.TTL = 2, 50*time.Millisecond })
	for _, s := range []string{"a", "b", "c"} {
		readCached(c, s)
	}
	if c.Len() != 2 {
		t.Fatalf("entries %d, want 2", c.Len())
	}
	if out, _, _ := readCached(c, "c"); out.CacheHit {
		t.Fatal("entry beyond the bound cached")
	}
	testutil.WaitFor(t, 5*time.Second, "idle entries dropped", func() bool { return c.Len() == 0 })
}

// A refresh the servers refuse for the token's rights drops the entry: the
// next read is a miss that gets the refusal, never the old value.
func TestAgentRefreshRefusedByACLsDrops(t *testing.T) {
	f := newFakeServers()
	c := newTestAgent(t, f, nil)
	if _, ok, err := readCached(c, "web"); !ok || err != nil {
		t.Fatalf("first read: %v %v", ok, err)
	}
	f.mu.Lock()
	f.fail = &structs.RemoteError{Code: structs.CodeACLNotFound, Msg: "ACL not found"}
	f.mu.Unlock()
	f.bump()
	testutil.WaitFor(t, 5*time.Second, "the refused entry dropped", func() bool { return c.Len() == 0 })
	out, _, err := readCached(c, "web")
	if !errors.Is(err, structs.ErrACLNotFound) || out.CacheHit {
		t.Fatalf("read after the refusal: hit=%v err=%v, want a miss with ACL not found", out.CacheHit, err)
	}
}
