package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"consulate/acl"
	"consulate/autoencrypt"
	"consulate/cache"
	"consulate/config"
	"consulate/dns"
	"consulate/federation"
	"consulate/gateway"
	"consulate/httpapi"
	"consulate/internal/notify"
	"consulate/lan"
	"consulate/local"
	"consulate/metrics"
	"consulate/rexec"
	"consulate/rpcmux"
	"consulate/server"
	"consulate/structs"
	"consulate/tlsutil"
	"consulate/tokenstore"
	"consulate/userevent"
	"consulate/views"
	"consulate/wan"
)

// Options carry what the agent needs beyond the runtime config.
type Options struct {
	// Version is reported in gossip tags (Build) and /v1/agent/self.
	Version string
	// Revision and BuildDate describe the build for /v1/agent/self and
	// /v1/agent/version ("" when unknown).
	Revision, BuildDate string
	// LoadOpts re-read the configuration on reload.
	LoadOpts config.LoadOpts
	// Logger; nil builds one from the config on LogOutput.
	Logger *slog.Logger
	// LogOutput is where logs go when Logger is nil (stderr by default).
	LogOutput io.Writer

	// syslogNet and syslogAddr replace the local syslog daemon in tests.
	syslogNet, syslogAddr string
}

// Agent is one running consulate agent.
type Agent struct {
	cfg  *config.Runtime
	opts Options
	// base is handed to the pieces, which add their own component.
	base   *slog.Logger
	logger *slog.Logger
	nodeID string

	tls          *tlsutil.Configurator
	autoEncrypt  *autoencrypt.Client // auto_encrypt.tls on a client; nil otherwise
	rpcRate      *rate.Limiter       // limits.rpc_rate on a client; nil when unlimited
	pool         *rpcmux.Pool
	server       *server.Server
	router       *federation.Router
	localServers *federation.LocalServers
	lan          *lan.Pool
	wan          *wan.Pool
	gateway      *gateway.Gateway // gateway.enabled; nil otherwise
	// gwDialer and gwTransport: a server federated through gateways
	// (see gatewayfed.go); nil otherwise.
	gwDialer    *gateway.Dialer
	gwTransport *wan.GatewayTransport
	// gwLocal caches this datacenter's gateways (and servers, for the
	// gateway) from the LAN members, refreshed on every LAN event
	// (refreshLocalGateways); nil until the first.
	gwLocal atomic.Pointer[localGateways]
	// lanKeys and wanKeys are the pools' gossip keys at start, the primary
	// first (see keyring.go).
	lanKeys, wanKeys [][]byte
	state            *local.State
	http             *httpapi.Server
	dns              []*dns.Server
	cache            *cache.Cache
	agentCache       *cache.Agent // ?cached reads
	views            *views.Store // live health views on a client; nil on servers or with use_streaming_backend off

	// tokens are the agent's ACL tokens; resolver decides tokens on the
	// agent-local endpoints (nil with ACLs off).
	tokens   *tokenstore.Store
	resolver *acl.Resolver

	events  *userevent.Inbox
	rexec   *rexec.Executor // remote exec jobs; nil with disable_remote_exec (see rexec.go)
	logs    *logHub
	changes *notify.Broadcast
	metrics *metrics.Registry

	// logClose closes the log file and syslog connection; nil when
	// Options.Logger was given.
	logClose io.Closer
	// logLevel is the level of the agent's own logger, which a reload
	// changes; nil when Options.Logger was given.
	logLevel *slog.LevelVar

	shutdownOnce sync.Once
	shutdownCh   chan struct{}
	wg           sync.WaitGroup
	cancel       context.CancelFunc
}

// New builds an agent from a validated runtime configuration. Nothing
// listens until Start.
func New(rt *config.Runtime, opts Options) (_ *Agent, err error) {
	hub := newLogHub()
	logger := opts.Logger
	var logClose io.Closer
	var logLevel *slog.LevelVar
	if logger == nil {
		out := opts.LogOutput
		if out == nil {
			out = os.Stderr
		}
		setup := agentLogSetup(rt, opts, out, hub)
		setup.levelVar = new(slog.LevelVar)
		logLevel = setup.levelVar
		if logger, logClose, err = newLogger(setup); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				logClose.Close()
			}
		}()
	}
	if opts.Version == "" {
		opts.Version = "0.0.0-dev"
	}
	a := &Agent{
		cfg: rt, opts: opts, base: logger, logger: logger.With("component", "agent"),
		logs:       hub,
		logClose:   logClose,
		logLevel:   logLevel,
		changes:    notify.New(),
		shutdownCh: make(chan struct{}),
	}
	a.events = userevent.NewInbox(userevent.InboxConfig{
		NodeName: rt.NodeName, Services: a.localServices, OnEvent: a.changes.Notify, Logger: a.logger,
		Deliver: a.deliverEvent,
	})
	if !rt.DevMode && rt.DataDir != "" {
		if err := os.MkdirAll(rt.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}
	id, err := resolveNodeID(rt.NodeID, a.dataDir())
	if err != nil {
		return nil, err
	}
	a.nodeID = id
	if err := a.resolveKeyrings(); err != nil {
		return nil, err
	}
	if a.tokens, err = newTokenStore(rt, a.dataDir(), a); err != nil {
		return nil, err
	}
	if rt.ACLsEnabled {
		if a.resolver, err = a.newResolver(); err != nil {
			return nil, err
		}
	}
	// Certificates are loaded (and every problem named with its key and
	// file) before anything listens.
	if a.tls, err = tlsutil.NewConfigurator(tlsConfig(rt), a.base); err != nil {
		return nil, err
	}
	// The remote exec executor exists before gossip can deliver events
	// (deliverEvent reads a.rexec without a lock).
	if err := a.buildRemoteExec(); err != nil {
		return nil, err
	}
	for _, w := range rt.Warnings {
		a.logger.Warn(w)
	}
	a.warnMissingAgentToken()
	return a, nil
}

