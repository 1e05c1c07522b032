package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/cache"
	"consulate/internal/testutil"
	"consulate/structs"
)

// cachingAgent is the fake agent behind the agent cache, as the real
// agent's RPC is; calls counts what reached the "servers".
type cachingAgent struct {
	*fakeAgent
	c     *cache.Agent
	calls atomic.Int64
	down  atomic.Bool
}

func (a *cachingAgent) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	if handled, err := a.c.RPC(ctx, method, args, reply); handled {
		return err
	}
	a.calls.Add(1)
	if a.down.Load() {
		return structs.ErrNoLeader
	}
	if method == structs.MethodCatalogListServices {
		a.block(ctx, args.(*structs.DCSpecificRequest).GetQueryOptions())
		out := reply.(*structs.IndexedServices)
		a.mu.Lock()
		out.Services = map[string][]string{}
		for _, n := range a.nodes {
			out.Services[n.Service.Service] = n.Service.Tags
		}
		out.Index, out.KnownLeader = a.index, true
		a.mu.Unlock()
		return nil
	}
	if method == structs.MethodPreparedQueryExecute {
		a.block(ctx, args.(*structs.PreparedQueryExecuteRequest).GetQueryOptions())
		out := reply.(*structs.PreparedQueryExecuteResponse)
		a.mu.Lock()
		out.Service, out.Nodes, out.Datacenter = "web", a.nodes, "dc1"
		out.Index, out.KnownLeader = a.index, true
		a.mu.Unlock()
		return nil
	}
	return a.fakeAgent.RPC(ctx, method, args, reply)
}

func newCachingServer(t *testing.T) (*cachingAgent, *api.Client, string) {
	t.Helper()
	f := newFakeAgent()
	f.nodes = testNodes(3)
	ca := &cachingAgent{fakeAgent: f}
	cfg := cache.DefaultAgentConfig()
	cfg.RefreshWait, cfg.RetryMin, cfg.RetryMax = 200*time.Millisecond, 10*time.Millisecond, 20*time.Millisecond
	c, err := cache.NewAgent(cfg, ca.RPC)
	if err != nil {
		t.Fatal(err)
	}
	ca.c = c
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Shutdown(ctx)
	})
	hc := DefaultConfig()
	hc.DefaultQueryTime = 2 * time.Second
	srv := mustNew(t, hc, ca)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	client, err := api.NewClient(&api.Config{Address: strings.TrimPrefix(ts.URL, "http://")})
	if err != nil {
		t.Fatal(err)
	}
	return ca, client, ts.URL
}

