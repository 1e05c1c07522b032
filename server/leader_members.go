package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"consulate/structs"
)

// serfHealth outputs, as Consul words them.
const (
	serfAliveOutput  = "Agent alive and reachable"
	serfFailedOutput = "Agent not live or unreachable"
)

// MemberChanged tells the leader that LAN membership changed; it
// reconciles soon. It never blocks.
func (s *Server) MemberChanged() {
	select {
	case s.reconcileCh <- struct{}{}:
	default:
	}
}

// reconcileLoop reconciles LAN membership into the catalog and the Raft
// configuration while this server leads: when it becomes a ready leader,
// on every membership change and every ReconcileInterval.
func (s *Server) reconcileLoop() {
	defer s.wg.Done()
	if s.members == nil {
		return
	}
	t := time.NewTicker(s.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		// The ready channel is closed exactly while this server leads.
		select {
		case <-s.shutdownCtx.Done():
			return
		case <-s.leaderReadyCh():
		}
		s.reconcile()
		select {
		case <-s.shutdownCtx.Done():
			return
		case <-s.reconcileCh:
		case <-t.C:
		case <-s.leaderChangedCh():
		}
	}
}

// serverMember reads a member's server tags; ok is false for clients and
// servers of other datacenters.
func (s *Server) serverMember(m structs.Member) (id raft.ServerID, addr raft.ServerAddress, ok bool) {
	si, ok := structs.ParseServer(m)
	if !ok || si.Datacenter != s.cfg.Datacenter || si.ID == "" {
		return "", "", false
	}
	return raft.ServerID(si.ID), raft.ServerAddress(si.Addr), true
}

// reconcile brings the catalog and the Raft configuration in line with
// the LAN pool. Errors are logged; the next pass retries.
func (s *Server) reconcile() {
	ctx, cancel := context.WithTimeout(s.shutdownCtx, s.cfg.ApplyTimeout)
	defer cancel()
	members := s.members()
	known := make(map[string]bool, len(members))
	for _, m := range members {
		if dc := m.Tags[structs.TagDatacenter]; dc != "" && dc != s.cfg.Datacenter {
			continue
		}
		known[m.Name] = true
		var err error
		switch m.Status {
		case structs.StatusAlive:
			err = s.ensureSerfHealth(ctx, m, structs.HealthPassing, serfAliveOutput)
		case structs.StatusFailed:
			err = s.ensureSerfHealth(ctx, m, structs.HealthCritical, serfFailedOutput)
		case structs.StatusLeft:
			if m.Name != s.cfg.NodeName {
				err = s.deregisterNode(ctx, m.Name)
			}
		}
		if err != nil {
			s.logger.Warn("reconciling member", "member", m.Name, "error", err)
		}
	}
	// Nodes the pool has reaped: they still carry serfHealth but are no
	// longer members.
	_, checks, err := s.State().ChecksInState(nil, structs.HealthAny)
	if err == nil {
		for _, c := range checks {
			if c.CheckID == structs.SerfCheckID && !known[c.Node] && c.Node != s.cfg.NodeName {
				if err := s.deregisterNode(ctx, c.Node); err != nil {
					s.logger.Warn("removing reaped node", "node", c.Node, "error", err)
				}
			}
		}
	}
	s.reconcileRaft(members)
}

// ensureSerfHealth registers the member's node (when missing) and sets
// its serfHealth check, writing only when something differs.
func (s *Server) ensureSerfHealth(ctx context.Context, m structs.Member, status, output string) error {
	st := s.State()
	_, node, err := st.GetNode(nil, m.Name)
	if err != nil {
		return err
	}
	// Servers also carry the "consul" service, as in Consul (DNS answers
	// NS records and consul.service.consul from it).
	var consulSvc *structs.NodeService
	if _, addr, ok := s.serverMember(m); ok {
		_, portStr, _ := net.SplitHostPort(string(addr))
		port, _ := strconv.Atoi(portStr)
		consulSvc = &structs.NodeService{ID: structs.ConsulServiceID, Service: structs.ConsulServiceID, Port: port,
			Weights: &structs.Weights{Passing: 1, Warning: 1}}
		_, ns, err := st.NodeServices(nil, m.Name)
		if err != nil {
			return err
		}
		if ns != nil && ns.Services[structs.ConsulServiceID] != nil && ns.Services[structs.ConsulServiceID].Port == port {
			consulSvc = nil // already there
		}
	}
	if node != nil && node.Address == m.Addr && consulSvc == nil {
		_, checks, err := st.NodeChecks(nil, m.Name)
		if err != nil {
			return err
		}
		for _, c := range checks {
			if c.CheckID == structs.SerfCheckID && c.Status == status {
				return nil
			}
		}
	}
	req := &structs.RegisterRequest{
		Datacenter: s.cfg.Datacenter, Node: m.Name, ID: m.Tags[structs.TagID], Address: m.Addr, Service: consulSvc,
		Check: &structs.HealthCheck{
			Node: m.Name, CheckID: structs.SerfCheckID, Name: structs.SerfCheckName,
			Status: status, Output: output, Type: "serf",
		},
	}
	if node != nil {
		if req.ID == "" {
			req.ID = node.ID
		}
		if node.Address != m.Addr || node.ID != req.ID {
			err := s.moveMemberNode(ctx, node, m.Addr, req.ID)
			switch {
			case errors.Is(err, errNodeMoveConflict):
				// An agent sync won the race: the move waits for the
				// next reconcile, but the member's health does not.
				s.logger.Info("member's node changed while being moved; moving it at the next reconcile",
					"node", m.Name, "error", err)
			case err != nil:
				return err
			}
		}
	}
	// The node's other fields (meta, tagged addresses) belong to the
	// agent's anti-entropy: the register below writes only the service
	// and the check. A node missing when read is created, but should the
	// agent's own sync register it first, that one is kept rather than
	// overwritten with none (the agent would not notice until its next
	// full sync).
	req.SkipNodeUpdate = true
	req.Token = s.internalSecret
	return s.leaderCall(ctx, structs.MethodCatalogRegister, req, &struct{}{})
}

