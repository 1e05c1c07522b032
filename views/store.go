package views

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"consulate/internal/waitctx"
	"consulate/structs"
)

// viewKey names a view: what one subscription can serve. dc is "" for the
// local datacenter, service lower-cased (the catalog matches names without
// case).
type viewKey struct {
	dc, service, token string
}

// Store holds the views and answers reads from them.
type Store struct {
	cfg    Config
	deps   Deps
	logger *slog.Logger

	// epoch counts the catalog writes this agent made (NoteWrite); a view
	// serves only once confirmed by a read through made after the latest.
	epoch atomic.Uint64
	// staleCount counts the streams ended for silence (Config.StaleAfter).
	staleCount atomic.Uint64

	// mu guards views and closed.
	mu     sync.RWMutex
	views  map[viewKey]*view
	closed bool

	// coordMu guards coords: per datacenter, the coordinates last read
	// and when.
	coordMu sync.Mutex
	coords  map[string]coordEntry

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New validates cfg and deps and builds a store. Views start on demand,
// from Store.RPC; Shutdown ends them.
func New(cfg Config, deps Deps) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Subscribe == nil {
		return nil, fmt.Errorf("%w: Deps.Subscribe is required", ErrInvalidConfig)
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Store{cfg: cfg, deps: deps, logger: logger.With("component", "views"),
		views: make(map[viewKey]*view), coords: make(map[string]coordEntry), ctx: ctx, cancel: cancel}, nil
}

type coordEntry struct {
	coords structs.Coordinates
	at     time.Time
}

// coordinates returns dc's coordinates, read again once CoordinateTTL old.
// Concurrent misses may read twice; the bound is one entry per datacenter.
func (s *Store) coordinates(ctx context.Context, dc string) (structs.Coordinates, error) {
	s.coordMu.Lock()
	e, ok := s.coords[dc]
	s.coordMu.Unlock()
	if ok && time.Since(e.at) < s.cfg.CoordinateTTL {
		return e.coords, nil
	}
	c, err := s.deps.Coordinates(ctx, dc)
	if err != nil {
		return nil, err
	}
	s.coordMu.Lock()
	s.coords[dc] = coordEntry{coords: c, at: time.Now()}
	s.coordMu.Unlock()
	return c, nil
}

// RPC answers a read from a view when it can: Health.ServiceNodes that is
// not ?consistent, for a view that holds a snapshot it may serve. handled
// is false for everything else, and then the caller must make the call
// itself and report a successful answer with Observe: the first read of a
// (datacenter, service, token) is such a read through, and its Observe
// starts the view (so reads that fail, e.g. with an unknown token, start
// nothing). When handled, err is the read's error (ctx ending during a
// blocking read).
//
// The reply's slice is the caller's to reorder or filter; the instances'
// Node, Service and Checks are shared and must not be modified. A Probe
// in ctx (WithProbe) for args learns the answering state and may spare
// the reply's instances.
func (s *Store) RPC(ctx context.Context, method structs.Method, args, reply any) (handled bool, err error) {
	if method != structs.MethodHealthServiceNodes {
		return false, nil
	}
	a, ok := args.(*structs.ServiceSpecificRequest)
	out, ok2 := reply.(*structs.IndexedCheckServiceNodes)
	if !ok || !ok2 {
		return false, nil
	}
	key, ok := s.keyFor(a)
	if !ok {
		return false, nil
	}
	dc := key.dc
	near := a.Source.Node
	if near == "_agent" {
		near = s.deps.NodeName
	}
	// As the servers: only the answering datacenter's coordinates are
	// known, so a source elsewhere does not sort.
	answering := a.Datacenter
	if answering == "" {
		answering = s.cfg.LocalDC
	}
	if srcDC := a.Source.Datacenter; srcDC != "" && srcDC != answering {
		near = ""
	}
	if near != "" && s.deps.Coordinates == nil {
		return false, nil
	}
	s.mu.RLock()
	v := s.views[key]
	s.mu.RUnlock()
	if v == nil {
		return false, nil
	}
	v.touch()
	if v.confirmed.Load() < s.epoch.Load() {
		// This agent wrote to the catalog since the view was last
		// confirmed: read through once, so the caller reads its write.
		return false, nil
	}
	start, wait := time.Now(), s.queryWait(a.MaxQueryTime)
	st, ok, err := v.await(ctx, a.MinQueryIndex, wait)
	if !ok && err == nil && a.MinQueryIndex > 0 {
		// The view stopped serving while this read waited on it: the
		// caller reads through next, for what is left of its wait only
		// (at least a moment, so the server answers as a timed-out
		// blocking query does).
		a.MaxQueryTime = max(wait-time.Since(start), time.Millisecond)
	}
	if !ok || err != nil {
		return ok, err
	}
	level := "leader"
	if a.AllowStale {
		level = "stale"
	}
	meta := structs.QueryMeta{Index: max(st.index, 1), KnownLeader: true, ConsistencyLevel: level,
		ResultsFilteredByACLs: st.filtered}
	if p := probeFor(ctx, args); p != nil {
		p.Gen = st.gen
		if p.Known != nil && p.Known(st.gen) {
			*out = structs.IndexedCheckServiceNodes{QueryMeta: meta}
			return true, nil
		}
	}
	nodes := st.filter(a)
	if near != "" {
		// The servers ignore a failed coordinate read too: the order is
		// then the catalog's.
		if coords, err := s.coordinates(ctx, dc); err == nil {
			structs.SortByDistance(coords, near, nodes, func(n structs.CheckServiceNode) string { return n.Node.Node })
		}
	}
	*out = structs.IndexedCheckServiceNodes{Nodes: nodes, QueryMeta: meta}
	return true, nil
}

// keyFor names the view that can serve a, or says none can.
func (s *Store) keyFor(a *structs.ServiceSpecificRequest) (viewKey, bool) {
	if a.RequireConsistent || a.ServiceName == "" {
		return viewKey{}, false
	}
	dc := a.Datacenter
	if dc == s.cfg.LocalDC {
		dc = ""
	}
	if dc != "" && !s.cfg.RemoteDatacenters && (!s.cfg.RemoteBlocking || a.MinQueryIndex == 0) {
		return viewKey{}, false
	}
	return viewKey{dc: dc, service: strings.ToLower(a.ServiceName), token: a.Token}, true
}

// NoteWrite tells the store that this agent changed the catalog with
// method (register, deregister, a transaction; other writes are ignored).
// Until confirmed by a read through started after it, no view serves: a
// read right after a write (the agent's anti-entropy sync of a check that
// just failed, say) must see it, and a view's stream may not have
// delivered it yet. Call it after the write returns, whatever its error.
func (s *Store) NoteWrite(method structs.Method) {
	switch method {
	case structs.MethodCatalogRegister, structs.MethodCatalogDeregister, structs.MethodTxnApply:
		s.epoch.Add(1)
	}
}

// Epoch is what a read through must pass to Observe: take it before the
// read is sent.
func (s *Store) Epoch() uint64 { return s.epoch.Load() }

// Observe reports a successful answer to a read the store did not handle
// and the caller made itself, sent after Epoch returned epoch. The first
// for a (datacenter, service, token) starts its view, while there is
// room; each confirms the view as of epoch. And the view's next snapshot
// is served only once it reaches that answer's index, so a caller never
// sees the index go back when its reads move from the servers to the
// view (nor miss a write the answer showed).
func (s *Store) Observe(epoch uint64, method structs.Method, args, reply any) {
	if method != structs.MethodHealthServiceNodes {
		return
	}
	a, ok := args.(*structs.ServiceSpecificRequest)
	out, ok2 := reply.(*structs.IndexedCheckServiceNodes)
	if !ok || !ok2 {
		return
	}
	key, ok := s.keyFor(a)
	if !ok {
		return
	}
	v := s.view(key, a)
	if v == nil {
		return
	}
	for cur := v.served.Load(); cur < out.Index && !v.served.CompareAndSwap(cur, out.Index); cur = v.served.Load() {
	}
	for cur := v.confirmed.Load(); cur < epoch && !v.confirmed.CompareAndSwap(cur, epoch); cur = v.confirmed.Load() {
	}
}

// queryWait is how long a blocking read may wait, as the servers compute
// it: the asked time or the default, capped, plus up to 1/16 jitter.
func (s *Store) queryWait(asked time.Duration) time.Duration {
	wait := asked
	if wait <= 0 {
		wait = s.cfg.DefaultQueryTime
	}
	wait = min(wait, s.cfg.MaxQueryTime)
	if j := int64(wait / 16); j > 0 {
		wait += time.Duration(rand.Int64N(j))
	}
	return wait
}

// view returns the view for key, marking it used, or starts one while
// there is room (nil when there is none).
func (s *Store) view(key viewKey, a *structs.ServiceSpecificRequest) *view {
	s.mu.RLock()
	v := s.views[key]
	s.mu.RUnlock()
	if v != nil {
		v.touch()
		return v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.views[key]; v != nil {
		return v
	}
	if s.closed || len(s.views) >= s.cfg.MaxViews {
		return nil
	}
	v = newView(key, &structs.SubscribeRequest{Datacenter: key.dc, ServiceName: a.ServiceName,
		// Any server may stream: it ends the stream when it loses its
		// leader, so a view never outlives contact with the leader.
		QueryOptions: structs.QueryOptions{Token: a.Token, AllowStale: true}})
	ctx, cancel := context.WithCancel(s.ctx)
	v.cancel = cancel
	s.views[key] = v
	s.wg.Add(1)
	go s.run(ctx, v)
	return v
}

// Len is the number of views held.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.views)
}

// Shutdown ends every subscription and waits for the views' goroutines
// (within ctx). Reads after it are not handled. Idempotent.
func (s *Store) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.cancel()
	s.mu.Unlock()
	return waitctx.Wait(ctx, &s.wg)
}

