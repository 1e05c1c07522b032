package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"consulate/cache"
	"consulate/dns"
	"consulate/federation"
	"consulate/httpapi"
	"consulate/local"
	"consulate/rpcmux"
	"consulate/server"
	"consulate/structs"
	"consulate/ui"
)

// startServer opens the server port and builds the Raft server on it.
func (a *Agent) startServer() error {
	rt := a.cfg
	ln, err := net.Listen("tcp", rt.RPCBindAddr().String())
	if err != nil {
		return fmt.Errorf("server port: %w", err)
	}
	a.rpcLn = ln
	h := &serverHandler{a: a}
	mcfg := rpcmux.DefaultConfig()
	mcfg.AdvertiseAddr = rt.RPCAdvertiseAddr()
	mcfg.SourceAddr = rt.BindAddr
	mcfg.MaxConnsPerClient = rt.RPCMaxConnsPerClient
	mcfg.HandshakeTimeout = rt.RPCHandshakeTimeout
	a.mux = rpcmux.New(mcfg, h, a.base)

	rcfg := federation.DefaultConfig()
	rcfg.LocalDC = rt.Datacenter
	rcfg.Logger = a.base
	a.router, err = federation.New(rcfg, a.pool, a.wanRTT)
	if err != nil {
		return err
	}

	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  a.mux.RaftLayer(),
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hclog.New(&hclog.LoggerOptions{Name: "raft-net", Output: io.Discard}),
	})
	scfg := server.DefaultConfig()
	scfg.NodeName = rt.NodeName
	scfg.NodeID = a.nodeID
	scfg.Datacenter = rt.Datacenter
	scfg.DataDir = a.dataDir()
	scfg.Bootstrap = rt.Bootstrap || rt.DevMode
	scfg.BootstrapExpect = rt.BootstrapExpect
	scfg.Logger = a.base
	rc := raft.DefaultConfig()
	if m := rt.RaftMultiplier; m > 1 {
		rc.HeartbeatTimeout *= time.Duration(m)
		rc.ElectionTimeout *= time.Duration(m)
		rc.LeaderLeaseTimeout *= time.Duration(m)
	}
	// raft_multiplier=1 (the default): half of Consul's timers. A
	// follower notices a dead leader between H and 3H after its last
	// heartbeat (its timer is random in [H, 2H) and rearms until H has
	// passed), and a candidate whose pre-vote the other follower refuses
	// (it still knows the old leader) waits one more election timeout. With
	// Consul's 1 s that is up to 4–5 s without writes (measured by
	// chaos/: 2.6 s median, 4.0 s max over 12 leader kills); with 500 ms
	// the worst case fits the 3 s the project promises. The lease (250 ms)
	// is how soon a cut-off leader stops answering ?consistent reads.
	if rt.RaftMultiplier <= 1 {
		rc.HeartbeatTimeout = 500 * time.Millisecond
		rc.ElectionTimeout = 500 * time.Millisecond
		rc.LeaderLeaseTimeout = 250 * time.Millisecond
	}
	// A dev agent is the only voter of an in-memory cluster: nobody else
	// can lead, so waiting a production heartbeat timeout before the
	// election only delays the first write (Consul's dev agent leads in
	// about 0.3 s).
	if rt.DevMode {
		rc.HeartbeatTimeout = 50 * time.Millisecond
		rc.ElectionTimeout = 50 * time.Millisecond
		rc.LeaderLeaseTimeout = 50 * time.Millisecond
	}
	if a.opts.Timing != nil && a.opts.Timing.Raft != nil {
		a.opts.Timing.Raft(rc)
	}
	scfg.RaftConfig = rc
	scfg.CleanupDeadServers = rt.AutopilotCleanupDeadServers
	if a.opts.Timing != nil && a.opts.Timing.ReconcileTick > 0 {
		scfg.ReconcileInterval = a.opts.Timing.ReconcileTick
	}
	srv, err := server.New(scfg, server.Deps{Transport: trans, Forwarder: &forwarder{a: a}, Members: a.lanMembers})
	if err != nil {
		return err
	}
	a.server = srv
	// Raft first: the port must not hand calls to a server not started.
	if err := srv.Start(context.Background()); err != nil {
		return err
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.mux.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, rpcmux.ErrClosed) {
			a.logger.Error("server port stopped", "error", err)
		}
	}()
	return nil
}