// errNodeMoveConflict: the node changed between the leader's read and its
// conditional move.
var errNodeMoveConflict = errors.New("node changed since read")

// moveMemberNode sets the node's address (and ID) to what gossip says,
// keeping the rest as read, in a transaction conditional on the node's
// ModifyIndex: an agent sync that changed its meta or tagged addresses
// since node was read makes it fail with errNodeMoveConflict rather than
// be overwritten (the next reconcile reads again).
func (s *Server) moveMemberNode(ctx context.Context, node *structs.Node, addr, id string) error {
	if f := s.beforeNodeMove.Load(); f != nil {
		(*f)()
	}
	n := *node
	n.Address, n.ID = addr, id
	var resp structs.TxnResponse
	err := s.leaderCall(ctx, structs.MethodTxnApply, &structs.TxnRequest{Datacenter: s.cfg.Datacenter,
		Ops:          []*structs.TxnOp{{Node: &structs.TxnNodeOp{Verb: structs.TxnCAS, Node: n}}},
		WriteRequest: structs.WriteRequest{Token: s.internalSecret}}, &resp)
	if err != nil {
		return err
	}
	if len(resp.Errors) > 0 {
		return fmt.Errorf("updating node %q: %w: %s", node.Node, errNodeMoveConflict, resp.Errors[0].What)
	}
	return nil
}

// leaderCall runs one of this server's endpoints for the leader's own
// duties, here and only while this server leads: the internal secret it
// carries never leaves the server, and no request limit applies. A
// server that lost leadership gives up (the new leader reconciles).
func (s *Server) leaderCall(ctx context.Context, method structs.Method, args, reply any) error {
	if !s.IsLeader() {
		return structs.ErrNoLeader
	}
	return s.endpoints[method].call(ctx, args, reply)
}

func (s *Server) deregisterNode(ctx context.Context, name string) error {
	_, node, err := s.State().GetNode(nil, name)
	if err != nil || node == nil {
		return err
	}
	s.logger.Info("deregistering node that left", "node", name)
	return s.leaderCall(ctx, structs.MethodCatalogDeregister,
		&structs.DeregisterRequest{Datacenter: s.cfg.Datacenter, Node: name,
			WriteRequest: structs.WriteRequest{Token: s.internalSecret}}, &struct{}{})
}

