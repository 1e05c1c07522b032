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
	DNSBindAddrs     []net.IP

	// Ports; HTTPPort and DNSPort are -1 when disabled, HTTPSPort and
	// GRPCPort are accepted but not served.
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
	EncryptKey      []byte
	ProtocolVersion int

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
	DNSSOA             SOARuntime

	EnableScriptChecks      bool
	EnableLocalScriptChecks bool

	NodeMeta                    map[string]string
	RaftMultiplier              int
	AutopilotCleanupDeadServers bool
	GossipLAN                   GossipRuntime
	GossipWAN                   GossipRuntime

	// RPCMaxConnsPerClient caps server-port connections per client IP
	// (0: unlimited); RPCHandshakeTimeout bounds each one's preamble.
	RPCMaxConnsPerClient int
	RPCHandshakeTimeout  time.Duration

	CheckUpdateInterval       time.Duration
	DisableUpdateCheck        bool
	DisableAnonymousSignature bool

	// Services and Checks are the definitions from config files, checked.
	Services []*structs.ServiceDefinition
	Checks   []*structs.CheckType
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

// HTTPAddrs returns the host:port addresses the HTTP API listens on, none
// when it is disabled.
func (r *Runtime) HTTPAddrs() []string { return joinAddrs(r.HTTPBindAddrs, r.HTTPPort) }

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