// forwarder adapts the federation router to server.Forwarder.
type forwarder struct{ a *Agent }

func (f *forwarder) ForwardDC(ctx context.Context, dc, method string, args, reply any) error {
	return f.a.router.ForwardDC(ctx, dc, method, args, reply)
}

func (f *forwarder) ForwardLeader(ctx context.Context, addr raft.ServerAddress, method string, args, reply any) error {
	return f.a.router.ForwardLeader(ctx, string(addr), method, args, reply)
}

func (f *forwarder) KnownDatacenters() []string { return f.a.router.KnownDatacenters() }

func (f *forwarder) FailoverOrder(nearestN int, listed []string) []string {
	return f.a.router.FailoverOrder(nearestN, listed)
}

// serverHandler serves the RPC port: the server's endpoints plus the few
// calls that need the agent's gossip pools.
type serverHandler struct{ a *Agent }

func (h *serverHandler) NewCall(method string) (args, reply any, ok bool) {
	switch method {
	case structs.MethodEventFire:
		return &structs.EventFireRequest{}, &structs.EventFireResponse{}, true
	case structs.MethodCoordinateListDatacenters:
		return &structs.DCSpecificRequest{}, &[]*structs.DatacenterMap{}, true
	}
	return h.a.server.NewCall(method)
}

func (h *serverHandler) RPC(ctx context.Context, method string, args, reply any) error {
	return h.a.serverRPC(ctx, method, args, reply)
}

// serverRPC answers a call on a server: events are fired into this
// datacenter's LAN pool, everything else goes to the server.
func (a *Agent) serverRPC(ctx context.Context, method string, args, reply any) error {
	if method == structs.MethodEventFire {
		req := args.(*structs.EventFireRequest)
		if req.Datacenter != "" && req.Datacenter != a.cfg.Datacenter {
			return a.router.ForwardDC(ctx, req.Datacenter, method, args, reply)
		}
		return a.fireLocalEvent(req)
	}
	if method == structs.MethodCoordinateListDatacenters {
		*reply.(*[]*structs.DatacenterMap) = a.wanCoordinates()
		return nil
	}
	return a.server.RPC(ctx, method, args, reply)
}

// RPC sends a call to the servers: in-process on a server, else to a
// server of this datacenter chosen from the LAN pool.
func (a *Agent) RPC(ctx context.Context, method string, args, reply any) error {
	if a.server != nil {
		return a.serverRPC(ctx, method, args, reply)
	}
	return a.localServers.Call(ctx, method, args, reply)
}

// startLocal builds the agent's local state, restores what was persisted
// and adds the services and checks from the config files.
func (a *Agent) startLocal(ctx context.Context) error {
	rt := a.cfg
	lc := local.DefaultConfig()
	lc.NodeName = rt.NodeName
	lc.NodeID = a.nodeID
	lc.Datacenter = rt.Datacenter
	lc.Address = rt.AdvertiseAddrLAN.String()
	lc.TaggedAddresses = map[string]string{"lan": rt.AdvertiseAddrLAN.String(), "wan": rt.AdvertiseAddrWAN.String()}
	lc.NodeMeta = rt.NodeMeta
	lc.DataDir = a.dataDir()
	lc.EnableScriptChecks = rt.EnableScriptChecks
	lc.EnableLocalScriptChecks = rt.EnableLocalScriptChecks
	lc.CheckUpdateInterval = rt.CheckUpdateInterval
	lc.Logger = a.base
	// Retry a failed sync soon: at start-up the first one often races
	// the first election.
	lc.SyncRetryInterval = time.Second
	if a.opts.Timing != nil && a.opts.Timing.SyncInterval > 0 {
		lc.SyncInterval = a.opts.Timing.SyncInterval
	}
	st, err := local.New(lc, a.RPC)
	if err != nil {
		return err
	}
	a.state = st
	if err := st.ReplaceConfigServices(rt.Services, rt.Checks); err != nil {
		return err
	}
	st.Start(ctx)
	return nil
}

