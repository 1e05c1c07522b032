package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"consulate/cache"
	"consulate/dns"
	"consulate/federation"
	"consulate/httpapi"
	"consulate/local"
	"consulate/server"
	"consulate/structs"
	"consulate/ui"
	"consulate/userevent"
	"consulate/views"
)

// startServer opens the server port and builds the server on it: the
// server serves the port itself (RPC, Raft, multiplex); cross-datacenter
// calls go through the federation router, calls to the local leader
// through the connection pool.
func (a *Agent) startServer() error {
	rt := a.cfg
	rcfg := federation.DefaultConfig()
	rcfg.LocalDC = rt.Datacenter
	rcfg.Logger = a.base
	if a.gwDialer != nil {
		// operator wan and the UI show the local gateways' routes.
		rcfg.GatewayRoutes = gatewayRoutes(a.gwDialer)
	}
	var err error
	// The WAN pool starts after the server (nil until then, or for good
	// with the WAN port disabled): no coordinates, no distances.
	a.router, err = federation.New(rcfg, a.pool, func(name string) (time.Duration, bool) { return a.wan.RTT(name) })
	if err != nil {
		return err
	}
	scfg := server.DefaultConfig()
	scfg.NodeName = rt.NodeName
	scfg.NodeID = a.nodeID
	scfg.Datacenter = rt.Datacenter
	scfg.DataDir = a.dataDir()
	scfg.RaftLogStore = rt.RaftLogStoreBackend
	scfg.RaftBoltNoFreelistSync = rt.RaftBoltNoFreelistSync
	scfg.Bootstrap = rt.Bootstrap || rt.DevMode
	scfg.BootstrapExpect = rt.BootstrapExpect
	scfg.Logger = a.base
	scfg.RPC.AdvertiseAddr = rt.RPCAdvertiseAddr()
	scfg.RPC.SourceAddr = rt.BindAddr
	scfg.RPC.MaxConnsPerClient = rt.RPCMaxConnsPerClient
	scfg.RPC.HandshakeTimeout = rt.RPCHandshakeTimeout
	scfg.RPC.TLS = a.tls.IncomingRPCConfig
	scfg.RPC.RequireTLS = a.tls.RequireIncomingRPCTLS
	scfg.RPC.RaftDialTLS = func() (*tls.Config, error) { return a.tls.OutgoingRPCConfig(rt.Datacenter) }
	scfg.RPC.VerifyRaftPeer = a.tls.VerifyServerPeer
	if a.gwTransport != nil {
		scfg.RPC.Gossip = a.gwTransport.HandleConn
		scfg.RPC.VerifyGossipPeer = a.tls.VerifyAnyServerPeer
	}
	if a.gatewayMode() {
		scfg.RPC.LimitExempt = a.isLocalGatewayIP
	}
	scfg.UserEventSizeLimit = userevent.SizeLimit
	scfg.RequestLimitsMode = rt.RequestLimitsMode
	scfg.RequestLimitsReadRate = rt.RequestLimitsReadRate
	scfg.RequestLimitsWriteRate = rt.RequestLimitsWriteRate
	scfg.RaftConfig = raftConfig(rt.RaftMultiplier, rt.DevMode)
	raftLogConfig(scfg.RaftConfig, rt)
	scfg.CleanupDeadServers = rt.AutopilotCleanupDeadServers
	scfg.SessionTTLMin = rt.SessionTTLMin
	scfg.Autopilot = autopilotSeed(rt)
	scfg.ACLsEnabled = rt.ACLsEnabled
	scfg.ACLDefaultPolicy = rt.ACLDefaultPolicy
	scfg.ACLEnableKeyListPolicy = rt.ACLEnableKeyListPolicy
	scfg.PrimaryDatacenter = rt.PrimaryDatacenter
	scfg.ACLInitialManagementToken = rt.ACLTokens.InitialManagement
	scfg.ACLTokenReplication = rt.ACLEnableTokenReplication
	scfg.ACLReplicationToken = rt.ACLTokens.Replication
	scfg.AutoEncryptAllowTLS = rt.TLS.AutoEncryptAllowTLS
	scfg.Domain = strings.TrimSuffix(rt.DNSDomain, ".")
	ln, err := net.Listen("tcp", rt.RPCBindAddr().String())
	if err != nil {
		return fmt.Errorf("server port: %w", err)
	}
	srv, err := server.New(scfg, server.Deps{
		Listener:       ln,
		Servers:        a.pool,
		Forwarder:      a.router,
		Events:         a.lan,
		WANCoordinates: a.wanCoordinates,
		Members:        a.lanMembers,
		LANKeyring:     a.lan,
		WANKeyring:     server.KeyringFunc(a.wanKeyring),
		AutoEncrypt:    a.tls,
		WANHealth:      a.serverWANHealth,
		UIFederation:   a.uiFederation,
	})
	if err != nil {
		ln.Close()
		return err
	}
	a.server = srv
	return srv.Start(context.Background())
}

