package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	gometrics "github.com/hashicorp/go-metrics"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/go-uuid"

	"consulate/acl"
	"consulate/catalog"
	"consulate/structs"
)

// parseTTL validates a session TTL against the configured bounds; "" means
// no TTL.
func (s *Server) parseTTL(ttl string) (time.Duration, error) {
	if ttl == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(ttl)
	if err != nil {
		return 0, badRequest("Session TTL %q is not a valid duration", ttl)
	}
	if d == 0 {
		return 0, nil
	}
	if d < s.cfg.SessionTTLMin || d > s.cfg.SessionTTLMax {
		return 0, badRequest("Invalid Session TTL '%s', must be between [%v=%v]", ttl, s.cfg.SessionTTLMin, s.cfg.SessionTTLMax)
	}
	return d, nil
}

func (s *Server) sessionApply(_ context.Context, args *structs.SessionRequest, reply *string) error {
	defer gometrics.MeasureSince([]string{"session", "apply"}, time.Now())
	z, err := s.authorizer(args.Token)
	if err != nil {
		return err
	}
	switch args.Op {
	case structs.SessionCreate:
		sess := &args.Session
		if sess.Node == "" {
			return badRequest("Must provide node")
		}
		if err := z.check(acl.ResourceSession, sess.Node, acl.AccessWrite); err != nil {
			return err
		}
		switch sess.Behavior {
		case "":
			sess.Behavior = structs.SessionKeysRelease
		case structs.SessionKeysRelease, structs.SessionKeysDelete:
		default:
			return badRequest("Invalid Behavior setting '%s'", sess.Behavior)
		}
		if _, err := s.parseTTL(sess.TTL); err != nil {
			return err
		}
		if sess.NodeChecks == nil && sess.ServiceChecks == nil {
			sess.NodeChecks = []string{structs.SerfCheckID}
		}
		// The ID is chosen here, before Raft, so every replica agrees.
		st := s.fsm.State()
		for i := 0; ; i++ {
			id, err := uuid.GenerateUUID()
			if err != nil {
				return err
			}
			if _, existing, err := st.SessionGet(nil, id); err != nil {
				return err
			} else if existing == nil {
				sess.ID = id
				break
			}
			if i >= 4 {
				return fmt.Errorf("server: could not pick a free session ID")
			}
		}
		if _, err := s.raftApply(catalog.SessionRequestType, args); err != nil {
			return err
		}
		if sess.TTL != "" {
			s.sessions.reset(sess.ID, sess.TTL)
		}
		*reply = sess.ID
		return nil
	case structs.SessionDestroy:
		if args.Session.ID == "" {
			return badRequest("Must provide session ID")
		}
		if z != nil {
			_, old, err := s.fsm.State().SessionGet(nil, args.Session.ID)
			if err != nil {
				return err
			}
			if old != nil {
				if err := z.check(acl.ResourceSession, old.Node, acl.AccessWrite); err != nil {
					return err
				}
			}
		}
		if _, err := s.raftApply(catalog.SessionRequestType, args); err != nil {
			return err
		}
		s.sessions.clear(args.Session.ID)
		*reply = args.Session.ID
		return nil
	}
	return badRequest("Invalid session operation %q", args.Op)
}

func (s *Server) sessionGet(ctx context.Context, args *structs.SessionSpecificRequest, reply *structs.IndexedSessions) error {
	if args.SessionID == "" {
		return badRequest("Must provide session ID")
	}
	if _, err := s.authorizer(args.Token); err != nil {
		return err
	}
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		// Resolved on every wake: a token deleted or narrowed while the
		// query waits counts at once.
		z, err := s.authorizer(args.Token)
		if err != nil {
			return err
		}
		idx, sess, err := st.SessionGet(ws, args.SessionID)
		reply.Index, reply.Sessions = idx, structs.Sessions{}
		if sess != nil {
			reply.Sessions, reply.ResultsFilteredByACLs = z.filterSessions(structs.Sessions{sess})
		}
		return err
	})
}

func (s *Server) sessionList(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.IndexedSessions) error {
	if _, err := s.authorizer(args.Token); err != nil {
		return err
	}
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		// Resolved on every wake: a token deleted or narrowed while the
		// query waits counts at once.
		z, err := s.authorizer(args.Token)
		if err != nil {
			return err
		}
		idx, list, err := st.SessionList(ws)
		reply.Index = idx
		reply.Sessions, reply.ResultsFilteredByACLs = z.filterSessions(list)
		return err
	})
}

func (s *Server) sessionNodeSessions(ctx context.Context, args *structs.NodeSpecificRequest, reply *structs.IndexedSessions) error {
	if args.Node == "" {
		return badRequest("Must provide node")
	}
	if _, err := s.authorizer(args.Token); err != nil {
		return err
	}
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		// Resolved on every wake: a token deleted or narrowed while the
		// query waits counts at once.
		z, err := s.authorizer(args.Token)
		if err != nil {
			return err
		}
		idx, list, err := st.NodeSessions(ws, args.Node)
		reply.Index = idx
		reply.Sessions, reply.ResultsFilteredByACLs = z.filterSessions(list)
		return err
	})
}

