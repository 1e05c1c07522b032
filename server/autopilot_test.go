package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/raft"

	"consulate/internal/testutil"
	"consulate/structs"
)

// startAutopilotCluster starts three in-memory servers reaching each
// other through a fakeForwarder and waits for a leader.
func startAutopilotCluster(t *testing.T) []*Server {
	t.Helper()
	fwd := &fakeForwarder{servers: map[raft.ServerAddress]*Server{}, dcs: map[string]*Server{}}
	var servers []*Server
	for i, tr := range connectedTransports(3) {
		cfg := testConfig([]string{"ap1", "ap2", "ap3"}[i])
		cfg.AutopilotHealthInterval = 100 * time.Millisecond
		cfg.Autopilot.MaxTrailingLogs = 77
		s := startServer(t, cfg, Deps{Transport: tr, Servers: fwd})
		fwd.mu.Lock()
		fwd.servers[tr.LocalAddr()] = s
		fwd.mu.Unlock()
		servers = append(servers, s)
	}
	bootstrapAll(t, servers)
	return servers
}

func findLeader(servers []*Server) *Server {
	for _, s := range servers {
		if s.IsLeader() {
			return s
		}
	}
	return nil
}

// The leader seeds the autopilot configuration; set and CAS work through
// a follower; health reports three healthy servers, then one unhealthy
// once it stops; leadership moves to a given server.
func TestAutopilotCluster(t *testing.T) {
	servers := startAutopilotCluster(t)
	ctx := context.Background()
	var follower *Server
	for _, s := range servers {
		if !s.IsLeader() {
			follower = s
			break
		}
	}
	var cfg structs.AutopilotConfig
	testutil.WaitForErr(t, 5*time.Second, "seeded autopilot config", func() error {
		return follower.RPC(ctx, structs.MethodOperatorAutopilotGetConfiguration, &structs.DCSpecificRequest{}, &cfg)
	})
	if !cfg.CleanupDeadServers || cfg.MaxTrailingLogs != 77 || cfg.LastContactThreshold != 200*time.Millisecond || cfg.ModifyIndex == 0 {
		t.Fatalf("seeded config %+v", cfg)
	}
	var ok bool
	stale := cfg
	cfg.CleanupDeadServers = false
	rpc(t, follower, structs.MethodOperatorAutopilotSetConfiguration, &structs.AutopilotSetConfigRequest{Config: cfg, CAS: true}, &ok)
	if !ok {
		t.Fatal("CAS with the current index failed")
	}
	rpc(t, follower, structs.MethodOperatorAutopilotSetConfiguration, &structs.AutopilotSetConfigRequest{Config: stale, CAS: true}, &ok)
	if ok {
		t.Fatal("CAS with a stale index succeeded")
	}
	rpc(t, follower, structs.MethodOperatorAutopilotGetConfiguration, &structs.DCSpecificRequest{}, &cfg)
	if cfg.CleanupDeadServers || cfg.CreateIndex != stale.CreateIndex || cfg.ModifyIndex <= stale.ModifyIndex {
		t.Fatalf("after CAS %+v (before %+v)", cfg, stale)
	}
	if findLeader(servers).autopilotConfig().CleanupDeadServers {
		t.Fatal("the leader's dead-server cleanup does not follow the stored config")
	}

	var h structs.OperatorHealthReply
	testutil.WaitForErr(t, 5*time.Second, "three healthy servers", func() error {
		if err := follower.RPC(ctx, structs.MethodOperatorServerHealth, &structs.DCSpecificRequest{}, &h); err != nil {
			return err
		}
		if !h.Healthy || h.FailureTolerance != 1 || len(h.Servers) != 3 {
			return fmt.Errorf("health %+v", h)
		}
		return nil
	})

	// Leadership to a given server.
	old := findLeader(servers)
	var target *Server
	for _, s := range servers {
		if s != old {
			target = s
		}
	}
	var tr structs.RaftLeaderTransferResponse
	rpc(t, follower, structs.MethodOperatorRaftTransferLeader, &structs.RaftLeaderTransferRequest{ID: string(target.LocalID())}, &tr)
	if !tr.Success {
		t.Fatal("transfer not successful")
	}
	testutil.WaitFor(t, 5*time.Second, "the target leads", target.IsLeader)
	var bad structs.RaftLeaderTransferResponse
	if err := target.RPC(ctx, structs.MethodOperatorRaftTransferLeader, &structs.RaftLeaderTransferRequest{ID: "nope"}, &bad); err == nil {
		t.Fatal("transfer to an unknown ID succeeded")
	}

	// Stop a follower: the leader sees it unhealthy.
	var stopped *Server
	for _, s := range servers {
		if !s.IsLeader() {
			stopped = s
			break
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := stopped.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	testutil.WaitForErr(t, 5*time.Second, "one unhealthy server", func() error {
		l := findLeader(servers)
		if l == nil {
			return fmt.Errorf("no leader")
		}
		if err := l.RPC(ctx, structs.MethodOperatorServerHealth, &structs.DCSpecificRequest{}, &h); err != nil {
			return err
		}
		unhealthy := 0
		for _, sh := range h.Servers {
			if !sh.Healthy {
				unhealthy++
				if sh.ID != string(stopped.LocalID()) {
					return fmt.Errorf("%s unhealthy", sh.ID)
				}
			}
		}
		if h.Healthy || unhealthy != 1 || h.FailureTolerance != 0 {
			return fmt.Errorf("health %+v", h)
		}
		return nil
	})
	var st structs.AutopilotState
	rpc(t, findLeader(servers), structs.MethodOperatorAutopilotState, &structs.DCSpecificRequest{}, &st)
	if st.Healthy || len(st.Servers) != 3 || len(st.Voters) != 3 || st.Servers[st.Leader].Status != "leader" || st.OptimisticFailureTolerance != 1 {
		t.Fatalf("state %+v", st)
	}
}

// The leader emits autopilot.healthy and autopilot.failure_tolerance
// through go-metrics' global.
func TestAutopilotGauges(t *testing.T) {
	sink := gometrics.NewInmemSink(time.Minute, time.Hour)
	mcfg := gometrics.DefaultConfig("consul")
	mcfg.EnableHostname, mcfg.EnableRuntimeMetrics = false, false
	if _, err := gometrics.NewGlobal(mcfg, sink); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gometrics.NewGlobal(mcfg, &gometrics.BlackholeSink{}) })
	startAutopilotCluster(t)
	testutil.WaitForErr(t, 5*time.Second, "autopilot gauges", func() error {
		for _, iv := range sink.Data() {
			iv.RLock()
			h, hok := iv.Gauges["consul.autopilot.healthy"]
			ft, fok := iv.Gauges["consul.autopilot.failure_tolerance"]
			iv.RUnlock()
			if hok && fok && h.Value == 1 && ft.Value == 1 {
				return nil
			}
		}
		return fmt.Errorf("no healthy gauges yet")
	})
}

