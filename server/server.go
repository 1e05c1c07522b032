package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-uuid"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	walmetrics "github.com/hashicorp/raft-wal/metrics"

	"consulate/catalog"
	"consulate/rpcmux"
	"consulate/structs"
)

// Forwarder carries requests for other datacenters; federation.Router
// implements it. It must be safe for concurrent use; ForwardDC blocks
// until the remote side answers or ctx ends.
type Forwarder interface {
	// ForwardDC sends a request to a server of another datacenter.
	ForwardDC(ctx context.Context, dc structs.Datacenter, method structs.Method, args, reply any) error
	// KnownDatacenters lists the datacenters the WAN pool knows.
	KnownDatacenters() []string
	// StreamDC runs a streaming method (structs.IsStreamMethod) on a
	// server of another datacenter, handing every frame (a fresh
	// newFrame()) to recv until the stream ends.
	StreamDC(ctx context.Context, dc structs.Datacenter, method structs.Method,
		args any, newFrame func() any, recv func(frame any) error) error
}

// Caller sends one call to one server of this datacenter (the leader, or
// a voter the quorum probe pings); rpcmux.Pool implements it.
type Caller interface {
	Call(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr, method structs.Method, args, reply any) error
}

// EventFirer broadcasts a user event in this datacenter's LAN pool;
// lan.Pool implements it.
type EventFirer interface {
	UserEvent(name string, payload []byte, coalesce bool) error
}

// Deps are the server's injected dependencies. Every one may be nil; what
// needs a missing one fails with a clear error or is off.
type Deps struct {
	// Listener is the server port. The server serves it through rpcmux
	// (Config.RPC): RPC, Raft and the multiplex all arrive there, and Raft
	// uses it as its transport. nil: no port; Raft then uses Transport.
	Listener net.Listener
	// Transport is the Raft transport when there is no Listener; nil gives
	// an in-memory transport, enough for a single dev server.
	Transport raft.Transport
	// Servers reaches the other servers of this datacenter: followers
	// forward to the leader through it. nil: followers cannot forward.
	Servers Caller
	// Forwarder carries requests for other datacenters. nil: they fail
	// with *structs.ErrUnknownDC.
	Forwarder Forwarder
	// Events fires user events (Internal.EventFire) in this datacenter.
	Events EventFirer
	// WANCoordinates answers Coordinate.ListDatacenters from the WAN pool.
	WANCoordinates func() []*structs.DatacenterMap
	// Members lists the LAN pool, for the leader's reconciliation of
	// membership into the catalog and Raft; nil disables it.
	Members func() []structs.Member
	// LANKeyring and WANKeyring apply gossip keyring operations
	// (Internal.KeyringOperation) to this datacenter's LAN pool and to the
	// WAN pool. nil LANKeyring: the endpoint fails; nil WANKeyring: no WAN
	// pool is done.
	LANKeyring Keyring
	WANKeyring Keyring
	// AutoEncrypt is the agent's TLS configuration as
	// Config.AutoEncryptAllowTLS needs it; required with it, unused
	// without.
	AutoEncrypt AutoEncryptTLS
	// WANHealth is the WAN view `operator wan` shows (JSON-encodable),
	// served to client agents by Operator.WANHealth; nil: that method
	// fails.
	WANHealth func(ctx context.Context) any
	// UIFederation is the UI's federation view (JSON-encodable) and its
	// index, blocking up to wait while the index is not past minIndex;
	// served to client agents by Internal.UIFederation; nil: that method
	// fails.
	UIFederation func(ctx context.Context, minIndex uint64, wait time.Duration) (any, uint64)
}

// ErrNotStarted is returned by RPC before Start and after Shutdown.
var ErrNotStarted = errors.New("server: not running")

