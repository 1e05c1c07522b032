package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"consulate/internal/waitctx"
	"consulate/structs"
)

// AgentConfig configures the agent cache behind ?cached.
type AgentConfig struct {
	// TTL drops an entry nobody read for this long (Consul: 3 days, so a
	// cached answer outlives a weekend without servers).
	TTL time.Duration
	// MaxEntries bounds the entries; reads of further ones go to the
	// servers (answered MISS) until some expire.
	MaxEntries int
	// RefreshWait is the wait of each background refresh's blocking query.
	RefreshWait time.Duration
	// RetryMin and RetryMax bound the backoff after a failed refresh.
	RetryMin, RetryMax time.Duration
	// DefaultQueryTime and MaxQueryTime bound a blocking ?cached read
	// waiting on an entry (Consul: 5 and 10 minutes), plus wait/16 jitter.
	DefaultQueryTime, MaxQueryTime time.Duration
	// Logger receives the cache's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultAgentConfig returns the production settings.
func DefaultAgentConfig() AgentConfig {
	return AgentConfig{TTL: 72 * time.Hour, MaxEntries: 4096, RefreshWait: 5 * time.Minute,
		RetryMin: 500 * time.Millisecond, RetryMax: time.Minute,
		DefaultQueryTime: 5 * time.Minute, MaxQueryTime: 10 * time.Minute}
}

// Validate reports a config that cannot work.
func (c *AgentConfig) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.TTL <= 0 || c.RefreshWait <= 0:
		return bad("TTL and RefreshWait must be positive, got %v and %v", c.TTL, c.RefreshWait)
	case c.MaxEntries <= 0:
		return bad("MaxEntries must be positive, got %d", c.MaxEntries)
	case c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return bad("retry backoff %v..%v must be positive and ordered", c.RetryMin, c.RetryMax)
	case c.DefaultQueryTime <= 0 || c.MaxQueryTime < c.DefaultQueryTime:
		return bad("query times %v..%v must be positive and ordered", c.DefaultQueryTime, c.MaxQueryTime)
	}
	return nil
}