func TestCachedHealthServiceWithOfficialClient(t *testing.T) {
	ca, c, _ := newCachingServer(t)
	// Without ?cached: no cache headers.
	_, meta, err := c.Health().Service("web", "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if meta.CacheHit || meta.CacheAge != 0 {
		t.Fatalf("uncached read has cache meta: %+v", meta)
	}
	q := &api.QueryOptions{UseCache: true}
	first, meta, err := c.Health().Service("web", "", false, q)
	if err != nil {
		t.Fatal(err)
	}
	if meta.CacheHit {
		t.Fatal("first ?cached read was a hit")
	}
	second, meta, err := c.Health().Service("web", "", false, q)
	if err != nil {
		t.Fatal(err)
	}
	if !meta.CacheHit || meta.CacheAge != 0 || len(second) != len(first) || meta.LastIndex == 0 {
		t.Fatalf("second read: hit %v age %v, %d nodes (want %d), index %d", meta.CacheHit, meta.CacheAge, len(second), len(first), meta.LastIndex)
	}
	// A change reaches the cache through its background refresh.
	before := meta.LastIndex
	if _, err := c.Catalog().Register(&api.CatalogRegistration{Node: "x", Address: "10.0.0.9"}, nil); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "refresh sees the change", func() bool {
		_, m, err := c.Health().Service("web", "", false, q)
		return err == nil && m.CacheHit && m.LastIndex > before
	})
	// A blocking ?cached read waits on the entry.
	_, m, _ := c.Health().Service("web", "", false, q)
	done := make(chan *api.QueryMeta, 1)
	go func() {
		_, m2, _ := c.Health().Service("web", "", false, &api.QueryOptions{UseCache: true, WaitIndex: m.LastIndex, WaitTime: 5 * time.Second})
		done <- m2
	}()
	select {
	case <-done:
		t.Fatal("blocking ?cached read returned before a change")
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := c.Catalog().Register(&api.CatalogRegistration{Node: "y", Address: "10.0.0.8"}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case m2 := <-done:
		if m2 == nil || m2.LastIndex <= m.LastIndex {
			t.Fatalf("woken with %+v", m2)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocking ?cached read not woken")
	}
	// Servers down: the background entry still answers, with its age
	// counting from when the refresh lost contact.
	ca.down.Store(true)
	testutil.WaitFor(t, 5*time.Second, "age counts once contact is lost", func() bool {
		_, m, err := c.Health().Service("web", "", false, q)
		return err == nil && m.CacheHit && m.CacheAge >= time.Second
	})
}

func TestCachedHeadersAndCacheControl(t *testing.T) {
	ca, _, ts := newCachingServer(t)
	get := func(path string, hdr map[string]string) (int, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", ts+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	if code, _ := get("/v1/health/service/web?cached&consistent", nil); code != 400 {
		t.Fatalf("?cached&consistent: %d", code)
	}
	if code, _ := get("/v1/catalog/services?cached", map[string]string{"Cache-Control": "max-age=x"}); code != 400 {
		t.Fatalf("bad Cache-Control: %d", code)
	}
	for _, p := range []string{"/v1/health/service/web?cached", "/v1/catalog/service/web?cached", "/v1/catalog/services?cached"} {
		_, h := get(p, nil)
		if h.Get("X-Cache") != "MISS" || h.Get("Age") != "" {
			t.Fatalf("%s first: X-Cache %q Age %q", p, h.Get("X-Cache"), h.Get("Age"))
		}
		_, h = get(p, nil)
		if h.Get("X-Cache") != "HIT" || h.Get("Age") != "0" || h.Get("X-Consul-Index") == "" {
			t.Fatalf("%s second: %v", p, h)
		}
	}
	// Other endpoints ignore ?cached.
	if _, h := get("/v1/catalog/nodes?cached", nil); h.Get("X-Cache") != "" {
		t.Fatal("X-Cache on an endpoint without caching")
	}
	// must-revalidate always asks the servers.
	n := ca.calls.Load()
	_, h := get("/v1/health/service/web?cached", map[string]string{"Cache-Control": "must-revalidate"})
	if h.Get("X-Cache") != "MISS" || ca.calls.Load() == n {
		t.Fatalf("must-revalidate: %v (calls %d→%d)", h.Get("X-Cache"), n, ca.calls.Load())
	}
}

func TestCachedPreparedQuerySimpleCaching(t *testing.T) {
	ca, _, ts := newCachingServer(t)
	get := func(hdr string) (int, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", ts+"/v1/query/q1/execute?cached", nil)
		if hdr != "" {
			req.Header.Set("Cache-Control", hdr)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	if code, h := get(""); code != 200 || h.Get("X-Cache") != "MISS" {
		t.Fatalf("first: %d %v", code, h.Get("X-Cache"))
	}
	testutil.WaitFor(t, 5*time.Second, "entry 1s old", func() bool {
		_, h := get("")
		return h.Get("X-Cache") == "HIT" && h.Get("Age") == "1"
	})
	// Older than max-age: fetched again (a miss)...
	if _, h := get("max-age=0, must-revalidate"); h.Get("X-Cache") != "MISS" {
		t.Fatalf("max-age: %v", h.Get("X-Cache"))
	}
	testutil.WaitFor(t, 5*time.Second, "entry 1s old again", func() bool {
		_, h := get("")
		return h.Get("Age") == "1"
	})
	// ...and with the servers down, an error unless stale-if-error allows
	// the old answer.
	ca.down.Store(true)
	if code, _ := get("max-age=0, must-revalidate"); code != 500 {
		t.Fatalf("servers down without stale-if-error: %d", code)
	}
	if code, h := get("max-age=0, stale-if-error=60"); code != 200 || h.Get("X-Cache") != "HIT" || h.Get("Age") == "0" {
		t.Fatalf("stale-if-error: %d %v", code, h)
	}
}

func TestParseCacheControl(t *testing.T) {
	for _, c := range []struct {
		hdr  string
		want structs.QueryOptions
		bad  bool
	}{
		{"", structs.QueryOptions{}, false},
		{"max-age=30", structs.QueryOptions{MaxAge: 30 * time.Second}, false},
		{"Max-Age=30, Stale-If-Error=3600", structs.QueryOptions{MaxAge: 30 * time.Second, StaleIfError: time.Hour}, false},
		{"must-revalidate, no-cache", structs.QueryOptions{MustRevalidate: true}, false},
		{"max-age=-1", structs.QueryOptions{}, true},
		// max-age=0 alone asks for a fresh answer, not "no limit".
		{"max-age=0", structs.QueryOptions{MustRevalidate: true}, false},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		if c.hdr != "" {
			r.Header.Set("Cache-Control", c.hdr)
		}
		var q structs.QueryOptions
		err := parseCacheControl(r, &q)
		var br *structs.BadRequestError
		if c.bad != errors.As(err, &br) || (!c.bad && q != c.want) {
			t.Errorf("%q: %+v %v", c.hdr, q, err)
		}
	}
}
