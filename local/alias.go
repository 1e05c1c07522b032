package local

import (
	"context"
	"fmt"
	"time"

	"consulate/structs"
)

// aliasWait bounds one wait of an alias check on the local state, and
// aliasQueryTime one blocking query for a remote target.
const (
	aliasWait      = 5 * time.Minute
	aliasQueryTime = 5 * time.Minute
)

// AliasChecks implements checks.AliasSource for a caller with no check
// of its own: it reads as aliasChecks does with the default token.
func (s *State) AliasChecks(ctx context.Context, node, serviceID string, index uint64) (structs.HealthChecks, bool, uint64, error) {
	return s.aliasChecks(ctx, "", node, serviceID, index)
}

// checkAlias is the checks.AliasSource of one alias check: its queries
// carry that check's token.
type checkAlias struct {
	s       *State
	checkID string
}

// AliasChecks implements checks.AliasSource.
func (a checkAlias) AliasChecks(ctx context.Context, node, serviceID string, index uint64) (structs.HealthChecks, bool, uint64, error) {
	return a.s.aliasChecks(ctx, a.checkID, node, serviceID, index)
}

// aliasToken is the token an alias check reads another node with: the
// one its registration carried, with the same fallbacks as its sync
// (never the agent token). Read at each query, so a re-registration with
// another token applies to a runner kept running.
func (s *State) aliasToken(checkID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.checks[checkID]; c != nil && !c.deleted && c.source != "" && c.source != SourceMaintenance {
		return s.registrationToken(c.token, c.source).secret
	}
	return s.userToken()
}

// aliasChecks answers an alias check: the local node's checks come from
// this State (waiting for a change), another node's from a blocking
// Health.NodeChecks query through Config.AliasRPC with the check's token.
// A failed Catalog.NodeServices read counts the service as present, as
// Consul's does: the checks alone then decide.
func (s *State) aliasChecks(ctx context.Context, checkID, node, serviceID string, index uint64) (structs.HealthChecks, bool, uint64, error) {
	if node == "" || node == s.cfg.NodeName {
		return s.localAlias(ctx, serviceID, index)
	}
	token := s.aliasToken(checkID)
	req := &structs.NodeSpecificRequest{
		Datacenter: s.cfg.Datacenter, Node: node,
		QueryOptions: structs.QueryOptions{AllowStale: true, MinQueryIndex: index, MaxQueryTime: aliasQueryTime, Token: token},
	}
	rpc := s.cfg.AliasRPC
	if rpc == nil {
		rpc = s.rpc
	}
	var hcs structs.IndexedHealthChecks
	if err := rpc(ctx, structs.MethodHealthNodeChecks, req, &hcs); err != nil {
		return nil, false, 0, fmt.Errorf("reading checks of node %q: %w", node, err)
	}
	found := true
	if serviceID != "" {
		sreq := &structs.NodeSpecificRequest{
			Datacenter: s.cfg.Datacenter, Node: node,
			QueryOptions: structs.QueryOptions{AllowStale: true, Token: token},
		}
		var ns structs.IndexedNodeServices
		if err := rpc(ctx, structs.MethodCatalogNodeServices, sreq, &ns); err != nil {
			s.logger.Debug("alias check: reading the target's services failed; counting the service as present",
				"node", node, "service", serviceID, "error", err)
		} else {
			found = ns.NodeServices != nil && ns.NodeServices.Services[serviceID] != nil
		}
	}
	next := hcs.Index
	if next == 0 {
		next = 1 // never 0, which would answer at once again
	}
	return hcs.HealthChecks, found, next, nil
}

// localAlias answers from this State once its change count has moved past
// index (at once when index is 0), waiting at most aliasWait.
func (s *State) localAlias(ctx context.Context, serviceID string, index uint64) (structs.HealthChecks, bool, uint64, error) {
	ch, cancel := s.Subscribe()
	defer cancel()
	t := time.NewTimer(aliasWait)
	defer t.Stop()
	for {
		s.mu.Lock()
		seq := s.changeSeq
		s.mu.Unlock()
		if index == 0 || seq+1 != index {
			break
		}
		select {
		case <-ctx.Done():
			return nil, false, 0, ctx.Err()
		case <-t.C:
			return s.aliasSnapshot(serviceID)
		case <-ch:
		}
	}
	return s.aliasSnapshot(serviceID)
}

func (s *State) aliasSnapshot(serviceID string) (structs.HealthChecks, bool, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out structs.HealthChecks
	for _, c := range s.checks {
		if !c.deleted && (c.check.ServiceID == "" || c.check.ServiceID == serviceID) {
			out = append(out, cloneCheck(c.check))
		}
	}
	found := false
	if serviceID != "" {
		ss := s.services[serviceID]
		found = ss != nil && !ss.deleted
	}
	return out, found, s.changeSeq + 1, nil
}