// raftConfig is Raft's configuration for raft_multiplier m.
func raftConfig(m int, dev bool) *raft.Config {
	rc := raft.DefaultConfig()
	if m > 1 {
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
	if m <= 1 {
		rc.HeartbeatTimeout = 500 * time.Millisecond
		rc.ElectionTimeout = 500 * time.Millisecond
		rc.LeaderLeaseTimeout = 250 * time.Millisecond
	}
	// A dev agent is the only voter of an in-memory cluster: nobody else
	// can lead, so waiting a production heartbeat timeout before the
	// election only delays the first write (Consul's dev agent leads in
	// about 0.3 s).
	// Applies that arrive while the leader writes a batch queue up for
	// the next one without blocking their callers (BatchApplyCh), and a
	// batch (one log append, one fsync) takes up to 128 of them.
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 128
	// The lease cannot make a single voter step down (it always has its
	// own vote), so the timers only set how soon it elects itself: 10-20
	// ms after Raft starts.
	if dev {
		rc.HeartbeatTimeout = 10 * time.Millisecond
		rc.ElectionTimeout = 10 * time.Millisecond
		rc.LeaderLeaseTimeout = 10 * time.Millisecond
	}
	return rc
}

// RPC sends a call to the servers: in-process on a server, else to a
// server of this datacenter chosen from the LAN pool, within the client's
// limits.rpc_rate (as Consul, the limit is on what a client agent sends).
//
// On a client, health reads a live view can answer (package views) are
// answered from it first: they cost no server and no rate limit.
func (a *Agent) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	// ?cached reads the agent cache knows (servers too, as Consul); its
	// own fetches come back here without UseCache.
	if a.agentCache != nil {
		if handled, err := a.agentCache.RPC(ctx, method, args, reply); handled {
			return err
		}
	}
	if a.server != nil {
		return a.server.RPC(ctx, method, args, reply)
	}
	if a.views != nil {
		if handled, err := a.views.RPC(ctx, method, args, reply); handled {
			return err
		}
		epoch := a.views.Epoch()
		err := a.callServers(ctx, method, args, reply)
		if err == nil {
			a.views.Observe(epoch, method, args, reply)
		}
		a.views.NoteWrite(method)
		return err
	}
	return a.callServers(ctx, method, args, reply)
}

