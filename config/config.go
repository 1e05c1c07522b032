package config

import "time"

// Config is the shape of one configuration source: a JSON or HCL file, or
// the command-line flags. Every field is a pointer, slice or map so that
// "not set" differs from a zero value; the JSON tags are Consul's keys.
type Config struct {
	Datacenter        *string `json:"datacenter,omitempty"`
	NodeName          *string `json:"node_name,omitempty"`
	NodeID            *string `json:"node_id,omitempty"`
	DataDir           *string `json:"data_dir,omitempty"`
	Server            *bool   `json:"server,omitempty"`
	Bootstrap         *bool   `json:"bootstrap,omitempty"`
	BootstrapExpect   *int    `json:"bootstrap_expect,omitempty"`
	DisableHostNodeID *bool   `json:"disable_host_node_id,omitempty"`

	BindAddr         *string    `json:"bind_addr,omitempty"`
	AdvertiseAddrLAN *string    `json:"advertise_addr,omitempty"`
	AdvertiseAddrWAN *string    `json:"advertise_addr_wan,omitempty"`
	SerfBindAddrLAN  *string    `json:"serf_lan,omitempty"`
	SerfBindAddrWAN  *string    `json:"serf_wan,omitempty"`
	ClientAddr       *string    `json:"client_addr,omitempty"`
	Addresses        *Addresses `json:"addresses,omitempty"`
	Ports            *Ports     `json:"ports,omitempty"`

	LogLevel       *string `json:"log_level,omitempty"`
	LogJSON        *bool   `json:"log_json,omitempty"`
	EnableSyslog   *bool   `json:"enable_syslog,omitempty"`
	SyslogFacility *string `json:"syslog_facility,omitempty"`
	PidFile        *string `json:"pid_file,omitempty"`
	UI             *bool   `json:"ui,omitempty"`
	UIConfig       *UI     `json:"ui_config,omitempty"`

	// log_file and log_rotate_*: see logfile.go.
	LogFile           *string        `json:"log_file,omitempty"`
	LogRotateBytes    *int           `json:"log_rotate_bytes,omitempty"`
	LogRotateDuration *time.Duration `json:"log_rotate_duration,omitempty"`
	LogRotateMaxFiles *int           `json:"log_rotate_max_files,omitempty"`

	StartJoinAddrsLAN    []string       `json:"start_join,omitempty"`
	RetryJoinLAN         []string       `json:"retry_join,omitempty"`
	RetryIntervalLAN     *time.Duration `json:"retry_interval,omitempty"`
	RetryMaxAttemptsLAN  *int           `json:"retry_max,omitempty"`
	StartJoinAddrsWAN    []string       `json:"start_join_wan,omitempty"`
	RetryJoinWAN         []string       `json:"retry_join_wan,omitempty"`
	RetryIntervalWAN     *time.Duration `json:"retry_interval_wan,omitempty"`
	RetryMaxAttemptsWAN  *int           `json:"retry_max_wan,omitempty"`
	RejoinAfterLeave     *bool          `json:"rejoin_after_leave,omitempty"`
	LeaveOnTerminate     *bool          `json:"leave_on_terminate,omitempty"`
	SkipLeaveOnInterrupt *bool          `json:"skip_leave_on_interrupt,omitempty"`
	ReconnectTimeoutLAN  *time.Duration `json:"reconnect_timeout,omitempty"`
	ReconnectTimeoutWAN  *time.Duration `json:"reconnect_timeout_wan,omitempty"`
	TranslateWANAddrs    *bool          `json:"translate_wan_addrs,omitempty"`

	Encrypt               *string `json:"encrypt,omitempty"`
	EncryptVerifyIncoming *bool   `json:"encrypt_verify_incoming,omitempty"`
	EncryptVerifyOutgoing *bool   `json:"encrypt_verify_outgoing,omitempty"`
	Protocol              *int    `json:"protocol,omitempty"`

	HTTPConfig  *HTTPConfig  `json:"http_config,omitempty"`
	UnixSockets *UnixSockets `json:"unix_sockets,omitempty"`
	TLS         *TLS         `json:"tls,omitempty"`
	AutoEncrypt *AutoEncrypt `json:"auto_encrypt,omitempty"`

	// The top-level TLS keys Consul deprecated in 1.12 for the tls stanza.
	// Each source's values move into its tls stanza before merging (see
	// applyLegacyTLS) unless that source also sets the new key.
	LegacyCAFile                      *string `json:"ca_file,omitempty"`
	LegacyCAPath                      *string `json:"ca_path,omitempty"`
	LegacyCertFile                    *string `json:"cert_file,omitempty"`
	LegacyKeyFile                     *string `json:"key_file,omitempty"`
	LegacyVerifyIncoming              *bool   `json:"verify_incoming,omitempty"`
	LegacyVerifyIncomingRPC           *bool   `json:"verify_incoming_rpc,omitempty"`
	LegacyVerifyIncomingHTTPS         *bool   `json:"verify_incoming_https,omitempty"`
	LegacyVerifyOutgoing              *bool   `json:"verify_outgoing,omitempty"`
	LegacyVerifyServerHostname        *bool   `json:"verify_server_hostname,omitempty"`
	LegacyTLSMinVersion               *string `json:"tls_min_version,omitempty"`
	LegacyTLSCipherSuites             *string `json:"tls_cipher_suites,omitempty"`
	LegacyTLSPreferServerCipherSuites *bool   `json:"tls_prefer_server_cipher_suites,omitempty"`

	// PrimaryDatacenter is the datacenter authoritative for ACLs.
	PrimaryDatacenter *string `json:"primary_datacenter,omitempty"`
	ACL               *ACL    `json:"acl,omitempty"`

	// The top-level ACL keys Consul deprecated for the acl stanza and
	// primary_datacenter. Each source's values move into its acl stanza
	// before merging (see applyLegacyACL) unless that source also sets the
	// new key.
	LegacyACLDatacenter        *string        `json:"acl_datacenter,omitempty"`
	LegacyACLDefaultPolicy     *string        `json:"acl_default_policy,omitempty"`
	LegacyACLDownPolicy        *string        `json:"acl_down_policy,omitempty"`
	LegacyACLTTL               *time.Duration `json:"acl_ttl,omitempty"`
	LegacyACLMasterToken       *string        `json:"acl_master_token,omitempty"`
	LegacyACLAgentToken        *string        `json:"acl_agent_token,omitempty"`
	LegacyACLAgentMasterToken  *string        `json:"acl_agent_master_token,omitempty"`
	LegacyACLToken             *string        `json:"acl_token,omitempty"`
	LegacyACLReplicationToken  *string        `json:"acl_replication_token,omitempty"`
	LegacyEnableACLReplication *bool          `json:"enable_acl_replication,omitempty"`

	Domain    *string    `json:"domain,omitempty"`
	AltDomain *string    `json:"alt_domain,omitempty"`
	Recursors []string   `json:"recursors,omitempty"`
	DNS       *DNSConfig `json:"dns_config,omitempty"`

	EnableScriptChecks      *bool `json:"enable_script_checks,omitempty"`
	EnableLocalScriptChecks *bool `json:"enable_local_script_checks,omitempty"`

	// UseStreamingBackend lets a client agent answer health reads from
	// live views fed by a server's stream (Consul's key; default true).
	UseStreamingBackend *bool `json:"use_streaming_backend,omitempty"`

	NodeMeta    map[string]string `json:"node_meta,omitempty"`
	Performance *Performance      `json:"performance,omitempty"`
	Autopilot   *Autopilot        `json:"autopilot,omitempty"`
	Limits      *Limits           `json:"limits,omitempty"`
	GossipLAN   *Gossip           `json:"gossip_lan,omitempty"`
	GossipWAN   *Gossip           `json:"gossip_wan,omitempty"`
	Telemetry   *Telemetry        `json:"telemetry,omitempty"`

	CheckUpdateInterval       *time.Duration `json:"check_update_interval,omitempty"`
	DisableUpdateCheck        *bool          `json:"disable_update_check,omitempty"`
	DisableAnonymousSignature *bool          `json:"disable_anonymous_signature,omitempty"`
	EnableDebug               *bool          `json:"enable_debug,omitempty"`
	DisableRemoteExec         *bool          `json:"disable_remote_exec,omitempty"` // see remoteexec.go

	RaftSnapshotThreshold *int           `json:"raft_snapshot_threshold,omitempty"`
	RaftSnapshotInterval  *time.Duration `json:"raft_snapshot_interval,omitempty"`
	RaftTrailingLogs      *int           `json:"raft_trailing_logs,omitempty"`
	RaftLogStore          *RaftLogStore  `json:"raft_logstore,omitempty"`

	// RaftProtocol is accepted as Consul 1.16 accepts it: only 3.
	RaftProtocol *int `json:"raft_protocol,omitempty"`
	// SessionTTLMin is the shortest session TTL a server accepts.
	SessionTTLMin *time.Duration `json:"session_ttl_min,omitempty"`
	// DefaultQueryTime is a blocking query's wait when none is given;
	// MaxQueryTime caps ?wait=.
	DefaultQueryTime *time.Duration `json:"default_query_time,omitempty"`
	MaxQueryTime     *time.Duration `json:"max_query_time,omitempty"`
	// CheckOutputMaxSize bounds the output a check keeps (default 4096).
	CheckOutputMaxSize *int `json:"check_output_max_size,omitempty"`
	// LegacyACLEnableKeyListPolicy is the deprecated acl_enable_key_list_policy.
	LegacyACLEnableKeyListPolicy *bool `json:"acl_enable_key_list_policy,omitempty"`

	// Gateway is the gateway stanza; Connect holds Consul's
	// connect.enable_mesh_gateway_wan_federation; PrimaryGateways are
	// remote gateways a server in gateway mode joins through (gateway.go),
	// "host:port", or "host" for port 8443 (DefaultGatewayPort).
	Gateway                 *Gateway       `json:"gateway,omitempty"`
	Connect                 *Connect       `json:"connect,omitempty"`
	PrimaryGateways         []string       `json:"primary_gateways,omitempty"`
	PrimaryGatewaysInterval *time.Duration `json:"primary_gateways_interval,omitempty"`

	Service  *ServiceDef   `json:"service,omitempty"`
	Services []*ServiceDef `json:"services,omitempty"`
	Check    *CheckDef     `json:"check,omitempty"`
	Checks   []*CheckDef   `json:"checks,omitempty"`

	// warnings are the ignored keys this source set (see ignoredKeys).
	warnings []string
}

