package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"consulate/internal/waitctx"
	"consulate/structs"
)

// RPCFunc is the agent's RPC seam.
type RPCFunc func(ctx context.Context, method structs.Method, args, reply any) error

// ErrInvalidConfig is wrapped by every error Config.Validate returns, and
// so by New.
var ErrInvalidConfig = errors.New("cache: invalid config")

// Config configures a Cache.
type Config struct {
	// LocalDC is this agent's datacenter; required.
	LocalDC string
	// RefreshWait is the wait of each refreshing blocking query; a remote
	// entry whose last successful refresh is older than twice this is not
	// trusted.
	RefreshWait time.Duration
	// IdleTTL stops refreshing (and drops) an entry nobody read for this
	// long. It is checked each time a refresh returns, so an idle entry's
	// refresher ends within IdleTTL+RefreshWait.
	IdleTTL time.Duration
	// RetryMin and RetryMax bound the backoff after a failed refresh.
	RetryMin, RetryMax time.Duration
	// MaxEntries bounds the entries kept fresh in memory, each by one
	// goroutine running blocking queries. Reads of further names go
	// straight to the servers until an entry goes idle.
	MaxEntries int
	// MaxNegativeEntries (at most MaxEntries) bounds how many of those
	// may be for reads that found nothing (no such service, tag or node). A name that finds
	// nothing is cached only when it is read again while remembered in
	// the recent set, so a flood of made-up names gets no refreshers, and
	// repeated made-up names cannot take the slots real names need.
	MaxNegativeEntries int
	// MaxRecent bounds the names remembered (least recently used dropped
	// first) as read once without being cached; they hold no value and no
	// goroutine.
	MaxRecent int
	// Reachable tells whether a remote datacenter currently answers;
	// when it does not, reads bypass the cache (and so fail fast with the
	// real error instead of serving a view that may be dead).
	//
	// nil (the default) means never: reads for other datacenters always
	// go through to the servers. A cache cannot know that the WAN was cut
	// a moment ago, so it would answer NOERROR from a view that may be
	// dead until its refresh failed (for over a second into a cut, as
	// e2e/TestWANPartition measured). Read through, a lookup gets the
	// router's answer: fresh, or SERVFAIL within milliseconds once the
	// servers know the datacenter is unreachable. Consul's DNS also reads
	// from the servers unless use_cache is set.
	Reachable func(dc string) bool
	// Logger receives the cache's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the production settings.
func DefaultConfig() Config {
	return Config{RefreshWait: 10 * time.Second, IdleTTL: 3 * time.Minute,
		RetryMin: 500 * time.Millisecond, RetryMax: 10 * time.Second,
		MaxEntries: 1024, MaxNegativeEntries: 32, MaxRecent: 4096}
}

// entry is one cached read, kept fresh by its own refresher.
type entry struct {
	// value is the reply struct (not a pointer); read-only once stored.
	value   any
	index   uint64
	valid   bool
	lastOK  time.Time
	lastUse time.Time
	remote  bool
	// negative records that the entry was admitted as a read that found
	// nothing, and so counts against MaxNegativeEntries.
	negative bool
}

// Cache answers cacheable reads from memory.
type Cache struct {
	cfg    Config
	rpc    RPCFunc
	logger *slog.Logger

	// mu guards entries, negatives, recent and the fields of every entry.
	mu        sync.Mutex
	entries   map[string]*entry
	negatives int
	recent    recentSet

	// remote shares concurrent reads through of other datacenters.
	remote coalescer

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Validate reports a config that cannot work.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.LocalDC == "":
		return bad("LocalDC is required")
	case c.RefreshWait <= 0 || c.IdleTTL <= 0:
		return bad("RefreshWait and IdleTTL must be positive, got %v and %v", c.RefreshWait, c.IdleTTL)
	case c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return bad("retry backoff %v..%v must be positive and ordered", c.RetryMin, c.RetryMax)
	case c.MaxEntries <= 0 || c.MaxRecent <= 0:
		return bad("MaxEntries and MaxRecent must be positive, got %d and %d", c.MaxEntries, c.MaxRecent)
	case c.MaxNegativeEntries <= 0 || c.MaxNegativeEntries > c.MaxEntries:
		return bad("MaxNegativeEntries must be in 1..MaxEntries (%d), got %d", c.MaxEntries, c.MaxNegativeEntries)
	}
	return nil
}

