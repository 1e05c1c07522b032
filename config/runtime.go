package config

import (
	"net"
	"strconv"
	"time"

	"consulate/structs"
)

// Runtime is the validated, defaulted configuration the agent runs with.
type Runtime struct {
	Datacenter string
	NodeName   string
	// NodeID is the configured node ID (lowercase UUID), or "" when the
	// agent should load or generate one.
	NodeID            string
	DataDir           string
	DevMode           bool
	ServerMode        bool
	Bootstrap         bool
	BootstrapExpect   int
	DisableHostNodeID bool

	// BindAddr is the cluster-facing bind address (may be unspecified,
	// 0.0.0.0 or ::).
	BindAddr net.IP
	// AdvertiseAddrLAN is what other LAN members reach this agent at.
	AdvertiseAddrLAN net.IP
	AdvertiseAddrWAN net.IP
	SerfBindAddrLAN  net.IP
	SerfBindAddrWAN  net.IP
	ClientAddrs      []net.IP
	HTTPBindAddrs    []net.IP
	HTTPSBindAddrs   []net.IP
	DNSBindAddrs     []net.IP

	// Ports; HTTPPort, DNSPort and HTTPSPort are -1 when disabled (HTTPS
	// is off by default), GRPCPort is accepted but not served.
	HTTPPort    int
	DNSPort     int
	HTTPSPort   int
	GRPCPort    int
	ServerPort  int
	SerfPortLAN int
	SerfPortWAN int

	LogLevel       string
	LogJSON        bool
	EnableSyslog   bool
	SyslogFacility string
	LogFile        LogFile // log_file and log_rotate_* (logfile.go)
	PidFile        string
	UIEnabled      bool

	StartJoinAddrsLAN    []string
	RetryJoinLAN         []string
	RetryIntervalLAN     time.Duration
	RetryMaxAttemptsLAN  int
	StartJoinAddrsWAN    []string
	RetryJoinWAN         []string
	RetryIntervalWAN     time.Duration
	RetryMaxAttemptsWAN  int
	RejoinAfterLeave     bool
	LeaveOnTerminate     bool
	SkipLeaveOnInterrupt bool
	ReconnectTimeoutLAN  time.Duration
	ReconnectTimeoutWAN  time.Duration
	TranslateWANAddrs    bool

	// EncryptKey is the decoded gossip key, nil when gossip is not
	// encrypted.
	EncryptKey []byte
	// EncryptVerifyIncoming and EncryptVerifyOutgoing (both default true)
	// may be turned off while gossip encryption is rolled out in a running
	// cluster: unencrypted gossip is then accepted, or sent.
	EncryptVerifyIncoming bool
	EncryptVerifyOutgoing bool
	ProtocolVersion       int

	// TLS is the tls stanza (and the deprecated top-level keys) with
	// tls.defaults merged under each protocol. Certificate files are not
	// read here: tlsutil does that.
	TLS TLSRuntime
	// HTTP is http_config, unix_sockets and addresses.http's unix sockets.
	HTTP HTTPRuntime

	// DNSDomain and DNSAltDomain are fully qualified ("consul.").
	DNSDomain    string
	DNSAltDomain string
	// DNSRecursors are host:port (port 53 when none was given).
	DNSRecursors       []string
	DNSAllowStale      bool
	DNSMaxStale        time.Duration
	DNSNodeTTL         time.Duration
	DNSServiceTTL      map[string]time.Duration
	DNSOnlyPassing     bool
	DNSEnableTruncate  bool
	DNSUDPAnswerLimit  int
	DNSARecordLimit    int
	DNSRecursorTimeout time.Duration
	// DNSRecursorStrategy is "sequential" or "random" (recursors are
	// always tried in order here; "random" adds a warning).
	DNSRecursorStrategy string
	DNSSOA              SOARuntime

	EnableScriptChecks      bool
	EnableLocalScriptChecks bool
	// UseStreamingBackend: client agents serve health reads from live
	// views (package views).
	UseStreamingBackend bool

	NodeMeta                    map[string]string
	RaftMultiplier              int
	AutopilotCleanupDeadServers bool
	GossipLAN                   GossipRuntime
	GossipWAN                   GossipRuntime

	// Autopilot is the rest of the autopilot stanza (autopilot.go).
	Autopilot AutopilotRuntime

	// RPCMaxConnsPerClient caps server-port connections per client IP
	// (0: unlimited); RPCHandshakeTimeout bounds each one's preamble.
	RPCMaxConnsPerClient int
	RPCHandshakeTimeout  time.Duration
	// HTTPMaxConnsPerClient caps HTTP(S) connections per client IP (0:
	// unlimited).
	HTTPMaxConnsPerClient int
	// RPCRate (requests per second, +Inf: unlimited) and RPCMaxBurst limit
	// the RPCs this agent sends to servers.
	RPCRate     float64
	RPCMaxBurst int
	// RequestLimitsMode is "disabled", "permissive" or "enforcing"; the
	// rates are per second, +Inf when unlimited.
	RequestLimitsMode      string
	RequestLimitsReadRate  float64
	RequestLimitsWriteRate float64

	CheckUpdateInterval       time.Duration
	DisableUpdateCheck        bool
	DisableAnonymousSignature bool
	// EnableDebug serves /debug/pprof/ on the HTTP API (to a token with
	// operator:read; with ACLs on it is served whatever this says, as in
	// Consul).
	EnableDebug bool
	// DisableRemoteExec turns off the agent side of `consulate exec`
	// (disable_remote_exec; true unless a file says false, as Consul).
	DisableRemoteExec bool

	// Telemetry is the telemetry stanza (config/telemetry.go).
	Telemetry TelemetryRuntime

	// RaftSnapshotThreshold, RaftSnapshotInterval and RaftTrailingLogs are
	// Consul's raft_snapshot_* and raft_trailing_logs: a server checks
	// every RaftSnapshotInterval (randomly up to twice that) whether
	// RaftSnapshotThreshold entries were committed since its last
	// snapshot; if so it snapshots and truncates its log to the last
	// RaftTrailingLogs entries. They bound the raft log on disk, and so
	// raft.db, whose pages the servers map and count in their RSS.
	RaftSnapshotThreshold int
	RaftSnapshotInterval  time.Duration
	RaftTrailingLogs      int
	// RaftLogStoreBackend is raft_logstore.backend: "wal" (experimental),
	// "boltdb", or "" for what the data directory holds (BoltDB for a new
	// one).
	RaftLogStoreBackend string
	// RaftBoltNoFreelistSync is raft_logstore.boltdb.no_freelist_sync.
	RaftBoltNoFreelistSync bool

	// ACLsEnabled turns ACL enforcement on. ACLDefaultPolicy is "allow" or
	// "deny"; ACLDownPolicy ("allow", "deny", "extend-cache" or
	// "async-cache") decides when the token's datacenter cannot be asked.
	ACLsEnabled               bool
	ACLDefaultPolicy          string
	ACLDownPolicy             string
	ACLEnableTokenPersistence bool
	ACLEnableTokenReplication bool
	ACLEnableKeyListPolicy    bool
	// ACLTokenTTL, ACLPolicyTTL and ACLRoleTTL bound how long resolved
	// ACL objects are cached (30s each by default).
	ACLTokenTTL  time.Duration
	ACLPolicyTTL time.Duration
	ACLRoleTTL   time.Duration
	// ACLTokens are the agent's tokens from acl.tokens (or the deprecated
	// keys); an agent token store may override them at run time.
	ACLTokens ACLTokensRuntime
	// PrimaryDatacenter is authoritative for ACLs; the agent's own
	// datacenter when not set.
	PrimaryDatacenter string

	// RaftProtocol is always 3 (the only version Consul 1.16 accepts).
	RaftProtocol int
	// SessionTTLMin is the shortest session TTL servers accept.
	SessionTTLMin time.Duration
	// DefaultQueryTime is a blocking query's wait without ?wait=;
	// MaxQueryTime caps ?wait=.
	DefaultQueryTime time.Duration
	MaxQueryTime     time.Duration
	// CheckOutputMaxSize bounds the output each check keeps.
	CheckOutputMaxSize int
	// LeaveDrainTime is how long a leaving server keeps serving after it
	// left the LAN pool (0: it shuts down at once).
	LeaveDrainTime time.Duration

	// GatewayEnabled runs a federation gateway in this agent, listening on
	// BindAddr:GatewayPort; GatewayPeers are gateways of other datacenters
	// (host:port) to start from; GatewayProbeInterval is how often it
	// probes the remote gateways it knows.
	GatewayEnabled       bool
	GatewayPort          int
	GatewayPeers         []string
	GatewayProbeInterval time.Duration
	// GatewayFederation (connect.enable_mesh_gateway_wan_federation, servers
	// only) sends every cross-datacenter connection of the server through
	// a gateway of its own datacenter.
	GatewayFederation bool
	// PrimaryGateways are remote gateways (host:port) a server in gateway
	// mode joins the WAN pool through, retried every
	// PrimaryGatewaysInterval until joined.
	PrimaryGateways         []string
	PrimaryGatewaysInterval time.Duration

	// Warnings are things the configuration says that work but deserve a
	// log line at start (deprecated keys, settings that have no effect).
	Warnings []string

	// Services and Checks are the definitions from config files, checked.
	Services []*structs.ServiceDefinition
	Checks   []*structs.CheckType
}