// Warnings returns one line for each key this source set that Consulate
// accepts without effect.
func (c *Config) Warnings() []string { return c.warnings }

// Addresses overrides client_addr for single listeners. Each value is a
// space-separated list of IPs or go-sockaddr templates.
type Addresses struct {
	DNS   *string `json:"dns,omitempty"`
	HTTP  *string `json:"http,omitempty"`
	HTTPS *string `json:"https,omitempty"`
	GRPC  *string `json:"grpc,omitempty"`
}

// Ports are the agent's listening ports; -1 disables dns, http, https and
// grpc.
type Ports struct {
	DNS     *int `json:"dns,omitempty"`
	HTTP    *int `json:"http,omitempty"`
	HTTPS   *int `json:"https,omitempty"`
	GRPC    *int `json:"grpc,omitempty"`
	SerfLAN *int `json:"serf_lan,omitempty"`
	SerfWAN *int `json:"serf_wan,omitempty"`
	Server  *int `json:"server,omitempty"`
}

// UI is the ui_config stanza.
type UI struct {
	Enabled *bool `json:"enabled,omitempty"`
}

// DNSConfig is the dns_config stanza.
type DNSConfig struct {
	AllowStale      *bool                    `json:"allow_stale,omitempty"`
	MaxStale        *time.Duration           `json:"max_stale,omitempty"`
	NodeTTL         *time.Duration           `json:"node_ttl,omitempty"`
	ServiceTTL      map[string]time.Duration `json:"service_ttl,omitempty"`
	OnlyPassing     *bool                    `json:"only_passing,omitempty"`
	EnableTruncate  *bool                    `json:"enable_truncate,omitempty"`
	UDPAnswerLimit  *int                     `json:"udp_answer_limit,omitempty"`
	ARecordLimit    *int                     `json:"a_record_limit,omitempty"`
	RecursorTimeout *time.Duration           `json:"recursor_timeout,omitempty"`
	// RecursorStrategy is "sequential" (what Consulate does) or "random".
	RecursorStrategy *string `json:"recursor_strategy,omitempty"`
	SOA              *SOA    `json:"soa,omitempty"`
}

