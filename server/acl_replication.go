package server

// ACL replication. While ACLs are on and this server leads a secondary
// datacenter (Config.PrimaryDatacenter is another one), it mirrors the
// primary's policies and roles, and with Config.ACLTokenReplication its
// global tokens, into its own Raft state. One loop per kind: a blocking
// query to the primary (ACL.PolicyList, ACL.RoleList,
// ACL.TokenListReplication) that returns as soon as the primary's list
// changes past the last index seen, a diff against the replica by ID and
// Hash, and the differences applied through Raft in ACLReplicateType
// batches (catalog.ACLReplicateRequest), which keep the primary's IDs and
// hashes. Local tokens are never deleted or replaced. A failed round is
// recorded in the status and retried after a backoff (ACLReplication-
// BackoffMin doubling to ACLReplicationBackoffMax); every round compares
// the whole lists, so after a partition heals the replica catches up by
// itself. The loops stop when leadership is lost and at shutdown.

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"consulate/catalog"
	"consulate/structs"
)

// aclReplicationBatch is the most objects (upserts or deletes) one Raft
// entry of replication carries.
const aclReplicationBatch = 128

// aclReplication is the leader's replication state.
type aclReplication struct {
	mu sync.Mutex
	// cancel stops the running loops (nil while none run).
	cancel context.CancelFunc
	status structs.ACLReplicationStatus
}

// startACLReplication starts the replication loops when this server is
// the leader of a secondary datacenter with ACLs on; it is a no-op when
// they run already.
func (s *Server) startACLReplication() {
	if !s.cfg.ACLsEnabled || s.inPrimaryDC() {
		return
	}
	r := &s.aclRepl
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel != nil || s.shutdownCtx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(s.shutdownCtx)
	r.cancel = cancel
	r.status.Running = true
	s.logger.Info("starting ACL replication", "primary", s.primaryDC(), "tokens", s.cfg.ACLTokenReplication)
	s.wg.Go(func() { runACLReplication(ctx, s, s.policyReplication()) })
	s.wg.Go(func() { runACLReplication(ctx, s, s.roleReplication()) })
	if s.cfg.ACLTokenReplication {
		s.wg.Go(func() { runACLReplication(ctx, s, s.tokenReplication()) })
	}
}

// stopACLReplication stops the loops (they finish in the background,
// tracked by the server's WaitGroup).
func (s *Server) stopACLReplication() {
	r := &s.aclRepl
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	r.status.Running = false
	s.logger.Info("stopped ACL replication")
}

func (r *aclReplication) succeeded(set func(*structs.ACLReplicationStatus, uint64), idx uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	set(&r.status, idx)
	r.status.LastSuccess = time.Now().UTC()
}

func (r *aclReplication) failed(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status.LastError = time.Now().UTC()
	r.status.LastErrorMessage = err.Error()
}

// aclReplicationStatus answers ACL.ReplicationStatus on the leader (the
// endpoint routes there): Enabled in a secondary with ACLs on, Running
// while the loops run, the replicated indexes of the primary and the last
// success and error.
func (s *Server) aclReplicationStatus(_ context.Context, _ *structs.DCSpecificRequest, reply *structs.ACLReplicationStatus) error {
	if !s.cfg.ACLsEnabled {
		return aclDisabled()
	}
	s.aclRepl.mu.Lock()
	st := s.aclRepl.status
	s.aclRepl.mu.Unlock()
	st.Enabled = !s.inPrimaryDC()
	st.SourceDatacenter = s.primaryDC()
	st.ReplicationType = "policies"
	if s.cfg.ACLTokenReplication {
		st.ReplicationType = "tokens"
	}
	if !st.Enabled {
		st.Running = false
	}
	*reply = st
	return nil
}

// aclTokenListReplication lists every global token in full for a
// secondary's replication.
func (s *Server) aclTokenListReplication(ctx context.Context, args *structs.ACLTokenListRequest, reply *structs.ACLTokensResponse) error {
	if !s.cfg.ACLsEnabled {
		return aclDisabled()
	}
	// Enforcement hook: the list carries secrets, so (as Consul's token
	// replication) the replication token needs acl:write here.
	if err := s.authorize(args.Token, "acl", "", aclWrite); err != nil {
		return err
	}
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		var err error
		reply.Index, reply.Tokens, err = st.ACLTokenList(ws, false, true, "", "")
		return err
	})
}

