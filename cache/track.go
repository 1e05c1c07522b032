package cache

import (
	"time"

	"consulate/structs"
)

// Track returns a function that reports, without allocating, the index of
// the value RPC would answer method/args with from memory right now, and
// false when RPC would not answer it from memory (not cached yet, dropped,
// refresh failing, or a remote entry it no longer trusts). Each call that
// reports true counts as a read of the entry, as a cache hit does, so the
// entry is kept fresh while the caller serves answers derived from it.
//
// It returns nil for reads RPC never answers from memory. Call it with
// the args as they are passed to RPC (before RPC, which may fill in a
// token, sees them): the entry is found by the same key.
func (c *Cache) Track(method structs.Method, args any) func() (index uint64, ok bool) {
	req, ok := describe(method, args)
	if !ok || !req.opts.AllowStale || req.opts.MinQueryIndex > 0 || req.opts.RequireConsistent {
		return nil
	}
	remote := req.dc != "" && req.dc != c.cfg.LocalDC
	if remote && c.cfg.Reachable == nil {
		return nil
	}
	key := req.key
	var e *entry // the entry last found under key; guarded by c.mu
	return func() (uint64, bool) {
		if remote && (c.cfg.Reachable == nil || !c.cfg.Reachable(req.dc)) {
			return 0, false
		}
		now := time.Now()
		c.mu.Lock()
		defer c.mu.Unlock()
		if e == nil || c.entries[key] != e {
			if e = c.entries[key]; e == nil {
				return 0, false
			}
		}
		if !e.valid || (remote && now.Sub(e.lastOK) >= 2*c.cfg.RefreshWait+c.cfg.RetryMax) {
			return 0, false
		}
		e.lastUse = now
		return e.index, true
	}
}