// operator:read reads autopilot's configuration and health; writing it
// and moving leadership need operator:write.
func TestAutopilotACL(t *testing.T) {
	s := enforcingServerDeps(t, func(c *Config) { c.AutopilotHealthInterval = 50 * time.Millisecond }, Deps{})
	none := tokenWith(t, s, "none", `node "x" { policy = "read" }`)
	reader := tokenWith(t, s, "opr", `operator = "read"`)
	writer := tokenWith(t, s, "opw", `operator = "write"`)
	var cfg structs.AutopilotConfig
	testutil.WaitForErr(t, 5*time.Second, "seeded config", func() error {
		return s.RPC(context.Background(), structs.MethodOperatorAutopilotGetConfiguration, as(reader, &structs.DCSpecificRequest{}), &cfg)
	})
	wantDenied(t, "get config", call(s, structs.MethodOperatorAutopilotGetConfiguration, as(none, &structs.DCSpecificRequest{}), &cfg))
	var h structs.OperatorHealthReply
	wantDenied(t, "health", call(s, structs.MethodOperatorServerHealth, as(none, &structs.DCSpecificRequest{}), &h))
	rpc(t, s, structs.MethodOperatorServerHealth, as(reader, &structs.DCSpecificRequest{}), &h)
	if !h.Healthy || len(h.Servers) != 1 || h.FailureTolerance != 0 {
		t.Fatalf("single server health %+v", h)
	}
	var st structs.AutopilotState
	wantDenied(t, "state", call(s, structs.MethodOperatorAutopilotState, as(none, &structs.DCSpecificRequest{}), &st))
	var ok bool
	wantDenied(t, "set config with operator:read", call(s, structs.MethodOperatorAutopilotSetConfiguration,
		as(reader, &structs.AutopilotSetConfigRequest{Config: cfg}), &ok))
	rpc(t, s, structs.MethodOperatorAutopilotSetConfiguration, as(writer, &structs.AutopilotSetConfigRequest{Config: cfg}), &ok)
	var tr structs.RaftLeaderTransferResponse
	wantDenied(t, "transfer with operator:read", call(s, structs.MethodOperatorRaftTransferLeader,
		as(reader, &structs.RaftLeaderTransferRequest{}), &tr))
	if err := call(s, structs.MethodOperatorRaftTransferLeader, as(writer, &structs.RaftLeaderTransferRequest{}), &tr); err == nil || tr.Success {
		t.Fatalf("transfer with a single voter: %v", err)
	}
	var wan structs.WANHealthReply
	wantDenied(t, "wan", call(s, structs.MethodOperatorWANHealth, as(none, &structs.DCSpecificRequest{}), &wan))
	var fed structs.UIFederationReply
	wantDenied(t, "ui federation", call(s, structs.MethodInternalUIFederation, as(none, &structs.DCSpecificRequest{}), &fed))
}