// replSpec is one kind of replicated object.
type replSpec[T any] struct {
	kind string
	// remote blocks on the primary until its list's index passes min.
	remote func(ctx context.Context, min uint64) (uint64, []T, error)
	// local lists the replica (global objects only).
	local func(st *catalog.Store) ([]T, error)
	id    func(T) string
	hash  func(T) []byte
	// put adds deletes and upserts to a batch.
	del      func(req *catalog.ACLReplicateRequest, ids []string)
	put      func(req *catalog.ACLReplicateRequest, items []T)
	setIndex func(st *structs.ACLReplicationStatus, idx uint64)
}

// replQuery is the read a replication loop sends the primary.
func (s *Server) replQuery(min uint64) structs.QueryOptions {
	return structs.QueryOptions{
		Token:         s.cfg.ACLReplicationToken,
		MinQueryIndex: min,
		MaxQueryTime:  s.cfg.ACLReplicationQueryTime,
		AllowStale:    true,
	}
}

func (s *Server) forwardPrimary(ctx context.Context, method structs.Method, args, reply any) error {
	if s.forwarder == nil {
		return &structs.ErrUnknownDC{DC: s.primaryDC(), Known: []string{s.cfg.Datacenter}}
	}
	return s.forwarder.ForwardDC(ctx, structs.Datacenter(s.primaryDC()), method, args, reply)
}

func (s *Server) policyReplication() replSpec[*structs.ACLPolicy] {
	return replSpec[*structs.ACLPolicy]{
		kind: "policies",
		remote: func(ctx context.Context, min uint64) (uint64, []*structs.ACLPolicy, error) {
			var reply structs.ACLPoliciesResponse
			err := s.forwardPrimary(ctx, structs.MethodACLPolicyList,
				&structs.DCSpecificRequest{Datacenter: s.primaryDC(), QueryOptions: s.replQuery(min)}, &reply)
			return reply.Index, reply.Policies, err
		},
		local: func(st *catalog.Store) ([]*structs.ACLPolicy, error) {
			_, out, err := st.ACLPolicyList(nil)
			return out, err
		},
		id:       func(p *structs.ACLPolicy) string { return p.ID },
		hash:     func(p *structs.ACLPolicy) []byte { return p.Hash },
		del:      func(req *catalog.ACLReplicateRequest, ids []string) { req.PolicyDeletes = ids },
		put:      func(req *catalog.ACLReplicateRequest, items []*structs.ACLPolicy) { req.Policies = items },
		setIndex: func(st *structs.ACLReplicationStatus, idx uint64) { st.ReplicatedIndex = idx },
	}
}

func (s *Server) roleReplication() replSpec[*structs.ACLRole] {
	return replSpec[*structs.ACLRole]{
		kind: "roles",
		remote: func(ctx context.Context, min uint64) (uint64, []*structs.ACLRole, error) {
			var reply structs.ACLRolesResponse
			err := s.forwardPrimary(ctx, structs.MethodACLRoleList,
				&structs.DCSpecificRequest{Datacenter: s.primaryDC(), QueryOptions: s.replQuery(min)}, &reply)
			return reply.Index, reply.Roles, err
		},
		local: func(st *catalog.Store) ([]*structs.ACLRole, error) {
			_, out, err := st.ACLRoleList(nil, "")
			return out, err
		},
		id:       func(r *structs.ACLRole) string { return r.ID },
		hash:     func(r *structs.ACLRole) []byte { return r.Hash },
		del:      func(req *catalog.ACLReplicateRequest, ids []string) { req.RoleDeletes = ids },
		put:      func(req *catalog.ACLReplicateRequest, items []*structs.ACLRole) { req.Roles = items },
		setIndex: func(st *structs.ACLReplicationStatus, idx uint64) { st.ReplicatedRoleIndex = idx },
	}
}