// SOA holds the SOA record's timers, in seconds.
type SOA struct {
	Expire  *int `json:"expire,omitempty"`
	MinTTL  *int `json:"min_ttl,omitempty"`
	Refresh *int `json:"refresh,omitempty"`
	Retry   *int `json:"retry,omitempty"`
}

// RaftLogStore is the raft_logstore stanza: which store holds a server's
// Raft log.
type RaftLogStore struct {
	// Backend is "wal" or "boltdb"; unset picks what the data directory
	// holds (raft.db: boltdb), and the WAL for a new one.
	Backend *string `json:"backend,omitempty"`
	// BoltDB holds the BoltDB store's settings.
	BoltDB *RaftBoltDB `json:"boltdb,omitempty"`
}

// RaftBoltDB is the raft_logstore.boltdb stanza.
type RaftBoltDB struct {
	// NoFreelistSync skips writing the freelist on every commit.
	NoFreelistSync *bool `json:"no_freelist_sync,omitempty"`
}

// Performance is the performance stanza.
type Performance struct {
	RaftMultiplier *int `json:"raft_multiplier,omitempty"`
	// LeaveDrainTime is how long a leaving server keeps serving after it
	// left the LAN pool, so clients move to other servers first.
	LeaveDrainTime *time.Duration `json:"leave_drain_time,omitempty"`
}

