package local

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"consulate/structs"
)

// syncLoop runs a full sync at once and then every SyncInterval (with a
// stagger), and a partial sync shortly after each local change. After a
// failure it waits (doubling, bounded) and retries with a full sync;
// changes in the meantime wait for that retry, so it never spins.
func (s *State) syncLoop(ctx context.Context) {
	defer s.wg.Done()
	full := time.NewTimer(0)
	defer full.Stop()
	failures := 0
	fail := func(err error, what string) {
		failures++
		wait := s.retryWait(failures)
		s.logger.Warn("anti-entropy sync failed; retrying", "sync", what, "error", err, "retry_in", wait)
		full.Reset(wait)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-full.C:
			if err := s.SyncFull(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				fail(err, "full")
				continue
			}
			failures = 0
			full.Reset(s.fullWait())
		case <-s.fullCh:
			full.Reset(0)
		case <-s.triggerCh:
			if failures > 0 {
				continue // the pending retry is a full sync
			}
			if s.cfg.SyncCoalesce > 0 {
				t := time.NewTimer(s.cfg.SyncCoalesce)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				select {
				case <-s.triggerCh:
				default:
				}
			}
			if err := s.SyncChanges(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				fail(err, "partial")
			}
		}
	}
}

// fullWait is SyncInterval ± 1/16.
func (s *State) fullWait() time.Duration {
	d := s.cfg.SyncInterval
	spread := d / 8
	if spread <= 0 {
		return d
	}
	return d - spread/2 + rand.N(spread)
}

// retryWait doubles from SyncRetryInterval up to SyncInterval, plus up
// to half again at random so agents do not retry in step.
func (s *State) retryWait(failures int) time.Duration {
	d := s.cfg.SyncRetryInterval
	for i := 1; i < failures && d < s.cfg.SyncInterval; i++ {
		d *= 2
	}
	d = min(d, max(s.cfg.SyncInterval, s.cfg.SyncRetryInterval))
	if half := d / 2; half > 0 {
		d += rand.N(half)
	}
	return d
}

// SyncFull reads the catalog's view of this node, marks what differs
// from local state (both ways: local items missing or different, and
// catalog items the agent does not have, except serfHealth) and then
// syncs the changes.
func (s *State) SyncFull(ctx context.Context) error {
	if err := s.lockSync(ctx); err != nil {
		return err
	}
	defer s.unlockSync()
	if err := s.updateSyncState(ctx); err != nil {
		return err
	}
	return s.syncChanges(ctx)
}

// SyncChanges sends local changes not yet in the catalog.
func (s *State) SyncChanges(ctx context.Context) error {
	if err := s.lockSync(ctx); err != nil {
		return err
	}
	defer s.unlockSync()
	return s.syncChanges(ctx)
}

// SyncNow sends the local changes made so far to the servers and returns
// once the catalog has them, so a client reading the catalog right after
// an agent call sees its own write (Consul's agent endpoints do the
// same). It waits at most SyncNowTimeout (and never past ctx), including
// the wait for a sync already in progress; on error or timeout the
// changes stay queued and anti-entropy sends them when a server answers.
func (s *State) SyncNow(ctx context.Context) error {
	s.mu.Lock()
	down := s.shutdown
	s.mu.Unlock()
	if down {
		return ErrShutdown
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SyncNowTimeout)
	defer cancel()
	err := s.SyncChanges(ctx)
	if err != nil {
		// Make sure the loop tries again even if it took this change's
		// trigger before the failure.
		s.triggerSync()
	}
	return err
}

// lockSync waits for the right to sync, or for ctx.
func (s *State) lockSync(ctx context.Context) error {
	select {
	case s.syncSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("local: waiting for a sync in progress: %w", ctx.Err())
	}
}

func (s *State) unlockSync() { <-s.syncSem }

// nodeRequest reads this node's catalog entries, with the agent token.
func (s *State) nodeRequest() *structs.NodeSpecificRequest {
	return &structs.NodeSpecificRequest{
		Datacenter: s.cfg.Datacenter, Node: s.cfg.NodeName,
		QueryOptions: structs.QueryOptions{AllowStale: true, Token: s.agentToken().secret},
	}
}