// callServers sends a call to a server of this datacenter, within the
// client's limits.rpc_rate.
func (a *Agent) callServers(ctx context.Context, method structs.Method, args, reply any) error {
	if a.rpcRate != nil && !a.rpcRate.Allow() {
		return fmt.Errorf("%w: RPC rate limit exceeded (limits.rpc_rate %g/s, rpc_max_burst %d)",
			structs.ErrRateLimited, a.cfg.RPCRate, a.cfg.RPCMaxBurst)
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
	lc.CheckOutputMaxSize = rt.CheckOutputMaxSize
	lc.Logger = a.base
	// Retry a failed sync soon: at start-up the first one often races
	// the first election.
	lc.SyncRetryInterval = time.Second
	// Every call of the local state carries the token it picks: a
	// service or check its registration's (then, as Consul falls back,
	// config_file_service_registration for config files, then the
	// default token), the node's info and the catalog reads the agent
	// token; alias checks read other nodes with their check's, never
	// the agent's. So its RPC must not fill in one of its own.
	lc.Tokens = a.tokens
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

// startCache builds the DNS cache. Reads for other datacenters go through
// to the servers (cache.Config.Reachable is nil; see there why).
func (a *Agent) startCache() error {
	cc := cache.DefaultConfig()
	cc.LocalDC = a.cfg.Datacenter
	cc.Logger = a.base
	var err error
	// DNS reads (the cache's only user) carry the default token.
	a.cache, err = cache.New(cc, a.rpcWithToken(a.tokens.UserToken))
	return err
}

// buildReadPaths builds what Agent.RPC consults before the servers: the
// agent cache behind ?cached, and on a client the live views. Built
// before anything that calls RPC starts, so RPC reads them unlocked.
func (a *Agent) buildReadPaths() error {
	// ?cached: the requests carry their token already.
	ac := cache.DefaultAgentConfig()
	ac.Logger = a.base
	var err error
	if a.agentCache, err = cache.NewAgent(ac, a.RPC); err != nil {
		return err
	}
	return a.startViews()
}

// streamFunc is a streaming call to this datacenter's servers, the shape
// of federation.LocalServers.Stream.
type streamFunc func(ctx context.Context, method structs.Method, args any,
	newFrame func() any, recv func(frame any) error) error

// subscribeVia makes the views' subscriptions streaming calls of
// Subscribe.ServiceHealth through stream.
func subscribeVia(stream streamFunc) views.SubscribeFunc {
	return func(ctx context.Context, req *structs.SubscribeRequest, recv func(*structs.ServiceHealthEvent) error) error {
		return stream(ctx, structs.MethodSubscribeServiceHealth, req,
			func() any { return new(structs.ServiceHealthEvent) },
			func(f any) error { return recv(f.(*structs.ServiceHealthEvent)) })
	}
}

// startViews builds a client's live views (use_streaming_backend, on by
// default; servers read their own store and have none).
func (a *Agent) startViews() error {
	if a.cfg.ServerMode || !a.cfg.UseStreamingBackend {
		return nil
	}
	vc := views.DefaultConfig()
	vc.LocalDC = a.cfg.Datacenter
	var err error
	a.views, err = views.New(vc, views.Deps{
		Subscribe:   subscribeVia(a.localServersStream()),
		Coordinates: a.nodeCoordinates,
		NodeName:    a.cfg.NodeName,
		Logger:      a.base,
	})
	return err
}

// nodeCoordinates reads dc's LAN coordinates for ?near= sorting in the
// views (with the agent token, as the agent's own reads).
func (a *Agent) nodeCoordinates(ctx context.Context, dc string) (structs.Coordinates, error) {
	req := &structs.DCSpecificRequest{Datacenter: dc, QueryOptions: structs.QueryOptions{
		Token: a.tokens.AgentToken(), AllowStale: true}}
	var out structs.IndexedCoordinates
	if err := a.localServers.Call(ctx, structs.MethodCoordinateListNodes, req, &out); err != nil {
		return nil, err
	}
	return out.Coordinates, nil
}

// wanCoordinates answers Coordinate.ListDatacenters from the WAN pool:
// empty when there is none (the WAN port disabled, or not started yet).
func (a *Agent) wanCoordinates() []*structs.DatacenterMap {
	return a.wan.DatacenterCoordinates(a.router.Datacenters())
}

// wanHealth answers /v1/operator/wan (servers only).
func (a *Agent) wanHealth(ctx context.Context) (any, error) {
	return a.router.HealthWithLeaders(ctx, a.RPC), nil
}

// startFrontEnds starts the HTTP API and the DNS server.
func (a *Agent) startFrontEnds() error {
	rt := a.cfg
	httpAddrs, httpsAddrs := rt.HTTPAddrs(), rt.HTTPSAddrs()
	if len(httpAddrs)+len(httpsAddrs) > 0 {
		hc := httpapi.DefaultConfig()
		hc.Metrics = a.metricsJSON
		hc.Prometheus = a.metricsPrometheus()
		if rt.UIEnabled {
			hc.UI = ui.FS()
		}
		hc.Monitor = a.Monitor
		hc.Datacenter = rt.Datacenter
		hc.NodeName = rt.NodeName
		hc.TranslateWANAddrs = rt.TranslateWANAddrs
		hc.MaxConnsPerClient = rt.HTTPMaxConnsPerClient
		hc.DefaultQueryTime, hc.MaxQueryTime, hc.SessionTTLMin = rt.DefaultQueryTime, rt.MaxQueryTime, rt.SessionTTLMin
		hc.EnableDebug, hc.ACLsEnabled = rt.EnableDebug, rt.ACLsEnabled
		applyHTTPConfig(&hc, rt)
		if len(httpsAddrs) > 0 {
			hc.HTTPSConfig = a.tls.IncomingHTTPSConfig
		}
		if a.server != nil {
			hc.WANHealth = a.wanHealth
			hc.UIFederation = a.uiFederation
		}
		var err error
		if a.http, err = httpapi.New(hc, &httpAgent{a: a}, a.base); err != nil {
			return err
		}
		if err := a.http.Start(httpAddrs); err != nil {
			return fmt.Errorf("HTTP API: %w", err)
		}
		if len(httpsAddrs) > 0 {
			if err := a.http.StartHTTPS(httpsAddrs); err != nil {
				return fmt.Errorf("HTTPS API: %w", err)
			}
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
		dc.QueryExecutor = dns.NewRPCQueries(a.rpcWithToken(a.tokens.UserToken))
		dc.Metrics = a.metrics.Metrics()
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
		a.notifyServiceManager(sdStopping)
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
		if a.agentCache != nil {
			a.agentCache.Shutdown(ctx)
		}
		if a.views != nil {
			a.views.Shutdown(ctx)
		}
		a.shutdownRemoteExec(ctx)
		if a.state != nil {
			a.state.Shutdown(ctx)
		}
		if a.wan != nil {
			a.wan.Shutdown(ctx)
		}
		if a.gwTransport != nil {
			// The WAN pool shuts it down, unless the pool never started
			// (startWAN failed after the server port was serving): then
			// its incoming gossip handlers would hold the port's
			// Shutdown up.
			if err := a.gwTransport.Shutdown(); err != nil {
				a.logger.Warn("WAN gateway transport shutdown", "error", err)
			}
		}
		if a.gateway != nil {
			a.gateway.Shutdown(ctx)
		}
		if a.lan != nil {
			a.lan.Shutdown(ctx)
		}
		if a.server != nil {
			a.server.Shutdown(ctx)
		}
		if a.autoEncrypt != nil {
			a.autoEncrypt.Shutdown(ctx)
		}
		if a.pool != nil {
			a.pool.Shutdown(ctx)
		}
		if a.metrics != nil {
			a.metrics.Shutdown(ctx)
		}
		a.wg.Wait()
		removePIDFile(a.cfg.PidFile)
		a.closeLogs()
		close(a.shutdownCh)
	})
	return nil
}

// localServersStream is the stream transport the live views subscribe
// through: this datacenter's servers, as every other client call.
func (a *Agent) localServersStream() streamFunc { return a.localServers.Stream }