// TLSRuntime is the TLS configuration of every protocol.
type TLSRuntime struct {
	InternalRPC TLSProtocolRuntime
	HTTPS       TLSProtocolRuntime
	// AutoEncryptTLS (clients) asks the servers for a certificate at start;
	// AutoEncryptAllowTLS (servers) signs them. The SANs are added to the
	// client's certificate.
	AutoEncryptTLS      bool
	AutoEncryptAllowTLS bool
	AutoEncryptDNSSAN   []string
	AutoEncryptIPSAN    []string
}

// TLSProtocolRuntime is one protocol's TLS settings, tls.defaults merged in.
type TLSProtocolRuntime struct {
	CAFile, CAPath, CertFile, KeyFile string
	VerifyIncoming                    bool
	// VerifyOutgoing and VerifyServerHostname are internal RPC only;
	// VerifyServerHostname implies VerifyOutgoing, as in Consul.
	VerifyOutgoing       bool
	VerifyServerHostname bool
	// TLSMinVersion is "TLSv1_0".."TLSv1_3", or "" for the default
	// (TLSv1_2).
	TLSMinVersion string
	// CipherSuites are IANA names; empty means Go's defaults.
	CipherSuites []string
}

// ACLTokensRuntime are the agent's configured ACL tokens ("" when unset).
type ACLTokensRuntime struct {
	InitialManagement             string
	Agent                         string
	AgentRecovery                 string
	Default                       string
	Replication                   string
	ConfigFileServiceRegistration string
}