func (s *State) updateSyncState(ctx context.Context) error {
	var ns structs.IndexedNodeServices
	if err := s.rpc(ctx, structs.MethodCatalogNodeServices, s.nodeRequest(), &ns); err != nil {
		return fmt.Errorf("local: reading node services: %w", err)
	}
	var hcs structs.IndexedHealthChecks
	if err := s.rpc(ctx, structs.MethodHealthNodeChecks, s.nodeRequest(), &hcs); err != nil {
		return fmt.Errorf("local: reading node checks: %w", err)
	}
	remoteServices := map[string]*structs.NodeService{}
	var remoteNode *structs.Node
	if ns.NodeServices != nil {
		remoteNode = ns.NodeServices.Node
		for id, svc := range ns.NodeServices.Services {
			// The leader owns a server's "consul" service, as it owns
			// serfHealth; anti-entropy leaves both alone.
			if svc != nil && id != structs.ConsulServiceID {
				remoteServices[id] = svc
			}
		}
	}
	remoteChecks := map[string]*structs.HealthCheck{}
	for _, c := range hcs.HealthChecks {
		if c != nil && c.CheckID != structs.SerfCheckID {
			remoteChecks[c.CheckID] = c
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodeInSync = remoteNode != nil && s.nodeEqual(remoteNode)
	for id, rs := range remoteServices {
		ls := s.services[id]
		switch {
		case ls == nil:
			// Only the catalog has it: deregister.
			s.services[id] = &serviceState{svc: cloneService(rs), deleted: true, gen: s.nextGen()}
		case ls.deleted:
			ls.inSync = false
		default:
			// The catalog has it: its checks may go on their own.
			ls.blocked = false
			if ls.svc.EnableTagOverride && !strsEqual(ls.svc.Tags, rs.Tags) {
				// Tag override: the catalog's tags win.
				ls.svc.Tags = append([]string(nil), rs.Tags...)
				ls.gen = s.nextGen()
				s.notifySubsLocked()
			}
			ls.inSync = serviceEqual(ls.svc, rs)
		}
	}
	for id, ls := range s.services {
		if _, ok := remoteServices[id]; ok {
			continue
		}
		if ls.deleted {
			delete(s.services, id)
		} else {
			ls.inSync = false
		}
	}
	for id, rc := range remoteChecks {
		lc := s.checks[id]
		switch {
		case lc == nil:
			s.checks[id] = &checkState{check: cloneCheck(rc), deleted: true, gen: s.nextGen()}
		case lc.deleted:
			lc.inSync = false
		default:
			lc.inSync = checkEqual(lc.check, rc)
		}
	}
	for id, lc := range s.checks {
		if _, ok := remoteChecks[id]; ok {
			continue
		}
		if lc.deleted {
			delete(s.checks, id)
		} else {
			lc.inSync = false
		}
	}
	return nil
}

func (s *State) nodeEqual(n *structs.Node) bool {
	return n.ID == s.cfg.NodeID && n.Address == s.cfg.Address &&
		strMapEqual(n.TaggedAddresses, s.cfg.TaggedAddresses) && strMapEqual(n.Meta, s.cfg.NodeMeta)
}

type pendingService struct {
	svc    *structs.NodeService
	gen    uint64
	token  syncToken
	checks []pendingCheck
}

type pendingCheck struct {
	check *structs.HealthCheck
	gen   uint64
	token syncToken
}

// pendingDereg is a deregistration to send: with the registration's own
// token, else the agent token (see deregTokenLocked).
type pendingDereg struct {
	gen   uint64
	token syncToken
}

type syncPlan struct {
	deregServices map[string]pendingDereg
	deregChecks   map[string]pendingDereg
	services      []pendingService
	checks        []pendingCheck
	nodeInSync    bool
}

// plan gathers what to send, each item with its token. A service's
// out-of-sync checks ride on its registration only when they sync with
// the same token (as in Consul), so a check never borrows the service
// token's rights.
func (s *State) plan() *syncPlan {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &syncPlan{
		deregServices: map[string]pendingDereg{}, deregChecks: map[string]pendingDereg{},
		nodeInSync: s.nodeInSync,
	}
	riding := map[string]bool{}
	for id, ss := range s.services {
		switch {
		case ss.deleted:
			if !ss.inSync {
				p.deregServices[id] = pendingDereg{ss.gen, s.deregTokenLocked(ss.token)}
			}
		case !ss.inSync:
			ps := pendingService{svc: cloneService(ss.svc), gen: ss.gen, token: s.itemToken(ss.token, ss.source)}
			for cid, c := range s.checks {
				if c.deleted || c.inSync || c.check.ServiceID != id {
					continue
				}
				if tok := s.itemToken(c.token, c.source); tok.secret == ps.token.secret {
					ps.checks = append(ps.checks, pendingCheck{cloneCheck(c.check), c.gen, tok})
					riding[cid] = true
				}
			}
			p.services = append(p.services, ps)
		}
	}
	for id, c := range s.checks {
		switch {
		case c.deleted:
			// A deleted service's deregistration takes its checks.
			if ss := s.services[c.check.ServiceID]; c.check.ServiceID != "" && ss != nil && ss.deleted {
				continue
			}
			if !c.inSync {
				p.deregChecks[id] = pendingDereg{c.gen, s.deregTokenLocked(c.token)}
			}
		case !c.inSync && !riding[id]:
			p.checks = append(p.checks, pendingCheck{cloneCheck(c.check), c.gen, s.itemToken(c.token, c.source)})
		}
	}
	return p
}

func (s *State) registerRequest(skipNode bool, tok syncToken) *structs.RegisterRequest {
	req := &structs.RegisterRequest{
		Datacenter: s.cfg.Datacenter, ID: s.cfg.NodeID, Node: s.cfg.NodeName,
		Address: s.cfg.Address, TaggedAddresses: s.cfg.TaggedAddresses,
		NodeMeta: s.cfg.NodeMeta, SkipNodeUpdate: skipNode,
	}
	setToken(req, tok)
	return req
}

// syncChanges sends the plan, each call with its item's token: the
// node's info first (agent token), then deregistrations and
// registrations. A call the servers refuse for its token is logged, naming
// the token, and left until the next full sync (as Consul does), so one
// registration without the rights does not hold up the others; any other
// error stops the sync, keeping what it has done.
func (s *State) syncChanges(ctx context.Context) error {
	p := s.plan()
	// Registrations skip the node's update only when this sync knows the
	// node in sync (Consul's SkipNodeUpdate: nodeInfoInSync): read so, or
	// synced just below; a node update the servers refused counts too,
	// as in Consul (it waits for the next full sync). A node the catalog
	// lacks then needs node:write from the registration's token.
	nodeInSync := p.nodeInSync
	if !nodeInSync {
		tok := s.agentToken()
		var out struct{}
		err := s.rpc(ctx, structs.MethodCatalogRegister, s.registerRequest(false, tok), &out)
		switch {
		case err == nil:
			s.logger.Debug("synced node info")
		case structs.ACLRefused(err):
			s.logger.Warn("Node info update blocked by ACLs; the agent token needs node:write on this node",
				"token", tok.from, "error", err)
		default:
			return fmt.Errorf("local: registering node: %w", err)
		}
		s.mu.Lock()
		s.nodeInSync = true
		s.mu.Unlock()
		nodeInSync = true
	}
	for id, pd := range p.deregServices {
		req := &structs.DeregisterRequest{Datacenter: s.cfg.Datacenter, Node: s.cfg.NodeName, ServiceID: id}
		blocked, err := s.deregister(ctx, req, pd.token)
		if err != nil {
			return fmt.Errorf("local: deregistering service %q: %w", id, err)
		}
		s.mu.Lock()
		if ss := s.services[id]; ss != nil && ss.deleted && ss.gen == pd.gen {
			if blocked {
				ss.inSync = true
			} else {
				delete(s.services, id)
				// The catalog removed its checks with it.
				for cid, c := range s.checks {
					if c.deleted && c.check.ServiceID == id {
						delete(s.checks, cid)
					}
				}
			}
		}
		s.mu.Unlock()
		if blocked {
			s.logger.Warn("Service deregistration blocked by ACLs; its token and the agent token (acl.tokens.agent) lack service:write on it and node:write on this node",
				"service", id, "token", pd.token.from)
		} else {
			s.logger.Debug("deregistered service", "service", id)
		}
	}
	for id, pd := range p.deregChecks {
		req := &structs.DeregisterRequest{Datacenter: s.cfg.Datacenter, Node: s.cfg.NodeName, CheckID: id}
		blocked, err := s.deregister(ctx, req, pd.token)
		if err != nil {
			return fmt.Errorf("local: deregistering check %q: %w", id, err)
		}
		s.mu.Lock()
		if c := s.checks[id]; c != nil && c.deleted && c.gen == pd.gen {
			if blocked {
				c.inSync = true
			} else {
				delete(s.checks, id)
			}
		}
		s.mu.Unlock()
		if blocked {
			s.logger.Warn("Check deregistration blocked by ACLs; its token and the agent token (acl.tokens.agent) lack write on it and node:write on this node",
				"check", id, "token", pd.token.from)
		} else {
			s.logger.Debug("deregistered check", "check", id)
		}
	}
	for _, ps := range p.services {
		req := s.registerRequest(nodeInSync, ps.token)
		req.Service = ps.svc
		for _, pc := range ps.checks {
			req.Checks = append(req.Checks, pc.check)
		}
		var out struct{}
		err := s.rpc(ctx, structs.MethodCatalogRegister, req, &out)
		if err != nil && !structs.ACLRefused(err) {
			return fmt.Errorf("local: registering service %q: %w", ps.svc.ID, err)
		}
		s.mu.Lock()
		if ss := s.services[ps.svc.ID]; ss != nil && !ss.deleted {
			ss.blocked = err != nil
			if ss.gen == ps.gen {
				ss.inSync = true
			}
		}
		for _, pc := range ps.checks {
			s.markCheckSyncedLocked(pc)
		}
		s.mu.Unlock()
		if err != nil {
			s.logger.Warn("Service registration blocked by ACLs; the token it syncs with needs service:write on it (and node:write on this node while the catalog lacks the node)",
				"service", ps.svc.ID, "token", ps.token.from, "error", err)
			continue
		}
		s.logger.Debug("synced service", "service", ps.svc.ID)
	}
	for _, pc := range p.checks {
		if s.serviceBlocked(pc.check.ServiceID) {
			// The catalog lacks its service, refused for its token: the
			// check stays out of sync and goes once the service is in.
			continue
		}
		req := s.registerRequest(nodeInSync, pc.token)
		req.Check = pc.check
		var out struct{}
		err := s.rpc(ctx, structs.MethodCatalogRegister, req, &out)
		if err != nil && !structs.ACLRefused(err) {
			return fmt.Errorf("local: registering check %q: %w", pc.check.CheckID, err)
		}
		s.mu.Lock()
		s.markCheckSyncedLocked(pc)
		s.mu.Unlock()
		if err != nil {
			s.logger.Warn("Check registration blocked by ACLs; the token it syncs with needs service:write on its service (node:write for a node check)",
				"check", pc.check.CheckID, "token", pc.token.from, "error", err)
			continue
		}
		s.logger.Debug("synced check", "check", pc.check.CheckID)
	}
	return nil
}

// deregister sends a deregistration with tok (the registration's own
// token, else the agent token) and, when the servers refuse the
// registration's (it may have been deleted since), with the agent token,
// whose node:write covers everything on the node. blocked reports that
// every try was refused.
func (s *State) deregister(ctx context.Context, req *structs.DeregisterRequest, tok syncToken) (blocked bool, err error) {
	setToken(req, tok)
	var out struct{}
	err = s.rpc(ctx, structs.MethodCatalogDeregister, req, &out)
	if err == nil || !structs.ACLRefused(err) {
		return false, err
	}
	if at := s.agentToken(); at.secret != tok.secret {
		setToken(req, at)
		err = s.rpc(ctx, structs.MethodCatalogDeregister, req, &out)
		if err == nil || !structs.ACLRefused(err) {
			return false, err
		}
	}
	return true, nil
}

// serviceBlocked reports whether the local service id is blocked (see
// serviceState.blocked).
func (s *State) serviceBlocked(id string) bool {
	if id == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.services[id]
	return ss != nil && !ss.deleted && ss.blocked
}

func (s *State) markCheckSyncedLocked(pc pendingCheck) {
	if c := s.checks[pc.check.CheckID]; c != nil && !c.deleted && c.gen == pc.gen {
		c.inSync = true
	}
}
