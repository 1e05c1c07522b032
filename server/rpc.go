package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	gometrics "github.com/hashicorp/go-metrics"

	memdb "github.com/hashicorp/go-memdb"

	"consulate/catalog"
	"consulate/rpcmux"
	"consulate/structs"
)

// route says where a method must run.
type route int

const (
	// routeLocal methods answer on any server (Status.*, datacenters).
	routeLocal route = iota
	// routeDefault follows the request: writes and non-stale reads go to
	// the leader.
	routeDefault
	// routeLeader methods always run on the leader.
	routeLeader
)

// endpoint is one RPC method: constructors for its values and its handler.
type endpoint struct {
	route    route
	newArgs  func() any
	newReply func() any
	call     func(ctx context.Context, args, reply any) error
	// stream serves a streaming method (structs.IsStreamMethod) instead
	// of call; newFrame returns a fresh frame of its type (for relaying
	// another datacenter's frames). nil for a plain method.
	stream   func(ctx context.Context, args any, send func(frame any) error) error
	newFrame func() any
}

// ep builds an endpoint from a typed handler.
func ep[A, R any](rt route, fn func(ctx context.Context, args *A, reply *R) error) endpoint {
	return endpoint{
		route:    rt,
		newArgs:  func() any { return new(A) },
		newReply: func() any { return new(R) },
		call: func(ctx context.Context, args, reply any) error {
			a, ok := args.(*A)
			if !ok {
				return &structs.BadRequestError{Reason: fmt.Sprintf("rpc: args is %T, want %T", args, a)}
			}
			r, ok := reply.(*R)
			if !ok {
				return &structs.BadRequestError{Reason: fmt.Sprintf("rpc: reply is %T, want %T", reply, r)}
			}
			return fn(ctx, a, r)
		},
	}
}

// NewCall returns fresh args and reply values for method, for decoding a
// request off the wire; reply is nil for a stream method (served by
// Stream).
func (s *Server) NewCall(method structs.Method) (args, reply any, ok bool) {
	e, ok := s.endpoints[method]
	if !ok {
		return nil, nil, false
	}
	if e.stream != nil {
		return e.newArgs(), nil, true
	}
	return e.newArgs(), e.newReply(), true
}

// RPC answers one request: it forwards to another datacenter or to the
// leader when needed, else runs the handler here.
func (s *Server) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	return s.rpc(ctx, method, args, reply, nil)
}

// RPCRelay is RPC for a call that came over the wire (rpcmux.Relayer): a
// call this server only forwards, to another datacenter or to its leader,
// is answered with the remote server's reply body as it came, in raw,
// without decoding and re-encoding it here (reply is then left unset).
// Calls served here fill reply as RPC does.
func (s *Server) RPCRelay(ctx context.Context, method structs.Method, args, reply any, raw *rpcmux.RawReply) error {
	// Consul counts the requests that come over the wire.
	gometrics.IncrCounter([]string{"rpc", "request"}, 1)
	err := s.rpc(ctx, method, args, reply, raw)
	if err != nil {
		gometrics.IncrCounter([]string{"rpc", "request_error"}, 1)
	}
	return err
}

// rawReplies reports whether c fills a *rpcmux.RawReply reply.
func rawReplies(c any) bool {
	r, ok := c.(rpcmux.RawReplier)
	return ok && r.RawReplies()
}

// rpc is RPC; raw, when not nil, is the reply to forward with when the
// call is only relayed (see RPCRelay). Nothing here reads a forwarded
// reply: the remote server applied its ACLs and set its QueryMeta.
func (s *Server) rpc(ctx context.Context, method structs.Method, args, reply any, raw *rpcmux.RawReply) error {
	e, ok := s.endpoints[method]
	if !ok {
		return fmt.Errorf("%w: %q", structs.ErrUnknownMethod, method)
	}
	if e.stream != nil {
		return badRequest("rpc: %s is a stream method (see Stream)", method)
	}
	if s.raft == nil || s.shutdownCtx.Err() != nil {
		return ErrNotStarted
	}
	info, ok := args.(structs.RPCInfo)
	if !ok || args == nil {
		return &structs.BadRequestError{Reason: fmt.Sprintf("rpc: %T is not a request", args)}
	}
	if s.limiter != nil && !strings.HasPrefix(string(method), "Status.") {
		if err := s.limiter.allow(method, info.IsRead()); err != nil {
			return err
		}
	}
	if dc := info.RequestDatacenter(); dc != "" && dc != s.cfg.Datacenter {
		if s.forwarder == nil {
			return &structs.ErrUnknownDC{DC: dc, Known: []string{s.cfg.Datacenter}}
		}
		if raw != nil && s.rawForwardDC {
			return s.forwarder.ForwardDC(ctx, structs.Datacenter(dc), method, args, raw)
		}
		return s.forwarder.ForwardDC(ctx, structs.Datacenter(dc), method, args, reply)
	}
	if s.needsLeader(e.route, info) {
		if !s.IsLeader() {
			return s.forwardLeader(ctx, method, args, reply, raw)
		}
		if err := s.waitLeaderReady(ctx); err != nil {
			return err
		}
	}
	return e.call(ctx, args, reply)
}