// Agent is Consul's agent cache, what ?cached reads are answered from
// (https://developer.hashicorp.com/consul/api-docs/features/caching).
// Catalog and health reads are "background refresh" entries: kept fresh
// by a blocking query each, so a hit is as fresh as the servers' stream
// of changes and its age is 0 until the refresh loses contact. Prepared
// query executions are "simple" entries: fetched again only when older
// than the caller's Cache-Control max-age. Answers carry CacheHit and
// CacheAge in their QueryMeta (X-Cache and Age in HTTP).
type Agent struct {
	cfg    AgentConfig
	rpc    RPCFunc
	logger *slog.Logger

	// mu guards entries and the fields of every entry.
	mu      sync.Mutex
	entries map[string]*agentEntry

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type agentEntry struct {
	value     any // the reply struct (not a pointer), read-only
	index     uint64
	valid     bool
	fetchedAt time.Time
	// lostContact is when the background refresh last started failing;
	// zero while it succeeds.
	lostContact time.Time
	lastUse     time.Time
	refresh     bool
	// changed is closed (and replaced) when index moves.
	changed chan struct{}
}

// NewAgent validates cfg and builds the agent cache in front of rpc, the
// agent's RPC (called with UseCache cleared, so it does not come back).
func NewAgent(cfg AgentConfig, rpc RPCFunc) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rpc == nil {
		return nil, fmt.Errorf("%w: nil RPCFunc", ErrInvalidConfig)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Agent{cfg: cfg, rpc: rpc, logger: logger.With("component", "cache"),
		entries: make(map[string]*agentEntry), ctx: ctx, cancel: cancel}, nil
}

// cachedRead is what the agent cache needs to know of a ?cached read.
type cachedRead struct {
	key     string
	refresh bool
	opts    *structs.QueryOptions
	// fetch returns a copy of the args for the servers: UseCache off,
	// stale allowed (an answer served from a cache is as stale anyway,
	// as Consul's cache types), blocking past index for wait (0: not).
	fetch    func(index uint64, wait time.Duration) any
	newReply func() any
	load     func(reply any) (any, uint64)
	// store copies a value into the caller's reply; the containers are
	// copied so the caller may filter or reorder them.
	store func(value any, reply any) *structs.QueryMeta
}

func fetchOpts(q structs.QueryOptions, index uint64, wait time.Duration) structs.QueryOptions {
	q.UseCache, q.AllowStale, q.MaxAge, q.StaleIfError, q.MustRevalidate = false, true, 0, 0, false
	q.MinQueryIndex, q.MaxQueryTime = index, wait
	return q
}

// readOf builds the cachedRead of a request A answered by a reply R:
// fetch copies the args with fetchOpts (setOpts puts them in), load and
// store move R values, clone copies R's containers for the caller, meta
// finds R's QueryMeta.
func readOf[A, R any](key string, refresh bool, a *A, opts *structs.QueryOptions, setOpts func(*A, structs.QueryOptions),
	meta func(*R) *structs.QueryMeta, clone func(*R)) *cachedRead {
	return &cachedRead{key: key, refresh: refresh, opts: opts,
		fetch: func(idx uint64, wait time.Duration) any {
			c := *a
			setOpts(&c, fetchOpts(*opts, idx, wait))
			return &c
		},
		newReply: func() any { return new(R) },
		load: func(r any) (any, uint64) {
			v := *r.(*R)
			return v, meta(&v).Index
		},
		store: func(v, r any) *structs.QueryMeta {
			out := r.(*R)
			*out = v.(R)
			clone(out)
			return meta(out)
		},
	}
}

func describeCached(method structs.Method, args any) (*cachedRead, bool) {
	switch a := args.(type) {
	case *structs.ServiceSpecificRequest:
		key := fmt.Sprintf("%s|%s|%s|%v|%q|%v|%s|%v|%q|%s", method, a.Datacenter, strings.ToLower(a.ServiceName),
			a.TagFilter, a.ServiceTags, a.NodeMetaFilters, a.ServiceAddress, a.Source, a.Filter, a.Token)
		set := func(c *structs.ServiceSpecificRequest, q structs.QueryOptions) { c.QueryOptions = q }
		switch method {
		case structs.MethodHealthServiceNodes:
			return readOf(key, true, a, &a.QueryOptions, set,
				func(r *structs.IndexedCheckServiceNodes) *structs.QueryMeta { return &r.QueryMeta },
				func(r *structs.IndexedCheckServiceNodes) { r.Nodes = slices.Clone(r.Nodes) }), true
		case structs.MethodCatalogServiceNodes:
			return readOf(key, true, a, &a.QueryOptions, set,
				func(r *structs.IndexedServiceNodes) *structs.QueryMeta { return &r.QueryMeta },
				func(r *structs.IndexedServiceNodes) { r.ServiceNodes = slices.Clone(r.ServiceNodes) }), true
		}
	case *structs.DCSpecificRequest:
		if method != structs.MethodCatalogListServices {
			return nil, false
		}
		return readOf(fmt.Sprintf("%s|%s|%v|%q|%s", method, a.Datacenter, a.NodeMetaFilters, a.Filter, a.Token), true,
			a, &a.QueryOptions, func(c *structs.DCSpecificRequest, q structs.QueryOptions) { c.QueryOptions = q },
			func(r *structs.IndexedServices) *structs.QueryMeta { return &r.QueryMeta },
			func(r *structs.IndexedServices) { r.Services = maps.Clone(r.Services) }), true
	case *structs.PreparedQueryExecuteRequest:
		if method != structs.MethodPreparedQueryExecute {
			return nil, false
		}
		return readOf(fmt.Sprintf("%s|%s|%s|%d|%v|%v|%s", method, a.Datacenter, a.QueryIDOrName, a.Limit,
			a.Source, a.Agent, a.Token), false,
			a, &a.QueryOptions, func(c *structs.PreparedQueryExecuteRequest, q structs.QueryOptions) { c.QueryOptions = q },
			func(r *structs.PreparedQueryExecuteResponse) *structs.QueryMeta { return &r.QueryMeta },
			func(r *structs.PreparedQueryExecuteResponse) { r.Nodes = slices.Clone(r.Nodes) }), true
	}
	return nil, false
}

// age is how old an entry's answer counts as: a background refresh entry
// is current (0) while its refresh succeeds, else as old as the failure;
// a simple entry as old as its fetch. a.mu is held.
func (e *agentEntry) age(now time.Time) time.Duration {
	if e.refresh {
		if e.lostContact.IsZero() {
			return 0
		}
		return now.Sub(e.lostContact)
	}
	return now.Sub(e.fetchedAt)
}

// RPC answers a ?cached read (QueryOptions.UseCache) of a method the cache
// knows; handled is false for anything else (and for ?consistent), which
// the caller then sends on. The reply's QueryMeta says whether it was a
// hit and how old. A hit is served only when no older than MaxAge (unless
// MustRevalidate); otherwise the servers are asked, and when they fail an
// answer younger than StaleIfError is served instead of the error.
func (c *Agent) RPC(ctx context.Context, method structs.Method, args, reply any) (handled bool, err error) {
	q, ok := args.(structs.QueryOptionsGetter)
	if !ok || !q.GetQueryOptions().UseCache || q.GetQueryOptions().RequireConsistent {
		return false, nil
	}
	d, ok := describeCached(method, args)
	if !ok {
		return false, nil
	}
	opts := d.opts
	now := time.Now()
	c.mu.Lock()
	e := c.entries[d.key]
	if e != nil && !e.refresh && now.Sub(e.lastUse) > c.cfg.TTL {
		delete(c.entries, d.key)
		e = nil
	}
	if e != nil && e.valid && (opts.MinQueryIndex == 0 || opts.MinQueryIndex < e.index) {
		age := e.age(now)
		if !opts.MustRevalidate && (opts.MaxAge == 0 || age <= opts.MaxAge) {
			e.lastUse = now
			v := e.value
			c.mu.Unlock()
			m := d.store(v, reply)
			m.CacheHit, m.CacheAge = true, age
			return true, nil
		}
	}
	if e != nil && e.valid && e.refresh && opts.MinQueryIndex > 0 && opts.MinQueryIndex >= e.index {
		// A blocking read on a refreshed entry waits for the refresh.
		e.lastUse = now
		v, age, err := c.await(ctx, e, opts)
		if err != nil {
			return true, err
		}
		m := d.store(v, reply)
		m.CacheAge = age
		return true, nil
	}
	c.mu.Unlock()

	fresh := d.newReply()
	if err := c.rpc(ctx, method, d.fetch(opts.MinQueryIndex, opts.MaxQueryTime), fresh); err != nil {
		if opts.StaleIfError > 0 {
			c.mu.Lock()
			if e := c.entries[d.key]; e != nil && e.valid {
				if age := now.Sub(e.fetchedAt); age <= opts.StaleIfError {
					v := e.value
					c.mu.Unlock()
					m := d.store(v, reply)
					m.CacheHit, m.CacheAge = true, age
					return true, nil
				}
			}
			c.mu.Unlock()
		}
		return true, err
	}
	value, idx := d.load(fresh)
	c.mu.Lock()
	if c.ctx.Err() == nil {
		if e = c.entries[d.key]; e == nil && c.room(now) {
			e = &agentEntry{refresh: d.refresh, changed: make(chan struct{})}
			c.entries[d.key] = e
			if d.refresh {
				c.wg.Add(1)
				go c.refreshLoop(d, method, e)
			}
		}
		if e != nil {
			if !e.valid || idx >= e.index || !e.refresh {
				c.set(e, value, idx, time.Now())
			}
			e.lastUse = now
		}
	}
	c.mu.Unlock()
	d.store(value, reply)
	return true, nil
}

// await waits until e's index passes the read's, or its query time is
// up. It is called with c.mu held and returns with it released.
func (c *Agent) await(ctx context.Context, e *agentEntry, opts *structs.QueryOptions) (any, time.Duration, error) {
	wait := opts.MaxQueryTime
	if wait <= 0 {
		wait = c.cfg.DefaultQueryTime
	}
	wait = min(wait, c.cfg.MaxQueryTime)
	if j := int64(wait / 16); j > 0 {
		wait += time.Duration(rand.Int64N(j))
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for e.index <= opts.MinQueryIndex {
		ch := e.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-t.C:
			c.mu.Lock()
			v, age := e.value, e.age(time.Now())
			c.mu.Unlock()
			return v, age, nil
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-c.ctx.Done():
			return nil, 0, c.ctx.Err()
		}
		c.mu.Lock()
	}
	v, age := e.value, e.age(time.Now())
	c.mu.Unlock()
	return v, age, nil
}

// set stores a fetched value in e and wakes blocking readers when its
// index moved. c.mu is held.
func (c *Agent) set(e *agentEntry, value any, idx uint64, now time.Time) {
	moved := !e.valid || idx != e.index
	e.value, e.index, e.valid, e.fetchedAt, e.lostContact = value, idx, true, now, time.Time{}
	if moved {
		close(e.changed)
		e.changed = make(chan struct{})
	}
}

// room reports whether a new entry fits, first dropping simple entries
// past their TTL when full (background ones drop themselves). c.mu is
// held.
func (c *Agent) room(now time.Time) bool {
	if len(c.entries) < c.cfg.MaxEntries {
		return true
	}
	for k, e := range c.entries {
		if !e.refresh && now.Sub(e.lastUse) > c.cfg.TTL {
			delete(c.entries, k)
		}
	}
	return len(c.entries) < c.cfg.MaxEntries
}

// refreshLoop keeps a background refresh entry fresh with blocking
// queries until nobody read it for TTL or the cache shuts down.
func (c *Agent) refreshLoop(d *cachedRead, method structs.Method, e *agentEntry) {
	defer c.wg.Done()
	defer func() {
		c.mu.Lock()
		if c.entries[d.key] == e {
			delete(c.entries, d.key)
		}
		c.mu.Unlock()
	}()
	backoff := c.cfg.RetryMin
	for {
		c.mu.Lock()
		idle := time.Since(e.lastUse) > c.cfg.TTL
		idx := max(e.index, 1)
		c.mu.Unlock()
		if idle || c.ctx.Err() != nil {
			return
		}
		reply := d.newReply()
		start := time.Now()
		err := c.rpc(c.ctx, method, d.fetch(idx, c.cfg.RefreshWait), reply)
		if c.ctx.Err() != nil {
			return
		}
		if err != nil && (errors.Is(err, structs.ErrACLNotFound) || errors.Is(err, structs.ErrPermissionDenied)) {
			// The token lost its rights (or is gone): that is an answer,
			// not lost contact, and the entry must not go on serving the
			// value it read before. Dropped on return.
			c.logger.Debug("cache refresh refused by ACLs; dropping the entry", "key", d.key, "error", err)
			return
		}
		if err != nil {
			c.mu.Lock()
			if e.lostContact.IsZero() {
				e.lostContact = time.Now()
			}
			c.mu.Unlock()
			c.logger.Debug("cache refresh failed", "key", d.key, "error", err)
			t := time.NewTimer(backoff)
			select {
			case <-c.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, c.cfg.RetryMax)
			continue
		}
		backoff = c.cfg.RetryMin
		value, newIdx := d.load(reply)
		c.mu.Lock()
		c.set(e, value, newIdx, time.Now())
		c.mu.Unlock()
		if newIdx <= idx && time.Since(start) < c.cfg.RetryMin {
			// An answer at once without a change (a server that does
			// not block this read): do not spin.
			t := time.NewTimer(c.cfg.RetryMin)
			select {
			case <-c.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// Len is the number of entries.
func (c *Agent) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Shutdown stops every refresh and waits for them (within ctx).
func (c *Agent) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	c.cancel()
	c.mu.Unlock()
	return waitctx.Wait(ctx, &c.wg)
}