// localServices lists the agent's services, for user event filters;
// none before the local state exists.
func (a *Agent) localServices() map[string]*structs.NodeService {
	if a.state == nil {
		return nil
	}
	return a.state.Services()
}

// dataDir is "" in dev mode, where nothing is persisted.
func (a *Agent) dataDir() string {
	if a.cfg.DevMode {
		return ""
	}
	return a.cfg.DataDir
}

// NodeID is this agent's node ID.
func (a *Agent) NodeID() string { return a.nodeID }

// ShutdownCh is closed when the agent has shut down (after a leave
// through the API, for instance).
func (a *Agent) ShutdownCh() <-chan struct{} { return a.shutdownCh }

// Start builds and starts every piece, in dependency order. On error
// whatever started is stopped again.
func (a *Agent) Start(ctx context.Context) (err error) {
	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	defer func() {
		if err != nil {
			sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
			defer c()
			a.Shutdown(sctx)
		}
	}()
	rt := a.cfg
	pcfg := rpcmux.DefaultPoolConfig()
	pcfg.SourceAddr = rt.BindAddr
	pcfg.TLS = func(dc structs.Datacenter) (*tls.Config, error) { return a.tls.OutgoingRPCConfig(string(dc)) }
	if rt.RPCRate > 0 && !math.IsInf(rt.RPCRate, 1) {
		a.rpcRate = rate.NewLimiter(rate.Limit(rt.RPCRate), rt.RPCMaxBurst)
	}
	if err := a.buildGatewayFederation(); err != nil {
		return err
	}
	if a.gwDialer != nil {
		pcfg.Dialer = a.gatewayPoolDialer()
		pcfg.MinDialTime = a.gatewayMinDialTime
	}
	if a.pool, err = rpcmux.NewPool(pcfg, a.base); err != nil {
		return err
	}
	a.localServers = federation.NewLocalServers(a.pool, structs.Datacenter(rt.Datacenter))
	if err := a.buildReadPaths(); err != nil {
		return err
	}
	// auto_encrypt: the certificate comes before anything talks to the
	// servers.
	if err := a.startAutoEncrypt(ctx); err != nil {
		return err
	}

	if err := a.startMetrics(); err != nil {
		return err
	}
	if err := a.startLAN(); err != nil {
		return err
	}
	if err := a.startGateway(); err != nil {
		return err
	}
	if rt.ServerMode {
		if err := a.startServer(); err != nil {
			return err
		}
	}
	if rt.ServerMode {
		if err := a.startWAN(); err != nil {
			return err
		}
	}
	if err := a.startLocal(runCtx); err != nil {
		return err
	}
	if err := a.startCache(); err != nil {
		return err
	}
	if a.server != nil {
		// Sync as soon as there is a leader instead of waiting for the
		// retry after a first sync that raced the election.
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if _, err := a.server.WaitForLeader(runCtx); err == nil {
				a.state.SyncFull(runCtx)
			}
		}()
	}
	a.registerCollectors()
	if err := a.startFrontEnds(); err != nil {
		return err
	}
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		a.watchLocal(runCtx)
	}()
	go func() {
		defer a.wg.Done()
		a.sendCoordinates(runCtx, 10*time.Second)
	}()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.lanEventLoop(runCtx)
	}()
	if a.wan != nil {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.wanEventLoop(runCtx)
		}()
	}
	if err := a.startJoins(ctx, runCtx); err != nil {
		return err
	}
	if err := writePIDFile(rt.PidFile); err != nil {
		return err
	}
	a.logger.Info("agent started", "node", rt.NodeName, "datacenter", rt.Datacenter,
		"server", rt.ServerMode, "node_id", a.nodeID, "version", a.opts.Version)
	a.notifyServiceManager(sdReady)
	return nil
}

func (a *Agent) rpcAddr() string {
	return net.JoinHostPort(a.cfg.AdvertiseAddrLAN.String(), strconv.Itoa(a.cfg.ServerPort))
}