// Server is one Consulate server.
type Server struct {
	// beforeNodeMove, when set (tests only), runs between the leader's
	// read of a member's node and its conditional move.
	beforeNodeMove atomic.Pointer[func()]

	cfg       *Config
	logger    *slog.Logger
	forwarder Forwarder
	servers   Caller
	// rawForwardDC and rawForwardLeader: forwarder and servers fill a
	// *rpcmux.RawReply, so calls that came over the wire are relayed
	// without decoding the reply (see RPCRelay).
	rawForwardDC, rawForwardLeader bool
	events                         EventFirer
	wanCoords                      func() []*structs.DatacenterMap
	wanHealth                      func(ctx context.Context) any
	uiFederation                   func(ctx context.Context, minIndex uint64, wait time.Duration) (any, uint64)
	// apHealth is autopilot's memory of server health (autopilot.go).
	apHealth autopilotHealth
	// apInitFails, set by tests before Start, is how many of the next
	// initializeAutopilot calls fail as a Raft timeout would.
	apInitFails atomic.Int32

	lanKeyring, wanKeyring Keyring
	autoTLS                AutoEncryptTLS

	// ln and mux are the server port (nil without Deps.Listener).
	ln       net.Listener
	mux      *rpcmux.Mux
	portDone chan struct{} // closed when the port's accept loop ends

	fsm      *catalog.FSM
	trans    raft.Transport
	ownTrans bool
	logs     raft.LogStore
	stable   raft.StableStore
	snaps    raft.SnapshotStore
	// storeCloser closes the on-disk log store (nil in memory).
	storeCloser io.Closer
	raftConf    *raft.Config
	raft        *raft.Raft

	endpoints map[structs.Method]endpoint
	// limiter is limits.request_limits (nil when disabled).
	limiter *requestLimiter

	// leaderMu guards leaderChanged, closed and replaced on every leader
	// observation so waiters wake without polling.
	leaderMu      sync.Mutex
	leaderChanged chan struct{}
	// leaderHint is the known leader's RPC address ("" for none), read
	// on every answer of the port (LeaderHint); set on leader changes.
	leaderHint atomic.Pointer[string]
	// leaderForwards counts requests this server forwarded to its leader.
	leaderForwards atomic.Uint64
	observer       *raft.Observer
	observeCh      chan raft.Observation
	notifyCh       chan bool

	sessions *sessionTimers
	// authzCache holds resolved ACL tokens and parsed policies (see
	// authz.go).
	authzCache authzCache
	// remoteAuthz caches global tokens resolved at the primary (a
	// secondary without token replication).
	remoteTokens remoteAuthzCache
	// internalSecret is the token of the server's own calls through its
	// endpoints (the leader's member reconciliation): management rights on
	// this server only, never stored nor sent elsewhere on purpose.
	internalSecret string
	// restoring is set while a snapshot restore runs (see SnapshotRestore).
	restoring atomic.Bool
	// subscriptions counts the streams being served (subscribe.go);
	// subsWG waits for them, Add under subsMu once shutdownCtx is checked.
	subscriptions atomic.Int64
	subsMu        sync.Mutex
	subsWG        sync.WaitGroup

	members     func() []structs.Member
	reconcileCh chan struct{}
	// failedSince is when each failed server was first seen failed; only
	// the reconcile loop touches it.
	failedSince map[raft.ServerID]time.Time
	// bootstrapMu guards bootstrapped.
	bootstrapMu  sync.Mutex
	bootstrapped bool

	// readyMu guards readyCh, closed once this server leads and has
	// applied every earlier log entry (after a Barrier); replaced with an
	// open channel when leadership is lost.
	readyMu sync.Mutex
	readyCh chan struct{}

	// quorum is the last probe of the other voters (see cutOff).
	quorum quorumProbe

	// aclRepl is the ACL replication of a secondary's leader
	// (acl_replication.go).
	aclRepl aclReplication
	// coords batches coordinate updates (coordbatch.go).
	coords coordBatch

	// blockingQueries counts blocking queries in flight (a metric).
	blockingQueries atomic.Int64

	shutdownCtx    context.Context
	shutdownCancel context.CancelFunc
	shutdownOnce   sync.Once
	started        bool
	startMu        sync.Mutex
	wg             sync.WaitGroup
}