func (s *Server) tokenReplication() replSpec[*structs.ACLToken] {
	return replSpec[*structs.ACLToken]{
		kind: "tokens",
		remote: func(ctx context.Context, min uint64) (uint64, []*structs.ACLToken, error) {
			var reply structs.ACLTokensResponse
			err := s.forwardPrimary(ctx, structs.MethodACLTokenListReplication,
				&structs.ACLTokenListRequest{Datacenter: s.primaryDC(), IncludeGlobal: true, QueryOptions: s.replQuery(min)}, &reply)
			if err != nil {
				return 0, nil, err
			}
			// Only global tokens cross datacenters, whatever the
			// primary answers.
			out := reply.Tokens[:0]
			for _, t := range reply.Tokens {
				if t != nil && !t.Local {
					out = append(out, t)
				}
			}
			return reply.Index, out, nil
		},
		local: func(st *catalog.Store) ([]*structs.ACLToken, error) {
			_, out, err := st.ACLTokenList(nil, false, true, "", "")
			return out, err
		},
		id:       func(t *structs.ACLToken) string { return t.AccessorID },
		hash:     func(t *structs.ACLToken) []byte { return t.Hash },
		del:      func(req *catalog.ACLReplicateRequest, ids []string) { req.TokenDeletes = ids },
		put:      func(req *catalog.ACLReplicateRequest, items []*structs.ACLToken) { req.Tokens = items },
		setIndex: func(st *structs.ACLReplicationStatus, idx uint64) { st.ReplicatedTokenIndex = idx },
	}
}

// runACLReplication runs one kind's loop until ctx ends.
func runACLReplication[T any](ctx context.Context, s *Server, spec replSpec[T]) {
	logger := s.logger.With("replication", spec.kind)
	var remoteIdx uint64
	backoff := s.cfg.ACLReplicationBackoffMin
	for ctx.Err() == nil {
		idx, n, err := replicateRound(ctx, s, spec, remoteIdx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			err = fmt.Errorf("replicating ACL %s from %s: %w", spec.kind, s.primaryDC(), err)
			s.aclRepl.failed(err)
			logger.Warn("ACL replication failed", "error", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, s.cfg.ACLReplicationBackoffMax)
			continue
		}
		backoff = s.cfg.ACLReplicationBackoffMin
		if n > 0 {
			logger.Debug("ACL replication applied changes", "changes", n, "remote_index", idx)
		}
		remoteIdx = idx
		s.aclRepl.succeeded(spec.setIndex, idx)
	}
}

// replicateRound waits for the primary's list to pass remoteIdx, then
// makes the replica equal to it. It returns the primary's index and the
// number of objects written or deleted.
func replicateRound[T any](ctx context.Context, s *Server, spec replSpec[T], remoteIdx uint64) (uint64, int, error) {
	idx, remote, err := spec.remote(ctx, remoteIdx)
	if err != nil {
		return 0, 0, err
	}
	// An index that went back (the primary restored a snapshot) needs
	// nothing special: every round compares the whole lists.
	local, err := spec.local(s.State())
	if err != nil {
		return 0, 0, err
	}
	want := make(map[string]T, len(remote))
	for _, o := range remote {
		want[spec.id(o)] = o
	}
	have := make(map[string]T, len(local))
	var deletes []string
	for _, o := range local {
		id := spec.id(o)
		have[id] = o
		if _, ok := want[id]; !ok {
			deletes = append(deletes, id)
		}
	}
	var upserts []T
	for _, o := range remote {
		if l, ok := have[spec.id(o)]; !ok || !bytes.Equal(spec.hash(l), spec.hash(o)) {
			upserts = append(upserts, o)
		}
	}
	for i := 0; i < len(deletes); i += aclReplicationBatch {
		req := &catalog.ACLReplicateRequest{}
		spec.del(req, deletes[i:min(i+aclReplicationBatch, len(deletes))])
		if err := s.applyReplicated(ctx, req); err != nil {
			return 0, 0, err
		}
	}
	for i := 0; i < len(upserts); i += aclReplicationBatch {
		req := &catalog.ACLReplicateRequest{}
		spec.put(req, upserts[i:min(i+aclReplicationBatch, len(upserts))])
		if err := s.applyReplicated(ctx, req); err != nil {
			return 0, 0, err
		}
	}
	return idx, len(deletes) + len(upserts), nil
}

// applyReplicated writes one batch through Raft, on the leader only.
func (s *Server) applyReplicated(ctx context.Context, req *catalog.ACLReplicateRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !s.IsLeader() {
		return fmt.Errorf("%w: leadership lost", structs.ErrNoLeader)
	}
	_, err := s.raftApply(catalog.ACLReplicateType, req)
	return err
}