// New validates cfg and builds a cache in front of rpc.
func New(cfg Config, rpc RPCFunc) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rpc == nil {
		return nil, fmt.Errorf("%w: nil RPCFunc", ErrInvalidConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Cache{cfg: cfg, rpc: rpc, logger: cfg.Logger.With("component", "cache"),
		entries: make(map[string]*entry), recent: newRecentSet(cfg.MaxRecent),
		ctx: ctx, cancel: cancel}, nil
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
	// empty reports whether a value found nothing.
	empty func(value any) bool
}

func describe(method structs.Method, args any) (*request, bool) {
	switch a := args.(type) {
	case *structs.ServiceSpecificRequest:
		if method != structs.MethodHealthServiceNodes {
			return nil, false
		}
		return &request{
			// The token is part of the key: with ACLs an answer is
			// filtered for the token that asked.
			key: fmt.Sprintf("%s|%s|%s|%v|%s|%v|%s", method, a.Datacenter, strings.ToLower(a.ServiceName),
				a.TagFilter, strings.Join(a.ServiceTags, ","), a.NodeMetaFilters, a.Token),
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
			empty: func(v any) bool { return len(v.(structs.IndexedCheckServiceNodes).Nodes) == 0 },
		}, true
	case *structs.NodeSpecificRequest:
		if method != structs.MethodCatalogNodeServices {
			return nil, false
		}
		return &request{
			key: fmt.Sprintf("%s|%s|%s|%s", method, a.Datacenter, strings.ToLower(a.Node), a.Token),
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
			empty: func(v any) bool {
				ns := v.(structs.IndexedNodeServices).NodeServices
				return ns == nil || ns.Node == nil
			},
		}, true
	}
	return nil, false
}

// RPC answers a cacheable stale read from memory when it is cached, and
// otherwise reads through and decides whether to cache it (see Config).
// Everything else goes straight to rpc.
func (c *Cache) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	req, ok := describe(method, args)
	if !ok || !req.opts.AllowStale || req.opts.MinQueryIndex > 0 || req.opts.RequireConsistent {
		return c.rpc(ctx, method, args, reply)
	}
	remote := req.dc != "" && req.dc != c.cfg.LocalDC
	if remote && (c.cfg.Reachable == nil || !c.cfg.Reachable(req.dc)) {
		return c.remote.read(ctx, req, reply, func(ctx context.Context) error { return c.rpc(ctx, method, args, reply) })
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

	// Miss (or an entry we cannot trust): read through, then maybe cache.
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
		if e = c.admit(req, req.empty(value), remote); e == nil {
			return nil
		}
		c.wg.Add(1)
		go c.refresh(req, method, e)
	}
	if !e.valid || idx >= e.index {
		e.value, e.index, e.valid, e.lastOK = value, idx, true, now
	}
	e.lastUse = now
	return nil
}

// admit decides whether a read that is not cached gets an entry (and a
// refresher), and returns it, or nil. A read that found something is
// admitted while there is room; one that found nothing only on its second
// read, and while there is room for negative entries. c.mu is held.
func (c *Cache) admit(req *request, empty, remote bool) *entry {
	if len(c.entries) >= c.cfg.MaxEntries {
		return nil
	}
	if empty {
		if c.negatives >= c.cfg.MaxNegativeEntries || !c.recent.remove(req.key) {
			c.recent.add(req.key)
			return nil
		}
		c.negatives++
	} else {
		c.recent.remove(req.key)
	}
	e := &entry{remote: remote, negative: empty}
	c.entries[req.key] = e
	return e
}

// drop removes e, whose refresher is ending. c.mu is held.
func (c *Cache) drop(key string, e *entry) {
	if c.entries[key] == e {
		delete(c.entries, key)
		if e.negative {
			c.negatives--
		}
	}
}

// refresh keeps one entry fresh with blocking queries until it goes
// unused for IdleTTL or the cache shuts down.
func (c *Cache) refresh(req *request, method structs.Method, e *entry) {
	defer c.wg.Done()
	defer func() {
		c.mu.Lock()
		c.drop(req.key, e)
		c.mu.Unlock()
	}()
	backoff := c.cfg.RetryMin
	for {
		c.mu.Lock()
		idle := time.Since(e.lastUse) > c.cfg.IdleTTL
		idx := max(e.index, 1) // index 0 would not block
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
		if e.negative && !req.empty(value) {
			// The name now exists: free its negative slot.
			e.negative = false
			c.negatives--
		}
		c.mu.Unlock()
	}
}

// Stats describes what the cache holds.
type Stats struct {
	// Entries are the reads kept fresh in memory, one refresher each;
	// Negative of them found nothing when they were admitted.
	Entries, Negative int
	// Recent are the names remembered as read once, holding no value.
	Recent int
}

// Stats returns the current counts.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Entries: len(c.entries), Negative: c.negatives, Recent: c.recent.len()}
}

// Len is the number of cached entries.
func (c *Cache) Len() int { return c.Stats().Entries }

// Shutdown stops every refresher and waits for them.
func (c *Cache) Shutdown(ctx context.Context) error {
	// Under mu, so no refresher is added after Wait starts.
	c.mu.Lock()
	c.cancel()
	c.mu.Unlock()
	return waitctx.Wait(ctx, &c.wg)
}