// New builds a server from a validated config: it opens the Raft stores
// and bootstraps a single-voter cluster when asked and no state exists.
// Raft itself starts in Start.
func New(cfg *Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "server")
	s := &Server{
		cfg:              cfg,
		logger:           logger,
		forwarder:        countCrossDC(deps.Forwarder),
		servers:          deps.Servers,
		rawForwardDC:     rawReplies(deps.Forwarder),
		rawForwardLeader: rawReplies(deps.Servers),
		events:           deps.Events,
		wanCoords:        deps.WANCoordinates,
		wanHealth:        deps.WANHealth,
		uiFederation:     deps.UIFederation,
		lanKeyring:       deps.LANKeyring,
		wanKeyring:       deps.WANKeyring,
		autoTLS:          deps.AutoEncrypt,
		ln:               deps.Listener,
		members:          deps.Members,
		reconcileCh:      make(chan struct{}, 1),
		fsm:              catalog.NewFSM(cfg.Logger),
		trans:            deps.Transport,
		leaderChanged:    make(chan struct{}),
		readyCh:          make(chan struct{}),
	}
	s.shutdownCtx, s.shutdownCancel = context.WithCancel(context.Background())
	s.sessions = newSessionTimers(s)
	secret, err := uuid.GenerateUUID()
	if err != nil {
		return nil, err
	}
	s.internalSecret = secret
	s.endpoints = s.buildEndpoints()
	s.limiter = newRequestLimiter(cfg.RequestLimitsMode, cfg.RequestLimitsReadRate, cfg.RequestLimitsWriteRate, logger)
	if cfg.AutoEncryptAllowTLS && deps.AutoEncrypt == nil {
		return nil, fmt.Errorf("%w: auto_encrypt.allow_tls needs the agent's TLS configuration (Deps.AutoEncrypt)", ErrInvalidConfig)
	}
	if s.ln != nil {
		rpcCfg := cfg.RPC
		if cfg.AutoEncryptAllowTLS {
			rpcCfg.InsecureTLS = deps.AutoEncrypt.InsecureRPCConfig
			rpcCfg.InsecureAllowed = func(m structs.Method) bool { return m == structs.MethodAutoEncryptSign }
		}
		mux, err := rpcmux.New(rpcCfg, s, logger)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		s.mux = mux
		s.trans = newPortTransport(s.mux)
		s.ownTrans = true
	} else if s.trans == nil {
		_, t := raft.NewInmemTransport("")
		s.trans, s.ownTrans = t, true
	}
	if err := s.openStores(); err != nil {
		return nil, err
	}
	rc := raft.DefaultConfig()
	if cfg.RaftConfig != nil {
		c := *cfg.RaftConfig
		rc = &c
	}
	rc.LocalID = raft.ServerID(cfg.raftID())
	rc.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Info, Output: &slogWriter{l: logger.With("component", "raft")}})
	s.notifyCh = make(chan bool, 16)
	rc.NotifyCh = s.notifyCh
	s.raftConf = rc
	if cfg.Bootstrap || cfg.BootstrapExpect == 1 {
		has, err := raft.HasExistingState(s.logs, s.stable, s.snaps)
		if err != nil {
			s.closeStores()
			return nil, fmt.Errorf("server: read raft state: %w", err)
		}
		if !has {
			conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: rc.LocalID, Address: s.trans.LocalAddr()}}}
			if err := raft.BootstrapCluster(rc, s.logs, s.stable, s.snaps, s.trans, conf); err != nil {
				s.closeStores()
				return nil, fmt.Errorf("server: bootstrap: %w", err)
			}
			logger.Info("bootstrapped single-server raft cluster", "id", rc.LocalID)
		}
	}
	return s, nil
}

func (s *Server) openStores() error {
	if s.cfg.DataDir == "" {
		st := raft.NewInmemStore()
		s.logs, s.stable, s.snaps = st, st, raft.NewInmemSnapshotStore()
		return nil
	}
	dir := filepath.Join(s.cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("server: create raft dir: %w", err)
	}
	backend, err := chooseLogStore(s.cfg.RaftLogStore, dir)
	if err != nil {
		return err
	}
	snaps, err := raft.NewFileSnapshotStore(dir, 2, &slogWriter{l: s.logger.With("component", "raft.snapshot")})
	if err != nil {
		return fmt.Errorf("server: open snapshots: %w", err)
	}
	switch backend {
	case LogStoreWAL:
		wdir := filepath.Join(dir, "wal")
		if err := os.MkdirAll(wdir, 0o700); err != nil {
			return fmt.Errorf("server: create raft wal dir: %w", err)
		}
		// The WAL does not close a meta store it opened itself (seen in
		// v0.3.0; kept for v0.4.0),
		// and its file lock would then block the next open: give it one
		// and close it after the WAL.
		s.logger.Warn("raft log store: the WAL is experimental; raft-wal v0.4.0 can fail to reopen a log whose suffix was truncated before a crash (hashicorp/raft-wal#31)",
			"dir", wdir)
		meta := &metadb.BoltMetaDB{}
		// Its metrics go to armon/go-metrics' global, which the metrics
		// package forwards (consul.raft.wal.*, as Consul names them).
		w, err := wal.Open(wdir, wal.WithMetaStore(meta), wal.WithMetricsCollector(walmetrics.NewGoMetricsCollector([]string{"raft", "wal"}, nil, nil)), wal.WithLogger(hclog.New(&hclog.LoggerOptions{Name: "raft-wal", Level: hclog.Info,
			Output: &slogWriter{l: s.logger.With("component", "raft.wal")}})))
		if err != nil {
			_ = meta.Close()
			return fmt.Errorf("server: open raft wal %s: %w", wdir, err)
		}
		s.storeCloser, s.logs, s.stable, s.snaps = closers{w, meta}, w, w, snaps
	default:
		// The timeout turns a data dir locked by another process into an
		// error instead of a hang.
		bs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"),
			BoltOptions: &bbolt.Options{Timeout: 5 * time.Second, NoFreelistSync: s.cfg.RaftBoltNoFreelistSync,
				FreelistType: bbolt.FreelistMapType}})
		if err != nil {
			return fmt.Errorf("server: open raft.db: %w", err)
		}
		s.storeCloser, s.logs, s.stable, s.snaps = bs, bs, bs, snaps
	}
	s.logger.Debug("raft log store", "backend", backend, "dir", dir)
	return nil
}

