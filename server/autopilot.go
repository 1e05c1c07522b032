package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/raft"

	"consulate/acl"
	"consulate/catalog"
	"consulate/structs"
)

// autopilotHealth is what the leader remembers between two health
// passes: since when each server has had its current health.
type autopilotHealth struct {
	mu    sync.Mutex
	since map[raft.ServerID]healthSince
}

type healthSince struct {
	healthy bool
	since   time.Time
}

// seedAutopilotConfig is the configuration the leader stores when none is
// stored: Config.Autopilot with Config.CleanupDeadServers.
func (s *Server) seedAutopilotConfig() structs.AutopilotConfig {
	c := s.cfg.Autopilot
	c.CleanupDeadServers = s.cfg.CleanupDeadServers
	c.CreateIndex, c.ModifyIndex = 0, 0
	return c
}

// autopilotConfig is the stored configuration, or the seed while none is
// stored (a new cluster before its first leader stored it).
func (s *Server) autopilotConfig() structs.AutopilotConfig {
	if _, c, err := s.State().AutopilotConfig(nil); err == nil && c != nil {
		return *c
	}
	return s.seedAutopilotConfig()
}

// initializeAutopilot stores the seed configuration when none is stored
// (on gaining leadership, as Consul's leader does). A CAS with index 0
// never overwrites one stored meanwhile.
func (s *Server) initializeAutopilot() error {
	if s.apInitFails.Load() > 0 && s.apInitFails.Add(-1) >= 0 {
		return errors.New("autopilot initialization failed (test)")
	}
	if _, c, err := s.State().AutopilotConfig(nil); err != nil || c != nil {
		return err
	}
	_, err := s.raftApply(catalog.AutopilotSetType, &catalog.AutopilotSetRequest{Config: s.seedAutopilotConfig(), CAS: true})
	return err
}

// --- endpoints ---

func (s *Server) autopilotGetConfiguration(_ context.Context, args *structs.DCSpecificRequest, reply *structs.AutopilotConfig) error {
	if err := s.checkToken(args.Token, acl.ResourceOperator, "", acl.AccessRead); err != nil {
		return err
	}
	_, c, err := s.State().AutopilotConfig(nil)
	if err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("autopilot config not initialized yet")
	}
	*reply = *c
	return nil
}

func (s *Server) autopilotSetConfiguration(_ context.Context, args *structs.AutopilotSetConfigRequest, reply *bool) error {
	if err := s.checkToken(args.Token, acl.ResourceOperator, "", acl.AccessWrite); err != nil {
		return err
	}
	if args.Config.LastContactThreshold < 0 || args.Config.ServerStabilizationTime < 0 {
		return badRequest("autopilot durations must not be negative")
	}
	cfg := args.Config
	if !args.CAS {
		cfg.ModifyIndex = 0
	}
	resp, err := s.raftApply(catalog.AutopilotSetType, &catalog.AutopilotSetRequest{Config: cfg, CAS: args.CAS})
	if err != nil {
		return err
	}
	ok, _ := resp.(bool)
	*reply = ok
	return nil
}

func (s *Server) autopilotServerHealth(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.OperatorHealthReply) error {
	if err := s.checkToken(args.Token, acl.ResourceOperator, "", acl.AccessRead); err != nil {
		return err
	}
	h, err := s.serverHealth(ctx)
	if err != nil {
		return err
	}
	*reply = *h
	return nil
}

func (s *Server) autopilotState(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.AutopilotState) error {
	if err := s.checkToken(args.Token, acl.ResourceOperator, "", acl.AccessRead); err != nil {
		return err
	}
	h, err := s.serverHealth(ctx)
	if err != nil {
		return err
	}
	st := structs.AutopilotState{
		Healthy: h.Healthy, FailureTolerance: h.FailureTolerance, OptimisticFailureTolerance: h.FailureTolerance,
		Servers: make(map[string]structs.AutopilotServer, len(h.Servers)), Voters: []string{},
	}
	voters := 0
	for _, sh := range h.Servers {
		status := "non-voter"
		switch {
		case sh.Leader:
			status = "leader"
		case sh.Voter:
			status = "voter"
		}
		if sh.Leader {
			st.Leader = sh.ID
		}
		if sh.Voter {
			voters++
			st.Voters = append(st.Voters, sh.ID)
		}
		st.Servers[sh.ID] = structs.AutopilotServer{
			ID: sh.ID, Name: sh.Name, Address: sh.Address, NodeStatus: sh.SerfStatus, Version: sh.Version,
			LastContact: sh.LastContact, LastTerm: sh.LastTerm, LastIndex: sh.LastIndex, Healthy: sh.Healthy,
			StableSince: sh.StableSince, Status: status, NodeType: "voter", Meta: map[string]string{},
		}
	}
	// Optimistic: as if every voter were healthy.
	st.OptimisticFailureTolerance = max(voters-(voters/2+1), 0)
	*reply = st
	return nil
}