// Limits is the limits stanza: bounds on what one client may hold open.
type Limits struct {
	// RPCMaxConnsPerClient caps concurrent connections to the server port
	// from one client IP; 0 means unlimited.
	RPCMaxConnsPerClient *int `json:"rpc_max_conns_per_client,omitempty"`
	// RPCHandshakeTimeout bounds a new server-port connection's preamble:
	// its protocol byte and whatever that protocol reads before the
	// connection is established.
	RPCHandshakeTimeout *time.Duration `json:"rpc_handshake_timeout,omitempty"`
	// HTTPMaxConnsPerClient caps concurrent HTTP(S) connections from one
	// client IP; 0 means unlimited.
	HTTPMaxConnsPerClient *int `json:"http_max_conns_per_client,omitempty"`
	// RPCRate is the rate (requests per second) at which this agent may
	// send RPCs to servers; RPCMaxBurst is the burst above it.
	RPCRate     *float64 `json:"rpc_rate,omitempty"`
	RPCMaxBurst *int     `json:"rpc_max_burst,omitempty"`
	// RequestLimits is the server's global read/write rate limiter.
	RequestLimits *RequestLimits `json:"request_limits,omitempty"`
}

// RequestLimits is limits.request_limits.
type RequestLimits struct {
	// Mode is "disabled", "permissive" (count, do not refuse) or
	// "enforcing".
	Mode      *string  `json:"mode,omitempty"`
	ReadRate  *float64 `json:"read_rate,omitempty"`
	WriteRate *float64 `json:"write_rate,omitempty"`
}

// TLS is the tls stanza: defaults that every protocol inherits, and one
// block per protocol that overrides them key by key.
type TLS struct {
	Defaults    *TLSProtocol `json:"defaults,omitempty"`
	InternalRPC *TLSProtocol `json:"internal_rpc,omitempty"`
	HTTPS       *TLSProtocol `json:"https,omitempty"`
	GRPC        *TLSProtocol `json:"grpc,omitempty"`
}

// TLSProtocol is one block of the tls stanza. Not every key is valid in
// every block (verify_server_hostname only in internal_rpc, use_auto_cert
// only in grpc, verify_outgoing not in grpc); the builder says so.
type TLSProtocol struct {
	CAFile               *string `json:"ca_file,omitempty"`
	CAPath               *string `json:"ca_path,omitempty"`
	CertFile             *string `json:"cert_file,omitempty"`
	KeyFile              *string `json:"key_file,omitempty"`
	VerifyIncoming       *bool   `json:"verify_incoming,omitempty"`
	VerifyOutgoing       *bool   `json:"verify_outgoing,omitempty"`
	VerifyServerHostname *bool   `json:"verify_server_hostname,omitempty"`
	TLSMinVersion        *string `json:"tls_min_version,omitempty"`
	// TLSCipherSuites is a comma-separated list, as Consul takes it.
	TLSCipherSuites *string `json:"tls_cipher_suites,omitempty"`
	UseAutoCert     *bool   `json:"use_auto_cert,omitempty"`
}