// chooseLogStore picks the Raft log store for the raft directory dir:
// the configured one, or with LogStoreAuto the one whose files are there
// (raft.db: BoltDB; wal/: the WAL), and the WAL for a new directory. A
// configured store that finds the other's state fails, so a change of
// backend never starts from an empty log by mistake.
func chooseLogStore(want, dir string) (string, error) {
	_, errBolt := os.Stat(filepath.Join(dir, "raft.db"))
	hasBolt := errBolt == nil
	entries, _ := os.ReadDir(filepath.Join(dir, "wal"))
	hasWAL := len(entries) > 0
	switch want {
	case LogStoreAuto:
		if hasWAL && !hasBolt {
			return LogStoreWAL, nil
		}
		return LogStoreBoltDB, nil
	case LogStoreBoltDB:
		if hasWAL && !hasBolt {
			return "", fmt.Errorf("%w: raft log store %q configured but %s holds a WAL log; remove it or choose %q",
				ErrInvalidConfig, want, filepath.Join(dir, "wal"), LogStoreWAL)
		}
	case LogStoreWAL:
		if hasBolt && !hasWAL {
			return "", fmt.Errorf("%w: raft log store %q configured but %s holds a BoltDB log; remove it or choose %q",
				ErrInvalidConfig, want, filepath.Join(dir, "raft.db"), LogStoreBoltDB)
		}
	}
	return want, nil
}

// closers closes each in turn and returns the first error.
type closers []io.Closer

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *Server) closeStores() {
	if s.storeCloser != nil {
		if err := s.storeCloser.Close(); err != nil {
			s.logger.Warn("closing the raft log store", "error", err)
		}
	}
}