func (s *Server) statusRaftStats(_ context.Context, _ *structs.EmptyRequest, reply *structs.RaftStats) error {
	*reply = s.localRaftStats()
	return nil
}

// localRaftStats is this server's Raft progress as Status.RaftStats
// gives it.
func (s *Server) localRaftStats() structs.RaftStats {
	st := s.raft.Stats()
	out := structs.RaftStats{LastContact: st["last_contact"]}
	out.LastTerm, _ = strconv.ParseUint(st["last_log_term"], 10, 64)
	out.LastIndex, _ = strconv.ParseUint(st["last_log_index"], 10, 64)
	return out
}

func (s *Server) operatorRaftTransferLeader(_ context.Context, args *structs.RaftLeaderTransferRequest, reply *structs.RaftLeaderTransferResponse) error {
	if err := s.checkToken(args.Token, acl.ResourceOperator, "", acl.AccessWrite); err != nil {
		return err
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	voters := 0
	var target *raft.Server
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			voters++
		}
		if args.ID != "" && string(srv.ID) == args.ID {
			srv := srv
			target = &srv
		}
	}
	if voters < 2 {
		return badRequest("cannot transfer leadership: there is no other voter")
	}
	var fut raft.Future
	switch {
	case args.ID == "":
		fut = s.raft.LeadershipTransfer()
	case target == nil:
		return badRequest("cannot find peer %s", args.ID)
	case target.ID == s.LocalID():
		return badRequest("cannot transfer leadership to itself")
	case target.Suffrage != raft.Voter:
		return badRequest("cannot transfer leadership to %s: not a voter", args.ID)
	default:
		fut = s.raft.LeadershipTransferToServer(target.ID, target.Address)
	}
	if err := s.await(fut); err != nil {
		return fmt.Errorf("leadership transfer: %w", err)
	}
	s.logger.Info("leadership transferred", "to", args.ID)
	reply.Success = true
	return nil
}

func (s *Server) operatorWANHealth(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.WANHealthReply) error {
	if err := s.checkToken(args.Token, acl.ResourceOperator, "", acl.AccessRead); err != nil {
		return err
	}
	if s.wanHealth == nil {
		return fmt.Errorf("server: no WAN view")
	}
	buf, err := json.Marshal(s.wanHealth(ctx))
	if err != nil {
		return err
	}
	reply.JSON = buf
	return nil
}

// --- health ---

// raftStatsTimeout bounds the leader's Status.RaftStats call to each
// server in one health pass.
const raftStatsTimeout = time.Second

// serverHealth computes every server's health, on the leader: a server
// is healthy when gossip has it alive (when this server has a LAN pool),
// it answered Status.RaftStats, it heard from the leader within
// LastContactThreshold, its last log term is the leader's and it trails
// the leader's log by at most MaxTrailingLogs.
func (s *Server) serverHealth(ctx context.Context) (*structs.OperatorHealthReply, error) {
	if !s.IsLeader() {
		return nil, structs.ErrNoLeader
	}
	cfg := s.autopilotConfig()
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	servers := f.Configuration().Servers
	type memberInfo struct {
		name, version string
		status        structs.MemberStatus
	}
	members := map[raft.ServerID]memberInfo{}
	if s.members != nil {
		for _, m := range s.members() {
			if si, ok := structs.ParseServer(m); ok && si.Datacenter == s.cfg.Datacenter && si.ID != "" {
				members[raft.ServerID(si.ID)] = memberInfo{name: m.Name, version: si.Build, status: m.Status}
			}
		}
	}
	names := map[string]string{}
	if _, nodes, err := s.State().Nodes(nil); err == nil {
		for _, n := range nodes {
			if n.ID != "" {
				names[strings.ToLower(n.ID)] = n.Node
			}
		}
	}
	leaderStats := s.localRaftStats()
	stats := make([]*structs.RaftStats, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		if srv.ID == s.LocalID() {
			st := leaderStats
			stats[i] = &st
			continue
		}
		if s.servers == nil {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, raftStatsTimeout)
			defer cancel()
			var st structs.RaftStats
			if err := s.servers.Call(cctx, structs.Datacenter(s.cfg.Datacenter), structs.ServerAddr(srv.Address),
				structs.MethodStatusRaftStats, &structs.EmptyRequest{Datacenter: s.cfg.Datacenter}, &st); err == nil {
				stats[i] = &st
			}
		})
	}
	wg.Wait()

	now := time.Now()
	s.apHealth.mu.Lock()
	defer s.apHealth.mu.Unlock()
	if s.apHealth.since == nil {
		s.apHealth.since = map[raft.ServerID]healthSince{}
	}
	out := &structs.OperatorHealthReply{Healthy: true, Servers: []structs.ServerHealth{}}
	voters, healthyVoters := 0, 0
	seen := map[raft.ServerID]bool{}
	for i, srv := range servers {
		seen[srv.ID] = true
		sh := structs.ServerHealth{
			ID: string(srv.ID), Address: string(srv.Address), SerfStatus: structs.StatusNone.String(),
			Leader: srv.ID == s.LocalID(), Voter: srv.Suffrage == raft.Voter,
		}
		mi, known := members[srv.ID]
		if known {
			sh.Name, sh.Version, sh.SerfStatus = mi.name, mi.version, mi.status.String()
		}
		if sh.Name == "" {
			sh.Name = names[strings.ToLower(string(srv.ID))]
		}
		if sh.Name == "" {
			sh.Name = string(srv.ID)
		}
		healthy := s.members == nil || (known && mi.status == structs.StatusAlive)
		if st := stats[i]; st != nil {
			sh.LastTerm, sh.LastIndex = st.LastTerm, st.LastIndex
			lc, ok := parseLastContact(st.LastContact)
			sh.LastContact = lc
			if !sh.Leader && (!ok || lc > cfg.LastContactThreshold) {
				healthy = false
			}
			if st.LastTerm != leaderStats.LastTerm {
				healthy = false
			}
			if leaderStats.LastIndex > st.LastIndex && leaderStats.LastIndex-st.LastIndex > cfg.MaxTrailingLogs {
				healthy = false
			}
		} else {
			healthy = false
		}
		sh.Healthy = healthy
		prev, ok := s.apHealth.since[srv.ID]
		if !ok || prev.healthy != healthy {
			prev = healthSince{healthy: healthy, since: now}
			s.apHealth.since[srv.ID] = prev
		}
		sh.StableSince = prev.since
		if !healthy {
			out.Healthy = false
		}
		if sh.Voter {
			voters++
			if healthy {
				healthyVoters++
			}
		}
		out.Servers = append(out.Servers, sh)
	}
	for id := range s.apHealth.since {
		if !seen[id] {
			delete(s.apHealth.since, id)
		}
	}
	out.FailureTolerance = max(healthyVoters-(voters/2+1), 0)
	sort.Slice(out.Servers, func(i, j int) bool { return out.Servers[i].Name < out.Servers[j].Name })
	return out, nil
}