// needsLeader decides whether a request must run on the leader.
func (s *Server) needsLeader(rt route, info structs.RPCInfo) bool {
	switch rt {
	case routeLocal:
		return false
	case routeLeader:
		return true
	}
	if !info.IsRead() {
		return true
	}
	qg, ok := info.(structs.QueryOptionsGetter)
	if !ok {
		return true
	}
	q := qg.GetQueryOptions()
	if q.RequireConsistent || !q.AllowStale {
		return true
	}
	// A stale read is fine unless this follower is too far behind.
	if q.MaxStaleDuration > 0 && s.lastContact() > q.MaxStaleDuration {
		return true
	}
	return false
}

// forwardLeader sends the request to the leader, holding it (up to
// LeaderWait) through an election: while no leader is known, and when the
// known leader cannot be reached or says it is no longer leader, it waits
// for the next leader and tries again, as Consul's rpc_hold_timeout does.
// raw, when not nil, takes the leader's reply undecoded (see RPCRelay);
// a call this server ends up running itself fills reply.
func (s *Server) forwardLeader(ctx context.Context, method structs.Method, args, reply any, raw *rpcmux.RawReply) error {
	hold, cancel := context.WithTimeout(ctx, s.cfg.LeaderWait)
	defer cancel()
	var lastErr error
	for attempt := 0; attempt < 8; attempt++ {
		changed := s.leaderChangedCh()
		if s.Leader() == "" && s.cutOff(hold) {
			// No leader, and none this server could reach will appear
			// before the partition heals: fail now so that a client
			// agent tries another server.
			return fmt.Errorf("%w: %w", structs.ErrNoLeader, ErrCutOff)
		}
		addr, err := s.WaitForLeader(hold)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if lastErr != nil {
				return lastErr
			}
			return structs.ErrNoLeader
		}
		if addr == s.trans.LocalAddr() && s.IsLeader() {
			// Elected while waiting.
			if err := s.waitLeaderReady(ctx); err != nil {
				return err
			}
			return s.endpoints[method].call(ctx, args, reply)
		}
		if s.servers == nil {
			return fmt.Errorf("%w: leader is %s but this server cannot reach other servers", structs.ErrNoLeader, addr)
		}
		s.leaderForwards.Add(1)
		out := reply
		if raw != nil && s.rawForwardLeader {
			out = raw
		}
		err = s.servers.Call(ctx, structs.Datacenter(s.cfg.Datacenter), structs.ServerAddr(addr), method, args, out)
		if !errors.Is(err, structs.ErrUnreachable) && !errors.Is(err, structs.ErrNoLeader) {
			return err
		}
		lastErr = err
		// Wait for the leader to change (or the hold to end) before the
		// next try.
		select {
		case <-changed:
		case <-hold.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return lastErr
		}
	}
	return lastErr
}

// waitLeaderReady waits (up to LeaderWait) for a new leader to apply the
// entries of earlier terms, so its reads are not behind its followers'.
func (s *Server) waitLeaderReady(ctx context.Context) error {
	ready := s.leaderReadyCh()
	select {
	case <-ready:
		return nil
	default:
	}
	t := time.NewTimer(s.cfg.LeaderWait)
	defer t.Stop()
	select {
	case <-ready:
		return nil
	case <-t.C:
		return fmt.Errorf("%w: leader is not ready yet", structs.ErrNoLeader)
	case <-ctx.Done():
		return ctx.Err()
	case <-s.shutdownCtx.Done():
		return ErrNotStarted
	}
}

func (s *Server) lastContact() time.Duration {
	if s.IsLeader() {
		return 0
	}
	lc := s.raft.LastContact()
	if lc.IsZero() {
		return 0
	}
	return time.Since(lc)
}