// Dead-server cleanup follows the stored configuration, not the server's
// config: off, then blocked by min_quorum, then on.
func TestAutopilotCleanupFollowsStoredConfig(t *testing.T) {
	servers := startAutopilotCluster(t)
	leader := findLeader(servers)
	var victim *Server
	for _, s := range servers {
		if s != leader {
			victim = s
		}
	}
	leader.cfg.DeadServerGrace = 0
	failed := []structs.Member{{Name: "victim", Addr: "127.0.17.9", Status: structs.StatusFailed, Tags: map[string]string{
		structs.TagRole: structs.RoleServer, structs.TagDatacenter: "dc1", structs.TagPort: "8300", structs.TagID: string(victim.LocalID())}}}
	voters := func() int {
		f := leader.raft.GetConfiguration()
		if err := f.Error(); err != nil {
			t.Fatal(err)
		}
		return len(f.Configuration().Servers)
	}
	var cfg structs.AutopilotConfig
	testutil.WaitForErr(t, 5*time.Second, "seeded config", func() error {
		return leader.RPC(context.Background(), structs.MethodOperatorAutopilotGetConfiguration, &structs.DCSpecificRequest{}, &cfg)
	})
	set := func(c structs.AutopilotConfig) {
		var ok bool
		rpc(t, leader, structs.MethodOperatorAutopilotSetConfiguration, &structs.AutopilotSetConfigRequest{Config: c}, &ok)
	}
	cfg.CleanupDeadServers = false
	set(cfg)
	leader.reconcileRaft(failed)
	if n := voters(); n != 3 {
		t.Fatalf("cleanup off: %d servers", n)
	}
	cfg.CleanupDeadServers, cfg.MinQuorum = true, 3
	set(cfg)
	leader.reconcileRaft(failed)
	if n := voters(); n != 3 {
		t.Fatalf("min_quorum 3: %d servers", n)
	}
	cfg.MinQuorum = 0
	set(cfg)
	leader.reconcileRaft(failed)
	if n := voters(); n != 2 {
		t.Fatalf("cleanup on: %d servers", n)
	}
}

// TestAutopilotInitRetried: when seeding the autopilot configuration fails
// at leadership (a Raft timeout), the leader retries it instead of
// answering "not initialized" until the next election.
func TestAutopilotInitRetried(t *testing.T) {
	cfg := testConfig("apinit")
	cfg.Bootstrap = true
	cfg.AutopilotHealthInterval = 50 * time.Millisecond
	s, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	s.apInitFails.Store(3)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	waitLeader(t, s)
	testutil.WaitFor(t, 10*time.Second, "the autopilot configuration stored", func() bool {
		_, c, err := s.State().AutopilotConfig(nil)
		return err == nil && c != nil
	})
	if n := s.apInitFails.Load(); n > 0 {
		t.Errorf("%d injected failures left", n)
	}
}