// run keeps v fed until it goes idle or the store shuts down: subscribe,
// and after the stream ends (the view not served meanwhile) subscribe
// again after a backoff.
func (s *Store) run(ctx context.Context, v *view) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		if s.views[v.key] == v {
			delete(s.views, v.key)
		}
		s.mu.Unlock()
		v.publish(&viewState{})
		v.cancel()
	}()
	// Idle check: rearmed until nobody read for IdleTTL.
	var idle *time.Timer
	idle = time.AfterFunc(s.cfg.IdleTTL, func() {
		if since := time.Since(v.lastUsed()); since >= s.cfg.IdleTTL {
			v.cancel()
		} else {
			idle.Reset(s.cfg.IdleTTL - since)
		}
	})
	defer idle.Stop()

	backoff := s.cfg.RetryMin
	for ctx.Err() == nil {
		v.streamSnapshot = false
		err := s.subscribe(ctx, v)
		v.publish(&viewState{}) // not served until a fresh snapshot
		if ctx.Err() != nil {
			return
		}
		if v.streamSnapshot {
			backoff = s.cfg.RetryMin
		}
		s.logger.Debug("subscription ended, resubscribing", "service", v.req.ServiceName,
			"datacenter", v.req.Datacenter, "error", err, "backoff", backoff)
		t := time.NewTimer(backoff + time.Duration(rand.Int64N(int64(backoff/4)+1)))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, s.cfg.RetryMax)
	}
}