// startFrontEnds starts the HTTP API and the DNS server.
func (a *Agent) startFrontEnds() error {
	rt := a.cfg
	// Before the HTTP API, whose metrics read the cache's counts.
	cc := cache.DefaultConfig()
	cc.LocalDC = rt.Datacenter
	cc.Logger = a.base
	cc.Reachable = remoteFromMemory
	a.cache = cache.New(cc, a.RPC)
	if addrs := rt.HTTPAddrs(); len(addrs) > 0 {
		hc := httpapi.DefaultConfig()
		hc.Metrics = a.metricsJSON
		hc.PrometheusText = a.metricsPrometheus
		if rt.UIEnabled {
			hc.UI = ui.FS()
		}
		hc.Monitor = a.Monitor
		hc.Datacenter = rt.Datacenter
		hc.TranslateWANAddrs = rt.TranslateWANAddrs
		if a.server != nil {
			hc.WANHealth = a.wanHealth
		}
		a.http = httpapi.New(hc, &httpAgent{a: a}, a.base)
		if err := a.http.Start(addrs); err != nil {
			return fmt.Errorf("HTTP API: %w", err)
		}
	}
	for _, addr := range rt.DNSAddrs() {
		dc := dns.DefaultConfig()
		dc.Datacenter = rt.Datacenter
		dc.NodeName = rt.NodeName
		dc.Domain = rt.DNSDomain
		dc.AltDomain = rt.DNSAltDomain
		dc.NodeTTL = rt.DNSNodeTTL
		dc.ServiceTTL = rt.DNSServiceTTL
		dc.AllowStale = rt.DNSAllowStale
		dc.MaxStale = rt.DNSMaxStale
		dc.OnlyPassing = rt.DNSOnlyPassing
		dc.EnableTruncate = rt.DNSEnableTruncate
		dc.UDPAnswerLimit = rt.DNSUDPAnswerLimit
		dc.ARecordLimit = rt.DNSARecordLimit
		dc.Recursors = rt.DNSRecursors
		dc.RecursorTimeout = rt.DNSRecursorTimeout
		dc.SOA = dns.SOAConfig{Refresh: rt.DNSSOA.Refresh, Retry: rt.DNSSOA.Retry, Expire: rt.DNSSOA.Expire, MinTTL: rt.DNSSOA.MinTTL}
		dc.TranslateWANAddrs = rt.TranslateWANAddrs
		dc.QueryExecutor = &dnsQueries{a: a}
		srv, err := dns.New(dc, a.cache, a.base)
		if err != nil {
			return err
		}
		if err := srv.Start(addr, addr); err != nil {
			return fmt.Errorf("DNS on %s: %w", addr, err)
		}
		a.dns = append(a.dns, srv)
	}
	return nil
}

// Shutdown stops everything in reverse order of start. It does not leave
// the cluster; call Leave first for a graceful exit.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.shutdownOnce.Do(func() {
		a.logger.Info("shutting down agent")
		if a.cancel != nil {
			a.cancel()
		}
		for _, d := range a.dns {
			d.Shutdown(ctx)
		}
		if a.http != nil {
			a.http.Shutdown(ctx)
		}
		if a.cache != nil {
			a.cache.Shutdown(ctx)
		}
		if a.state != nil {
			a.state.Shutdown(ctx)
		}
		if a.wan != nil {
			a.wan.Shutdown(ctx)
		}
		if a.lan != nil {
			a.lan.Shutdown(ctx)
		}
		if a.server != nil {
			a.server.Shutdown(ctx)
		}
		if a.mux != nil {
			a.mux.Shutdown(ctx)
		}
		if a.pool != nil {
			a.pool.Shutdown(ctx)
		}
		a.wg.Wait()
		removePIDFile(a.cfg.PidFile)
		close(a.shutdownCh)
	})
	return nil
}
