package cache

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"consulate/structs"
)

// RPCFunc is the agent's RPC seam.
type RPCFunc func(ctx context.Context, method string, args, reply any) error

// Config configures a Cache.
type Config struct {
	// LocalDC is this agent's datacenter.
	LocalDC string
	// RefreshWait is the wait of each refreshing blocking query; a remote
	// entry whose last successful refresh is older than twice this is not
	// trusted.
	RefreshWait time.Duration
	// IdleTTL drops an entry nobody read for this long.
	IdleTTL time.Duration
	// RetryMin and RetryMax bound the backoff after a failed refresh.
	RetryMin, RetryMax time.Duration
	// Reachable, if set, tells whether a remote datacenter currently
	// answers; when it does not, reads bypass the cache (and so fail fast
	// with the real error instead of serving a view that may be dead).
	Reachable func(dc string) bool
	Logger    *slog.Logger
}

// DefaultConfig returns the production settings.
func DefaultConfig() Config {
	return Config{RefreshWait: 10 * time.Second, IdleTTL: 3 * time.Minute,
		RetryMin: 500 * time.Millisecond, RetryMax: 10 * time.Second}
}

// entry is one cached read.
type entry struct {
	// value is the reply struct (not a pointer); read-only once stored.
	value   any
	index   uint64
	valid   bool
	lastOK  time.Time
	lastUse time.Time
	remote  bool
}

// Cache answers cacheable reads from memory.
type Cache struct {
	cfg    Config
	rpc    RPCFunc
	logger *slog.Logger

	// mu guards entries and the fields of every entry.
	mu      sync.Mutex
	entries map[string]*entry

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a cache in front of rpc.
func New(cfg Config, rpc RPCFunc) *Cache {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := DefaultConfig()
	if cfg.RefreshWait <= 0 {
		cfg.RefreshWait = d.RefreshWait
	}
	if cfg.IdleTTL <= 0 {
		cfg.IdleTTL = d.IdleTTL
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = d.RetryMin
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = d.RetryMax
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Cache{cfg: cfg, rpc: rpc, logger: cfg.Logger.With("component", "cache"),
		entries: make(map[string]*entry), ctx: ctx, cancel: cancel}
}

// request is what the cache needs to know of a cacheable read.
type request struct {
	key  string
	dc   string
	opts *structs.QueryOptions
	// withIndex returns a copy of the args asking for data past index.
	withIndex func(index uint64, wait time.Duration) any
	// newReply returns an empty reply pointer; load reads the value out
	// of it, store writes a value into the caller's reply.
	newReply func() any
	load     func(reply any) (any, uint64)
	store    func(value any, reply any)
}

func describe(method string, args any) (*request, bool) {
	switch a := args.(type) {
	case *structs.ServiceSpecificRequest:
		if method != structs.MethodHealthServiceNodes {
			return nil, false
		}
		return &request{
			key: fmt.Sprintf("%s|%s|%s|%v|%s|%v", method, a.Datacenter, strings.ToLower(a.ServiceName),
				a.TagFilter, strings.Join(a.ServiceTags, ","), a.NodeMetaFilters),
			dc: a.Datacenter, opts: &a.QueryOptions,
			withIndex: func(idx uint64, wait time.Duration) any {
				c := *a
				c.MinQueryIndex, c.MaxQueryTime = idx, wait
				return &c
			},
			newReply: func() any { return &structs.IndexedCheckServiceNodes{} },
			load: func(r any) (any, uint64) {
				v := *r.(*structs.IndexedCheckServiceNodes)
				return v, v.Index
			},
			store: func(v, r any) { *r.(*structs.IndexedCheckServiceNodes) = v.(structs.IndexedCheckServiceNodes) },
		}, true
	case *structs.NodeSpecificRequest:
		if method != structs.MethodCatalogNodeServices {
			return nil, false
		}
		return &request{
			key: fmt.Sprintf("%s|%s|%s", method, a.Datacenter, strings.ToLower(a.Node)),
			dc:  a.Datacenter, opts: &a.QueryOptions,
			withIndex: func(idx uint64, wait time.Duration) any {
				c := *a
				c.MinQueryIndex, c.MaxQueryTime = idx, wait
				return &c
			},
			newReply: func() any { return &structs.IndexedNodeServices{} },
			load: func(r any) (any, uint64) {
				v := *r.(*structs.IndexedNodeServices)
				return v, v.Index
			},
			store: func(v, r any) { *r.(*structs.IndexedNodeServices) = v.(structs.IndexedNodeServices) },
		}, true
	}
	return nil, false
}

// RPC answers a cacheable stale read from memory, fetching and starting a
// refresher on first use; everything else goes straight to rpc.
func (c *Cache) RPC(ctx context.Context, method string, args, reply any) error {
	req, ok := describe(method, args)
	if !ok || !req.opts.AllowStale || req.opts.MinQueryIndex > 0 || req.opts.RequireConsistent {
		return c.rpc(ctx, method, args, reply)
	}
	remote := req.dc != "" && req.dc != c.cfg.LocalDC
	if remote && c.cfg.Reachable != nil && !c.cfg.Reachable(req.dc) {
		return c.rpc(ctx, method, args, reply)
	}
	now := time.Now()
	c.mu.Lock()
	e := c.entries[req.key]
	if e != nil && e.valid && (!remote || now.Sub(e.lastOK) < 2*c.cfg.RefreshWait+c.cfg.RetryMax) {
		e.lastUse = now
		req.store(e.value, reply)
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()

	// Miss (or an entry we cannot trust): read through, then cache.
	if err := c.rpc(ctx, method, args, reply); err != nil {
		return err
	}
	value, idx := req.load(reply)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil {
		return nil
	}
	if e = c.entries[req.key]; e == nil {
		e = &entry{remote: remote}
		c.entries[req.key] = e
		c.wg.Add(1)
		go c.refresh(req, method, e)
	}
	if !e.valid || idx >= e.index {
		e.value, e.index, e.valid, e.lastOK = value, idx, true, now
	}
	e.lastUse = now
	return nil
}

// refresh keeps one entry fresh with blocking queries until it goes
// unused for IdleTTL or the cache shuts down.
func (c *Cache) refresh(req *request, method string, e *entry) {
	defer c.wg.Done()
	backoff := c.cfg.RetryMin
	for {
		c.mu.Lock()
		idle := time.Since(e.lastUse) > c.cfg.IdleTTL
		idx := max(e.index, 1) // index 0 would not block
		if idle {
			delete(c.entries, req.key)
		}
		c.mu.Unlock()
		if idle || c.ctx.Err() != nil {
			return
		}
		reply := req.newReply()
		err := c.rpc(c.ctx, method, req.withIndex(idx, c.cfg.RefreshWait), reply)
		if c.ctx.Err() != nil {
			return
		}
		if err != nil {
			c.mu.Lock()
			e.valid = false
			c.mu.Unlock()
			c.logger.Debug("refresh failed", "key", req.key, "error", err)
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, c.cfg.RetryMax)
			continue
		}
		backoff = c.cfg.RetryMin
		value, newIdx := req.load(reply)
		c.mu.Lock()
		e.value, e.index, e.valid, e.lastOK = value, newIdx, true, time.Now()
		c.mu.Unlock()
	}
}

// Len is the number of cached entries.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Shutdown stops every refresher and waits for them.
func (c *Cache) Shutdown(ctx context.Context) error {
	// Under mu, so no refresher is added after Wait starts.
	c.mu.Lock()
	c.cancel()
	c.mu.Unlock()
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