// Start starts Raft and the goroutines that follow leadership.
func (s *Server) Start(ctx context.Context) error {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if s.started {
		return nil
	}
	if s.shutdownCtx.Err() != nil {
		return ErrNotStarted
	}
	r, err := raft.NewRaft(s.raftConf, s.fsm, s.logs, s.stable, s.snaps, s.trans)
	if err != nil {
		return fmt.Errorf("server: start raft: %w", err)
	}
	s.raft = r
	s.observeCh = make(chan raft.Observation, 16)
	s.observer = raft.NewObserver(s.observeCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(s.observer)
	s.started = true
	if s.cfg.AutoEncryptAllowTLS {
		s.wg.Go(s.autoEncryptCALoop)
	}
	if s.cfg.ACLsEnabled {
		s.wg.Go(s.aclTokenReaper)
	}
	s.wg.Go(s.autopilotLoop)
	s.wg.Go(s.coordinateFlusher)
	if bs, ok := s.storeCloser.(*raftboltdb.BoltStore); ok {
		// consul.raft.boltdb.*, as Consul; it ends with shutdownCtx,
		// before the store closes.
		s.wg.Go(func() { bs.RunMetrics(s.shutdownCtx, 0) })
	}
	s.wg.Add(4)
	go s.observeLeader()
	go s.monitorLeadership()
	go s.reconcileLoop()
	go s.tombstoneGC()
	// The port last: it must not hand calls to a server not started.
	s.servePort()
	return nil
}

// observeLeader wakes leader waiters on every leader change.
func (s *Server) observeLeader() {
	defer s.wg.Done()
	for {
		select {
		case <-s.shutdownCtx.Done():
			return
		case <-s.observeCh:
			s.noteLeaderHint()
			s.leaderMu.Lock()
			close(s.leaderChanged)
			s.leaderChanged = make(chan struct{})
			s.leaderMu.Unlock()
		}
	}
}

// noteLeaderHint refreshes the leader hint from Raft. The address is
// the leader's Raft address, which is its RPC address (Raft runs on the
// server port); without a port (an in-memory transport) there is no RPC
// address to give.
func (s *Server) noteLeaderHint() {
	if s.mux == nil {
		return
	}
	addr := string(s.Leader())
	if old := s.leaderHint.Load(); old == nil || *old != addr {
		s.leaderHint.Store(&addr)
	}
}

// LeaderHint is the RPC address of the leader this server knows, "" when
// none: the port sends it with every answer (rpcmux.LeaderHinter) so that
// clients send the calls the leader must run to it directly.
func (s *Server) LeaderHint() string {
	if p := s.leaderHint.Load(); p != nil {
		return *p
	}
	return ""
}

// monitorLeadership runs the leader's duties while this server leads.
func (s *Server) monitorLeadership() {
	defer s.wg.Done()
	for {
		select {
		case <-s.shutdownCtx.Done():
			s.sessions.stopAll()
			return
		case leader := <-s.notifyCh:
			if leader {
				s.logger.Info("gained leadership")
				s.establishLeadership()
			} else {
				s.logger.Info("lost leadership")
				s.revokeLeadership()
			}
		}
	}
}

// establishLeadership waits until every earlier entry is applied, then
// marks the server ready for leader reads and starts the leader's duties.
func (s *Server) establishLeadership() {
	// A leader that cannot apply its barrier would hold every request for
	// its whole term; retry a few times, then hand leadership on.
	var err error
	for attempt := 0; attempt < 5 && s.IsLeader() && s.shutdownCtx.Err() == nil; attempt++ {
		if err = s.await(s.raft.Barrier(s.cfg.ApplyTimeout)); err == nil {
			break
		}
		s.logger.Error("barrier after gaining leadership failed", "error", err, "attempt", attempt+1)
		select {
		case <-s.shutdownCtx.Done():
			return
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	if err != nil || !s.IsLeader() {
		if s.IsLeader() {
			s.logger.Error("giving up leadership: barrier keeps failing", "error", err)
			s.raft.LeadershipTransfer()
		}
		return
	}
	s.sessions.restore()
	s.readyMu.Lock()
	select {
	case <-s.readyCh:
	default:
		close(s.readyCh)
	}
	s.readyMu.Unlock()
	if err := s.initializeACLs(); err != nil {
		s.logger.Error("initializing ACLs", "error", err)
	}
	if err := s.initializeAutopilot(); err != nil {
		// autopilotLoop retries it while this server leads.
		s.logger.Error("initializing the autopilot configuration", "error", err)
	}
	s.startACLReplication()
}

// revokeLeadership stops the leader's duties.
func (s *Server) revokeLeadership() {
	s.readyMu.Lock()
	select {
	case <-s.readyCh:
		s.readyCh = make(chan struct{})
	default:
	}
	s.readyMu.Unlock()
	s.sessions.stopAll()
	s.stopACLReplication()
}

// leaderReadyCh returns a channel closed while this server is a leader
// ready to serve.
func (s *Server) leaderReadyCh() <-chan struct{} {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	return s.readyCh
}

// leaderChangedCh returns a channel closed at the next leader change.
func (s *Server) leaderChangedCh() <-chan struct{} {
	s.leaderMu.Lock()
	defer s.leaderMu.Unlock()
	return s.leaderChanged
}

// WaitForLeader blocks until a leader is known (returning its address) or
// ctx ends.
func (s *Server) WaitForLeader(ctx context.Context) (raft.ServerAddress, error) {
	if s.raft == nil {
		return "", ErrNotStarted
	}
	for {
		ch := s.leaderChangedCh()
		if addr, _ := s.raft.LeaderWithID(); addr != "" {
			return addr, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", fmt.Errorf("%w: %w", structs.ErrNoLeader, ctx.Err())
		case <-s.shutdownCtx.Done():
			return "", ErrNotStarted
		}
	}
}

// Raft returns the underlying Raft instance (nil before Start).
func (s *Server) Raft() *raft.Raft { return s.raft }

// FSM returns the catalog state machine.
func (s *Server) FSM() *catalog.FSM { return s.fsm }

// State returns the current state store, for local reads.
func (s *Server) State() *catalog.Store { return s.fsm.State() }

// LocalAddr is this server's Raft address.
func (s *Server) LocalAddr() raft.ServerAddress { return s.trans.LocalAddr() }

// LocalID is this server's Raft ID.
func (s *Server) LocalID() raft.ServerID { return raft.ServerID(s.cfg.raftID()) }

// Datacenter is the local datacenter.
func (s *Server) Datacenter() string { return s.cfg.Datacenter }

// IsLeader reports whether this server is the Raft leader.
func (s *Server) IsLeader() bool { return s.raft != nil && s.raft.State() == raft.Leader }

// Leader returns the known leader's address, "" when none is known.
func (s *Server) Leader() raft.ServerAddress {
	if s.raft == nil {
		return ""
	}
	addr, _ := s.raft.LeaderWithID()
	return addr
}

// BootstrapCluster bootstraps Raft with the given servers; it fails with
// raft.ErrCantBootstrap when state already exists.
func (s *Server) BootstrapCluster(servers []raft.Server) error {
	if s.raft == nil {
		return ErrNotStarted
	}
	return s.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
}

// AddVoter adds a voting server; it must be called on the leader.
func (s *Server) AddVoter(id raft.ServerID, addr raft.ServerAddress) error {
	if s.raft == nil {
		return ErrNotStarted
	}
	return mapRaftErr(s.await(s.raft.AddVoter(id, addr, 0, s.cfg.ApplyTimeout)))
}

// RemoveServer removes a server from the Raft configuration; it must be
// called on the leader.
func (s *Server) RemoveServer(id raft.ServerID) error {
	if s.raft == nil {
		return ErrNotStarted
	}
	return mapRaftErr(s.await(s.raft.RemoveServer(id, 0, s.cfg.ApplyTimeout)))
}

// Stats returns raft's stats under "raft" and the server's under "consul".
func (s *Server) Stats() map[string]map[string]string {
	out := map[string]map[string]string{
		"consul": {
			"server":      "true",
			"datacenter":  s.cfg.Datacenter,
			"leader":      fmt.Sprint(s.IsLeader()),
			"leader_addr": string(s.Leader()),
			// Requests this server sent on to its leader (clients that
			// follow leader hints send few).
			"leader_forwards": fmt.Sprint(s.leaderForwards.Load()),
		},
	}
	if s.raft != nil {
		out["raft"] = s.raft.Stats()
	}
	if s.forwarder != nil {
		out["consul"]["known_datacenters"] = fmt.Sprint(len(s.knownDatacenters()))
	}
	return out
}

// Shutdown stops Raft and the server's goroutines; it is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.shutdownOnce.Do(func() {
		s.startMu.Lock()
		defer s.startMu.Unlock()
		s.shutdownCancel()
		done := make(chan error, 1)
		go func() {
			var rerr error
			if s.raft != nil {
				s.raft.DeregisterObserver(s.observer)
				rerr = s.raft.Shutdown().Error()
			}
			s.wg.Wait()
			s.sessions.wait()
			// Every stream has seen shutdownCtx; let them end before the
			// port closes under them.
			s.subsMu.Lock()
			//lint:ignore SA2001 an empty critical section is the barrier after which no stream is added
			s.subsMu.Unlock()
			s.subsWG.Wait()
			if c, ok := s.trans.(io.Closer); ok && s.ownTrans {
				_ = c.Close()
			}
			s.closeStores()
			s.closePort(ctx)
			done <- rerr
		}()
		select {
		case err = <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	})
	return err
}

// mapRaftErr turns Raft's leadership errors into structs.ErrNoLeader.
func mapRaftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %w", structs.ErrNoLeader, err)
	}
	return err
}

// slogWriter forwards raft's line-oriented log output to slog.
type slogWriter struct {
	l *slog.Logger
}

func (w *slogWriter) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(strings.NewReader(string(p)))
	for i := 0; sc.Scan() && i < 64; i++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		switch {
		case strings.Contains(line, "[ERROR]"):
			w.l.Error(line)
		case strings.Contains(line, "[WARN]"):
			w.l.Warn(line)
		case strings.Contains(line, "[DEBUG]"), strings.Contains(line, "[TRACE]"):
			w.l.Debug(line)
		default:
			w.l.Info(line)
		}
	}
	return len(p), nil
}