// raftApply replicates one message and returns the FSM's result; an error
// result becomes the returned error.
func (s *Server) raftApply(t catalog.MessageType, msg any) (any, error) {
	buf, err := catalog.Encode(t, msg)
	if err != nil {
		return nil, err
	}
	f := s.raft.Apply(buf, s.cfg.ApplyTimeout)
	if err := s.await(f); err != nil {
		return nil, mapApplyErr(err)
	}
	resp := f.Response()
	if err, ok := resp.(error); ok {
		return nil, storeErr(err)
	}
	return resp, nil
}

// requestError is a store rejection: a BadRequestError for the HTTP layer
// that still matches the catalog sentinel with errors.Is.
type requestError struct {
	bad   *structs.BadRequestError
	cause error
}

func (e *requestError) Error() string   { return e.cause.Error() }
func (e *requestError) Unwrap() []error { return []error{e.bad, e.cause} }

// storeErr marks the store's input errors as bad requests.
func storeErr(err error) error {
	for _, s := range []error{catalog.ErrInvalidRequest, catalog.ErrMissingNode, catalog.ErrMissingService,
		catalog.ErrMissingCheck, catalog.ErrCriticalCheck, catalog.ErrMissingSession} {
		if errors.Is(err, s) {
			return &requestError{bad: &structs.BadRequestError{Reason: err.Error()}, cause: err}
		}
	}
	return err
}

func badRequest(format string, a ...any) error {
	return &structs.BadRequestError{Reason: fmt.Sprintf(format, a...)}
}

// blockingQuery runs fn, and when opts asks to block and the result's index
// has not passed MinQueryIndex, waits for its watches (or the store being
// replaced, ctx, shutdown, or the query time) and runs it again.
func (s *Server) blockingQuery(ctx context.Context, opts *structs.QueryOptions, meta *structs.QueryMeta,
	fn func(ws memdb.WatchSet, st *catalog.Store) error) error {
	gometrics.IncrCounter([]string{"rpc", "query"}, 1)
	if opts.RequireConsistent {
		if err := s.await(s.raft.VerifyLeader()); err != nil {
			return mapRaftErr(err)
		}
	}
	var qctx context.Context = ctx
	if opts.MinQueryIndex > 0 {
		wait := opts.MaxQueryTime
		if wait <= 0 {
			wait = s.cfg.DefaultQueryTime
		}
		if wait > s.cfg.MaxQueryTime {
			wait = s.cfg.MaxQueryTime
		}
		if j := int64(wait / 16); j > 0 {
			wait += time.Duration(rand.Int64N(j))
		}
		c, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		stop := context.AfterFunc(s.shutdownCtx, cancel)
		defer stop()
		qctx = c
		gometrics.SetGauge([]string{"rpc", "queries_blocking"}, float32(s.blockingQueries.Add(1)))
		defer s.blockingQueries.Add(-1)
	}
	for {
		st := s.fsm.State()
		ws := memdb.NewWatchSet()
		ws.Add(st.AbandonCh())
		s.setQueryMeta(opts, meta)
		if err := fn(ws, st); err != nil {
			return err
		}
		if meta.Index < 1 {
			meta.Index = 1
		}
		if opts.MinQueryIndex == 0 || meta.Index > opts.MinQueryIndex {
			return nil
		}
		if err := ws.WatchCtx(qctx); err != nil {
			// Query time is up (or the caller left): answer with what we have.
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return nil
		}
	}
}

// setQueryMeta fills the consistency fields of a read's reply.
func (s *Server) setQueryMeta(opts *structs.QueryOptions, meta *structs.QueryMeta) {
	meta.KnownLeader = s.Leader() != ""
	meta.LastContact = s.lastContact()
	meta.ResultsFilteredByACLs = false
	switch {
	case opts.RequireConsistent:
		meta.ConsistencyLevel = "consistent"
	case opts.AllowStale:
		meta.ConsistencyLevel = "stale"
	default:
		meta.ConsistencyLevel = "leader"
	}
}

// knownDatacenters is the local DC followed by the forwarder's, deduped.
func (s *Server) knownDatacenters() []string {
	out := []string{s.cfg.Datacenter}
	if s.forwarder == nil {
		return out
	}
	seen := map[string]bool{s.cfg.Datacenter: true}
	for _, dc := range s.forwarder.KnownDatacenters() {
		if !seen[dc] {
			seen[dc] = true
			out = append(out, dc)
		}
	}
	return out
}