// reconcileRaft adds alive servers of this datacenter as voters, removes
// servers that left, and (autopilot's cleanup_dead_servers) removes failed
// servers while the healthy ones keep a quorum.
func (s *Server) reconcileRaft(members []structs.Member) {
	fut := s.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return
	}
	inConf := map[raft.ServerID]raft.Server{}
	for _, srv := range fut.Configuration().Servers {
		inConf[srv.ID] = srv
	}
	var failed []raft.ServerID
	for _, m := range members {
		id, addr, ok := s.serverMember(m)
		if !ok || id == s.LocalID() {
			continue
		}
		cur, present := inConf[id]
		switch m.Status {
		case structs.StatusAlive:
			if !present || cur.Address != addr {
				s.logger.Info("adding server as voter", "server", m.Name, "id", id, "addr", addr)
				if err := s.AddVoter(id, addr); err != nil {
					s.logger.Warn("adding voter", "server", m.Name, "error", err)
				}
			}
		case structs.StatusLeft:
			if present {
				s.logger.Info("removing server that left", "server", m.Name, "id", id)
				if err := s.RemoveServer(id); err != nil {
					s.logger.Warn("removing server", "server", m.Name, "error", err)
				}
			}
		case structs.StatusFailed:
			if present {
				failed = append(failed, id)
			}
		}
	}
	failed, next := s.failedLongEnough(failed, time.Now())
	if next > 0 {
		// Come back when the next failed server's grace runs out rather
		// than at the next periodic pass.
		time.AfterFunc(next, s.MemberChanged)
	}
	ap := s.autopilotConfig()
	if !ap.CleanupDeadServers || len(failed) == 0 {
		return
	}
	voters := len(inConf)
	// min_quorum: never clean up below it.
	if ap.MinQuorum > 0 && voters-len(failed) < int(ap.MinQuorum) {
		s.logger.Warn("not removing failed servers: fewer than min_quorum would remain",
			"failed", len(failed), "voters", voters, "min_quorum", ap.MinQuorum)
		return
	}
	// Remove failed servers only while fewer than half are failed, so the
	// rest still form a majority of the old configuration.
	if len(failed)*2 >= voters {
		s.logger.Warn("not removing failed servers: too many failed for a safe cleanup",
			"failed", len(failed), "voters", voters)
		return
	}
	for _, id := range failed {
		s.logger.Info("autopilot: removing failed server", "id", id)
		if err := s.RemoveServer(id); err != nil {
			s.logger.Warn("autopilot: removing failed server", "id", id, "error", err)
		}
	}
}

// failedLongEnough remembers when each of failed was first seen failed
// and returns those failed for at least DeadServerGrace, and how long
// until the next of the others is due (0 if none waits). Servers no longer
// failed are forgotten, so a flap starts the grace again. It is called
// only from the reconcile loop, which owns failedSince.
func (s *Server) failedLongEnough(failed []raft.ServerID, now time.Time) (due []raft.ServerID, next time.Duration) {
	if s.failedSince == nil {
		s.failedSince = make(map[raft.ServerID]time.Time)
	}
	seen := make(map[raft.ServerID]bool, len(failed))
	for _, id := range failed {
		seen[id] = true
		since, ok := s.failedSince[id]
		if !ok {
			since = now
			s.failedSince[id] = now
		}
		if wait := s.cfg.DeadServerGrace - now.Sub(since); wait > 0 {
			if next == 0 || wait < next {
				next = wait
			}
			continue
		}
		due = append(due, id)
	}
	for id := range s.failedSince {
		if !seen[id] {
			delete(s.failedSince, id)
		}
	}
	return due, next
}

// MaybeBootstrap bootstraps the Raft cluster once BootstrapExpect servers
// of this datacenter are alive in the LAN pool and no Raft state exists
// (so it never happens twice, restarts included). It returns whether it
// bootstrapped.
func (s *Server) MaybeBootstrap(members []structs.Member) (bool, error) {
	if s.cfg.BootstrapExpect < 2 || s.raft == nil {
		return false, nil
	}
	s.bootstrapMu.Lock()
	defer s.bootstrapMu.Unlock()
	if s.bootstrapped {
		return false, nil
	}
	if s.raft.LastIndex() > 0 {
		s.bootstrapped = true
		return false, nil
	}
	if fut := s.raft.GetConfiguration(); fut.Error() == nil && len(fut.Configuration().Servers) > 0 {
		s.bootstrapped = true
		return false, nil
	}
	var servers []raft.Server
	for _, m := range members {
		id, addr, ok := s.serverMember(m)
		if !ok || m.Status != structs.StatusAlive {
			continue
		}
		if si, _ := structs.ParseServer(m); si.Expect != 0 && si.Expect != s.cfg.BootstrapExpect {
			return false, fmt.Errorf("member %s expects %d servers, this server %d", m.Name, si.Expect, s.cfg.BootstrapExpect)
		}
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: id, Address: addr})
	}
	if len(servers) < s.cfg.BootstrapExpect {
		return false, nil
	}
	s.logger.Info("found expected number of servers, bootstrapping", "servers", len(servers))
	if err := s.BootstrapCluster(servers); err != nil {
		return false, err
	}
	s.bootstrapped = true
	return true, nil
}

// MemberReaped removes a server the LAN pool has reaped (or pruned) from
// the Raft configuration; once gone from the pool, nothing else would.
// It does nothing on followers.
func (s *Server) MemberReaped(m structs.Member) {
	id, _, ok := s.serverMember(m)
	if !ok || id == s.LocalID() || !s.IsLeader() {
		return
	}
	fut := s.raft.GetConfiguration()
	if fut.Error() != nil {
		return
	}
	for _, srv := range fut.Configuration().Servers {
		if srv.ID == id {
			s.logger.Info("removing reaped server from raft", "server", m.Name, "id", id)
			if err := s.RemoveServer(id); err != nil {
				s.logger.Warn("removing reaped server", "server", m.Name, "error", err)
			}
			return
		}
	}
}