// AutoEncrypt is the auto_encrypt stanza: servers with allow_tls sign
// certificates for clients that ask with tls.
type AutoEncrypt struct {
	TLS      *bool    `json:"tls,omitempty"`
	AllowTLS *bool    `json:"allow_tls,omitempty"`
	DNSSAN   []string `json:"dns_san,omitempty"`
	IPSAN    []string `json:"ip_san,omitempty"`
}

// ACL is the acl stanza.
type ACL struct {
	Enabled *bool `json:"enabled,omitempty"`
	// DefaultPolicy is "allow" or "deny"; DownPolicy is "allow", "deny",
	// "extend-cache" or "async-cache".
	DefaultPolicy          *string `json:"default_policy,omitempty"`
	DownPolicy             *string `json:"down_policy,omitempty"`
	EnableTokenPersistence *bool   `json:"enable_token_persistence,omitempty"`
	EnableTokenReplication *bool   `json:"enable_token_replication,omitempty"`
	// EnableKeyListPolicy makes KV lists need key:list (Consul's
	// acl.enable_key_list_policy).
	EnableKeyListPolicy *bool          `json:"enable_key_list_policy,omitempty"`
	TokenTTL            *time.Duration `json:"token_ttl,omitempty"`
	PolicyTTL           *time.Duration `json:"policy_ttl,omitempty"`
	RoleTTL             *time.Duration `json:"role_ttl,omitempty"`
	Tokens              *ACLTokens     `json:"tokens,omitempty"`
}

// ACLTokens is acl.tokens: the agent's own tokens.
type ACLTokens struct {
	InitialManagement             *string `json:"initial_management,omitempty"`
	Agent                         *string `json:"agent,omitempty"`
	AgentRecovery                 *string `json:"agent_recovery,omitempty"`
	Default                       *string `json:"default,omitempty"`
	Replication                   *string `json:"replication,omitempty"`
	ConfigFileServiceRegistration *string `json:"config_file_service_registration,omitempty"`
	// The names Consul 1.11 deprecated (for initial_management and
	// agent_recovery); moved per source like the top-level legacy keys.
	LegacyMaster      *string `json:"master,omitempty"`
	LegacyAgentMaster *string `json:"agent_master,omitempty"`
}

// Autopilot is the autopilot stanza (the rest of it in autopilot.go).
type Autopilot struct {
	CleanupDeadServers      *bool          `json:"cleanup_dead_servers,omitempty"`
	LastContactThreshold    *time.Duration `json:"last_contact_threshold,omitempty"`
	MaxTrailingLogs         *int           `json:"max_trailing_logs,omitempty"`
	MinQuorum               *int           `json:"min_quorum,omitempty"`
	ServerStabilizationTime *time.Duration `json:"server_stabilization_time,omitempty"`
	RedundancyZoneTag       *string        `json:"redundancy_zone_tag,omitempty"`
	DisableUpgradeMigration *bool          `json:"disable_upgrade_migration,omitempty"`
	UpgradeVersionTag       *string        `json:"upgrade_version_tag,omitempty"`
}

// Gossip tunes one memberlist pool (gossip_lan / gossip_wan).
type Gossip struct {
	GossipNodes    *int           `json:"gossip_nodes,omitempty"`
	GossipInterval *time.Duration `json:"gossip_interval,omitempty"`
	ProbeInterval  *time.Duration `json:"probe_interval,omitempty"`
	ProbeTimeout   *time.Duration `json:"probe_timeout,omitempty"`
	SuspicionMult  *int           `json:"suspicion_mult,omitempty"`
	RetransmitMult *int           `json:"retransmit_mult,omitempty"`
}