// parseLastContact reads Raft's last_contact stat: "0" (the leader), a
// duration, or "never" (ok false).
func parseLastContact(v string) (time.Duration, bool) {
	switch v {
	case "0":
		return 0, true
	case "", "never":
		return 0, false
	}
	d, err := time.ParseDuration(v)
	return d, err == nil
}

// autopilotLoop emits autopilot's gauges on the leader every
// AutopilotHealthInterval (Consul: autopilot.healthy 1/0 and
// autopilot.failure_tolerance; nothing on followers).
func (s *Server) autopilotLoop() {
	t := time.NewTicker(s.cfg.AutopilotHealthInterval)
	defer t.Stop()
	for {
		select {
		case <-s.shutdownCtx.Done():
			return
		case <-s.leaderReadyCh():
		}
		// A retry of establishLeadership's seeding, which a Raft
		// timeout may have failed: a no-op once a configuration is
		// stored, and only while this server leads.
		if err := s.initializeAutopilot(); err != nil {
			s.logger.Warn("initializing the autopilot configuration", "error", err)
		}
		ctx, cancel := context.WithTimeout(s.shutdownCtx, s.cfg.AutopilotHealthInterval+raftStatsTimeout)
		h, err := s.serverHealth(ctx)
		cancel()
		if err == nil {
			healthy := float32(0)
			if h.Healthy {
				healthy = 1
			}
			gometrics.SetGauge([]string{"autopilot", "healthy"}, healthy)
			gometrics.SetGauge([]string{"autopilot", "failure_tolerance"}, float32(h.FailureTolerance))
		}
		select {
		case <-s.shutdownCtx.Done():
			return
		case <-t.C:
		}
	}
}

// uiFederationDefaultWait is the wait of an Internal.UIFederation call
// that blocks without a MaxQueryTime.
const uiFederationDefaultWait = 5 * time.Minute

// internalUIFederation answers /v1/internal/ui/federation for client
// agents (operator:read), blocking while the view's index is not past
// MinQueryIndex.
func (s *Server) internalUIFederation(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.UIFederationReply) error {
	if err := s.checkToken(args.Token, acl.ResourceOperator, "", acl.AccessRead); err != nil {
		return err
	}
	if s.uiFederation == nil {
		return fmt.Errorf("server: no WAN view")
	}
	wait := args.MaxQueryTime
	if wait <= 0 {
		wait = uiFederationDefaultWait
	}
	view, idx := s.uiFederation(ctx, args.MinQueryIndex, wait)
	buf, err := json.Marshal(view)
	if err != nil {
		return err
	}
	reply.JSON, reply.Index = buf, idx
	return nil
}