// SOARuntime holds the SOA timers in seconds.
type SOARuntime struct {
	Expire  uint32
	MinTTL  uint32
	Refresh uint32
	Retry   uint32
}

// GossipRuntime tunes one memberlist pool.
type GossipRuntime struct {
	GossipNodes    int
	GossipInterval time.Duration
	ProbeInterval  time.Duration
	ProbeTimeout   time.Duration
	SuspicionMult  int
	RetransmitMult int
}

// HTTPAddrs returns the addresses the HTTP API listens on: host:port, and
// unix:///path for addresses.http's sockets; none when it is disabled.
func (r *Runtime) HTTPAddrs() []string {
	out := joinAddrs(r.HTTPBindAddrs, r.HTTPPort)
	if r.HTTPPort > 0 {
		for _, p := range r.HTTP.UnixSocketPaths {
			out = append(out, "unix://"+p)
		}
	}
	return out
}

// HTTPSAddrs returns the host:port addresses the HTTPS API listens on
// (addresses.https, else client_addr), none when ports.https is disabled.
func (r *Runtime) HTTPSAddrs() []string { return joinAddrs(r.HTTPSBindAddrs, r.HTTPSPort) }

// DNSAddrs returns the host:port addresses the DNS server listens on
// (UDP and TCP), none when it is disabled.
func (r *Runtime) DNSAddrs() []string { return joinAddrs(r.DNSBindAddrs, r.DNSPort) }

// RPCBindAddr is where the server port listens.
func (r *Runtime) RPCBindAddr() *net.TCPAddr {
	return &net.TCPAddr{IP: r.BindAddr, Port: r.ServerPort}
}

// RPCAdvertiseAddr is the server port as other agents reach it.
func (r *Runtime) RPCAdvertiseAddr() *net.TCPAddr {
	return &net.TCPAddr{IP: r.AdvertiseAddrLAN, Port: r.ServerPort}
}

// SerfAdvertiseAddrLAN is the LAN gossip address others reach.
func (r *Runtime) SerfAdvertiseAddrLAN() *net.TCPAddr {
	return &net.TCPAddr{IP: r.AdvertiseAddrLAN, Port: r.SerfPortLAN}
}

// SerfAdvertiseAddrWAN is the WAN gossip address others reach.
func (r *Runtime) SerfAdvertiseAddrWAN() *net.TCPAddr {
	return &net.TCPAddr{IP: r.AdvertiseAddrWAN, Port: r.SerfPortWAN}
}

func joinAddrs(ips []net.IP, port int) []string {
	if port <= 0 {
		return nil
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, net.JoinHostPort(ip.String(), strconv.Itoa(port)))
	}
	return out
}