// ServiceDef is a service stanza as written in a file. Its keys are
// matched like Consul's: snake_case, or the CamelCase of the HTTP API.
type ServiceDef struct {
	Kind              *string                   `json:"kind,omitempty"`
	ID                *string                   `json:"id,omitempty"`
	Name              *string                   `json:"name,omitempty"`
	Tags              []string                  `json:"tags,omitempty"`
	Address           *string                   `json:"address,omitempty"`
	TaggedAddresses   map[string]ServiceAddress `json:"tagged_addresses,omitempty"`
	Meta              map[string]string         `json:"meta,omitempty"`
	Port              *int                      `json:"port,omitempty"`
	Weights           *Weights                  `json:"weights,omitempty"`
	EnableTagOverride *bool                     `json:"enable_tag_override,omitempty"`
	Check             *CheckDef                 `json:"check,omitempty"`
	Checks            []*CheckDef               `json:"checks,omitempty"`
	// Token is the ACL token the service and its checks sync with
	// (acl.tokens.config_file_service_registration, then the default
	// token, when unset).
	Token *string `json:"token,omitempty"`
}

// ServiceAddress is one entry of tagged_addresses.
type ServiceAddress struct {
	Address *string `json:"address,omitempty"`
	Port    *int    `json:"port,omitempty"`
}

// Weights is a service's weights stanza.
type Weights struct {
	Passing *int `json:"passing,omitempty"`
	Warning *int `json:"warning,omitempty"`
}

// CheckDef is a check stanza as written in a file.
type CheckDef struct {
	ID                             *string             `json:"id,omitempty" alias:"check_id"`
	Name                           *string             `json:"name,omitempty"`
	Notes                          *string             `json:"notes,omitempty"`
	ServiceID                      *string             `json:"service_id,omitempty"`
	Status                         *string             `json:"status,omitempty"`
	HTTP                           *string             `json:"http,omitempty"`
	Header                         map[string][]string `json:"header,omitempty"`
	Method                         *string             `json:"method,omitempty"`
	Body                           *string             `json:"body,omitempty"`
	TLSSkipVerify                  *bool               `json:"tls_skip_verify,omitempty"`
	TCP                            *string             `json:"tcp,omitempty"`
	Args                           []string            `json:"args,omitempty" alias:"script_args"`
	Script                         *string             `json:"script,omitempty"`
	TTL                            *time.Duration      `json:"ttl,omitempty"`
	Interval                       *time.Duration      `json:"interval,omitempty"`
	Timeout                        *time.Duration      `json:"timeout,omitempty"`
	DeregisterCriticalServiceAfter *time.Duration      `json:"deregister_critical_service_after,omitempty"`
	TLSServerName                  *string             `json:"tls_server_name,omitempty"`
	DisableRedirects               *bool               `json:"disable_redirects,omitempty"`
	OutputMaxSize                  *int                `json:"output_max_size,omitempty"`
	// SuccessBeforePassing, FailuresBeforeWarning and
	// FailuresBeforeCritical are how many consecutive results it takes
	// before the status flips (Consul's thresholds).
	SuccessBeforePassing   *int `json:"success_before_passing,omitempty"`
	FailuresBeforeWarning  *int `json:"failures_before_warning,omitempty"`
	FailuresBeforeCritical *int `json:"failures_before_critical,omitempty"`

	// The other kinds of check (see convertCheck); a Docker check is
	// registered but stays critical, with a warning.
	GRPC              *string `json:"grpc,omitempty"`
	GRPCUseTLS        *bool   `json:"grpc_use_tls,omitempty"`
	H2Ping            *string `json:"h2ping,omitempty"`
	H2PingUseTLS      *bool   `json:"h2ping_use_tls,omitempty"`
	UDP               *string `json:"udp,omitempty"`
	OSService         *string `json:"os_service,omitempty"`
	DockerContainerID *string `json:"docker_container_id,omitempty"`
	Shell             *string `json:"shell,omitempty"`
	AliasNode         *string `json:"alias_node,omitempty"`
	AliasService      *string `json:"alias_service,omitempty"`
	// Token is the ACL token a standalone check syncs with, as
	// ServiceDef.Token; in a service's checks the service's applies.
	Token *string `json:"token,omitempty"`
}