// subscribe runs one subscription of v until its stream ends, or until it
// delivers no frame (a change or a heartbeat) for Config.StaleAfter: a cut
// network may end no connection for a long while, and a view must not
// answer from a dead stream. Then the view stops serving at once, which
// wakes its blocked readers (they go to the servers), and the
// subscription is cancelled; the error is then errStale.
func (s *Store) subscribe(ctx context.Context, v *view) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// mu orders the frames and the watchdog: once it has stopped the
	// view, no frame that was on its way can make it serve again.
	var (
		mu       sync.Mutex
		last     = time.Now()
		stale    bool
		ended    bool
		watchdog *time.Timer
	)
	mu.Lock()
	watchdog = time.AfterFunc(s.cfg.StaleAfter, func() {
		mu.Lock()
		defer mu.Unlock()
		if ended {
			// This subscription is over; Stop lost the race with this
			// call, which must neither re-arm nor stop the next one's view.
			return
		}
		if since := time.Since(last); since < s.cfg.StaleAfter {
			watchdog.Reset(s.cfg.StaleAfter - since)
			return
		}
		stale = true
		v.publish(&viewState{})
		cancel()
	})
	mu.Unlock()
	defer func() {
		mu.Lock()
		ended = true
		mu.Unlock()
		watchdog.Stop()
	}()
	err := s.deps.Subscribe(sctx, v.req, func(ev *structs.ServiceHealthEvent) error {
		mu.Lock()
		defer mu.Unlock()
		if stale {
			return errStale
		}
		last = time.Now()
		return v.apply(ev)
	})
	mu.Lock()
	defer mu.Unlock()
	if stale {
		s.staleCount.Add(1)
		return fmt.Errorf("%w (nothing for %v): %w", errStale, s.cfg.StaleAfter, err)
	}
	return err
}