// sessionRenew resets a session's TTL timer on the leader. An unknown
// session returns an empty list (the HTTP layer answers 404).
func (s *Server) sessionRenew(_ context.Context, args *structs.SessionSpecificRequest, reply *structs.IndexedSessions) error {
	if args.SessionID == "" {
		return badRequest("Must provide session ID")
	}
	z, err := s.authorizer(args.Token)
	if err != nil {
		return err
	}
	st := s.fsm.State()
	idx, sess, err := st.SessionGet(nil, args.SessionID)
	if err != nil {
		return err
	}
	if sess != nil {
		if err := z.check(acl.ResourceSession, sess.Node, acl.AccessWrite); err != nil {
			return err
		}
	}
	s.setQueryMeta(&args.QueryOptions, &reply.QueryMeta)
	reply.Index = max(idx, 1)
	reply.Sessions = structs.Sessions{}
	if sess == nil {
		return nil
	}
	if sess.TTL != "" {
		s.sessions.reset(sess.ID, sess.TTL)
	}
	reply.Sessions = structs.Sessions{sess}
	return nil
}

// sessionTimers are the leader's TTL timers, one per session with a TTL.
// A session expires after twice its TTL without a renewal, as in Consul.
type sessionTimers struct {
	srv *Server

	// mu guards timers, gens, seq and the Add side of running.
	mu     sync.Mutex
	timers map[string]*time.Timer
	// gens holds the generation of each session's current timer, so a
	// timer replaced by a renewal cannot expire the session.
	gens map[string]uint64
	seq  uint64
	// running counts expiry callbacks in flight, so Shutdown can wait.
	running sync.WaitGroup
}

func newSessionTimers(s *Server) *sessionTimers {
	return &sessionTimers{srv: s, timers: map[string]*time.Timer{}, gens: map[string]uint64{}}
}

// reset (re)arms the timer of one session.
func (t *sessionTimers) reset(id, ttl string) {
	d, err := time.ParseDuration(ttl)
	if err != nil || d <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.srv.shutdownCtx.Err() != nil {
		return
	}
	if old, ok := t.timers[id]; ok {
		old.Stop()
	}
	t.seq++
	gen := t.seq
	t.gens[id] = gen
	t.timers[id] = time.AfterFunc(2*d, func() { t.expire(id, gen) })
}

// clear drops the timer of a destroyed session.
func (t *sessionTimers) clear(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.timers[id]; ok {
		old.Stop()
		delete(t.timers, id)
	}
	delete(t.gens, id)
}

// prune drops the timers of sessions no longer in the state store: those
// a catalog write destroyed with their node or check (a node deleted by
// a transaction or a deregistration).
func (t *sessionTimers) prune() {
	t.mu.Lock()
	ids := make([]string, 0, len(t.timers))
	for id := range t.timers {
		ids = append(ids, id)
	}
	t.mu.Unlock()
	st := t.srv.fsm.State()
	for _, id := range ids {
		if _, sess, err := st.SessionGet(nil, id); err == nil && sess == nil {
			t.clear(id)
		}
	}
}

// wait blocks until expiry callbacks in flight are done; call it after
// the shutdown context is cancelled.
func (t *sessionTimers) wait() {
	t.stopAll()
	t.running.Wait()
}

// stopAll drops every timer, on leadership loss or shutdown.
func (t *sessionTimers) stopAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, tm := range t.timers {
		tm.Stop()
		delete(t.timers, id)
	}
	clear(t.gens)
}

// restore arms a timer for every session with a TTL, on leadership gain.
func (t *sessionTimers) restore() {
	_, list, err := t.srv.fsm.State().SessionList(nil)
	if err != nil {
		t.srv.logger.Error("listing sessions for TTL timers", "error", err)
		return
	}
	for _, sess := range list {
		if sess.TTL != "" {
			t.reset(sess.ID, sess.TTL)
		}
	}
}

// expire destroys a session whose TTL ran out, through Raft. gen is the
// generation of the timer that fired: a renewal that replaced it in the
// meantime wins.
func (t *sessionTimers) expire(id string, gen uint64) {
	t.mu.Lock()
	if t.srv.shutdownCtx.Err() != nil || t.gens[id] != gen {
		t.mu.Unlock()
		return
	}
	delete(t.gens, id)
	t.running.Add(1)
	delete(t.timers, id)
	t.mu.Unlock()
	defer t.running.Done()
	if !t.srv.IsLeader() {
		return
	}
	defer gometrics.MeasureSince([]string{"session_ttl", "invalidate"}, time.Now())
	req := &structs.SessionRequest{Op: structs.SessionDestroy, Session: structs.Session{ID: id}}
	if _, err := t.srv.raftApply(catalog.SessionRequestType, req); err != nil {
		t.srv.logger.Error("destroying expired session", "session", id, "error", err)
		return
	}
	t.srv.logger.Debug("session expired", "session", id)
}
