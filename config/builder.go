package config

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"
	"time"

	"consulate/structs"
)

func ptr[T any](v T) *T { return &v }

// DefaultConfig returns Consul's defaults as a source (the lowest one Load
// merges). Defaults that depend on other values (node name, advertise
// address, leave behaviour) are derived when the Runtime is built.
func DefaultConfig() *Config {
	return &Config{
		Datacenter:        ptr("dc1"),
		Server:            ptr(false),
		Bootstrap:         ptr(false),
		BootstrapExpect:   ptr(0),
		DisableHostNodeID: ptr(true),
		BindAddr:          ptr("0.0.0.0"),
		ClientAddr:        ptr("127.0.0.1"),
		Ports: &Ports{
			DNS: ptr(8600), HTTP: ptr(8500), HTTPS: ptr(-1), GRPC: ptr(-1),
			SerfLAN: ptr(8301), SerfWAN: ptr(8302), Server: ptr(8300),
		},
		LogLevel:              ptr("info"),
		LogJSON:               ptr(false),
		EnableSyslog:          ptr(false),
		SyslogFacility:        ptr("LOCAL0"),
		UI:                    ptr(false),
		RetryIntervalLAN:      ptr(30 * time.Second),
		RetryMaxAttemptsLAN:   ptr(0),
		RetryIntervalWAN:      ptr(30 * time.Second),
		RetryMaxAttemptsWAN:   ptr(0),
		RejoinAfterLeave:      ptr(false),
		ReconnectTimeoutLAN:   ptr(72 * time.Hour),
		ReconnectTimeoutWAN:   ptr(72 * time.Hour),
		TranslateWANAddrs:     ptr(false),
		Protocol:              ptr(2),
		EncryptVerifyIncoming: ptr(true),
		EncryptVerifyOutgoing: ptr(true),
		Domain:                ptr("consul."),
		DNS: &DNSConfig{
			AllowStale:       ptr(true),
			MaxStale:         ptr(87600 * time.Hour),
			NodeTTL:          ptr(time.Duration(0)),
			OnlyPassing:      ptr(false),
			EnableTruncate:   ptr(false),
			UDPAnswerLimit:   ptr(3),
			ARecordLimit:     ptr(0),
			RecursorTimeout:  ptr(2 * time.Second),
			RecursorStrategy: ptr("sequential"),
			SOA:              &SOA{Expire: ptr(86400), MinTTL: ptr(0), Refresh: ptr(3600), Retry: ptr(600)},
		},
		EnableScriptChecks:      ptr(false),
		EnableLocalScriptChecks: ptr(false),
		UseStreamingBackend:     ptr(true),
		// leave_drain_time is 5s in Consul; Consulate's servers hand over
		// leadership before leaving and drain only when it is set.
		Performance:        &Performance{RaftMultiplier: ptr(1), LeaveDrainTime: ptr(time.Duration(0))},
		RaftProtocol:       ptr(3),
		SessionTTLMin:      ptr(10 * time.Second),
		DefaultQueryTime:   ptr(300 * time.Second),
		MaxQueryTime:       ptr(600 * time.Second),
		CheckOutputMaxSize: ptr(4096),
		// no_freelist_sync defaults on here (off in Consul): one write
		// less per Raft append; a large raft.db opens a little slower.
		RaftLogStore: &RaftLogStore{Backend: ptr(""), BoltDB: &RaftBoltDB{NoFreelistSync: ptr(true)}},
		Autopilot:    autopilotDefaults(),
		Gateway:      gatewayDefaults(),
		// primary_gateways_interval is Consul's default.
		PrimaryGatewaysInterval: ptr(30 * time.Second),
		Limits: &Limits{
			RPCMaxConnsPerClient: ptr(100), RPCHandshakeTimeout: ptr(5 * time.Second),
			HTTPMaxConnsPerClient: ptr(200), RPCRate: ptr(math.Inf(1)), RPCMaxBurst: ptr(1000),
			RequestLimits: &RequestLimits{Mode: ptr("disabled"), ReadRate: ptr(math.Inf(1)), WriteRate: ptr(math.Inf(1))},
		},
		GossipLAN: &Gossip{
			GossipNodes: ptr(3), GossipInterval: ptr(200 * time.Millisecond),
			ProbeInterval: ptr(time.Second), ProbeTimeout: ptr(500 * time.Millisecond),
			SuspicionMult: ptr(4), RetransmitMult: ptr(4),
		},
		// Faster than Consul's WAN defaults (5s/3s/6): Consulate promises a
		// dead remote server is marked failed within about 15 s.
		GossipWAN: &Gossip{
			GossipNodes: ptr(4), GossipInterval: ptr(500 * time.Millisecond),
			ProbeInterval: ptr(time.Second), ProbeTimeout: ptr(800 * time.Millisecond),
			SuspicionMult: ptr(4), RetransmitMult: ptr(4),
		},
		CheckUpdateInterval:       ptr(5 * time.Minute),
		DisableUpdateCheck:        ptr(false),
		EnableDebug:               ptr(false),
		RaftSnapshotThreshold:     ptr(16384),
		RaftSnapshotInterval:      ptr(30 * time.Second),
		RaftTrailingLogs:          ptr(10240),
		DisableAnonymousSignature: ptr(false),
		ACL: &ACL{
			Enabled: ptr(false), DefaultPolicy: ptr("allow"), DownPolicy: ptr("extend-cache"),
			EnableTokenPersistence: ptr(false), EnableTokenReplication: ptr(false),
			TokenTTL: ptr(30 * time.Second), PolicyTTL: ptr(30 * time.Second), RoleTTL: ptr(30 * time.Second),
		},
	}
}

// devConfig is what -dev changes. Like Consul it sits below files and
// flags, so `-dev -client 0.0.0.0` still works.
func devConfig() *Config {
	return &Config{
		Server:                    ptr(true),
		Bootstrap:                 ptr(true),
		BindAddr:                  ptr("127.0.0.1"),
		ClientAddr:                ptr("127.0.0.1"),
		UI:                        ptr(true),
		LogLevel:                  ptr("debug"),
		DisableAnonymousSignature: ptr(true),
		CheckUpdateInterval:       ptr(time.Duration(0)),
		EnableDebug:               ptr(true),
	}
}

var (
	datacenterRE = regexp.MustCompile(`^[a-z0-9_-]+$`)
	uuidRE       = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	domainRE     = regexp.MustCompile(`^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.$`)
)

// builder turns merged sources into a Runtime, remembering where each
// value came from so errors can name the file.
type builder struct {
	og origins
	// legacy maps a tls.* key path to the deprecated top-level key that
	// set it, so errors name the key the user wrote.
	legacy map[string]string
	warns  []string
}

func (b *builder) fail(key string, err error) error {
	return &Error{Source: b.og[key], Key: key, Err: err}
}

func (b *builder) errorf(key, format string, args ...any) error {
	return b.fail(key, invalid(format, args...))
}

// build merges sources over the defaults and validates the result.
func build(srcs []namedConfig, dev bool) (*Runtime, error) {
	b := &builder{og: origins{}, legacy: map[string]string{}}
	c := &Config{}
	merge(c, DefaultConfig(), "", b.og)

	var (
		services []*structs.ServiceDefinition
		svcLocs  []defLoc
		checks   []*structs.CheckType
		chkLocs  []defLoc
		scripts  []scriptCheck
	)
	for _, s := range srcs {
		b.warns = append(b.warns, s.cfg.warnings...)
		sc := *s.cfg
		// Definitions are converted per source so errors name their file,
		// and they accumulate rather than merge.
		if sc.Service != nil {
			def, err := convertService(defLoc{s.name, "service"}, sc.Service, &scripts, &b.warns)
			if err != nil {
				return nil, err
			}
			if def != nil {
				services = append(services, def)
				svcLocs = append(svcLocs, defLoc{s.name, "service"})
			}
		}
		for i, d := range sc.Services {
			def, err := convertService(defLoc{s.name, fmt.Sprintf("services[%d]", i)}, d, &scripts, &b.warns)
			if err != nil {
				return nil, err
			}
			if def != nil {
				services = append(services, def)
				svcLocs = append(svcLocs, defLoc{s.name, fmt.Sprintf("services[%d]", i)})
			}
		}
		topCheck := func(key string, d *CheckDef) error {
			ct, err := convertCheck(defLoc{s.name, key}, d, "", &scripts, &b.warns)
			if err != nil || ct == nil {
				return err
			}
			if ct.Name == "" {
				return &Error{Source: s.name, Key: joinPath(key, "name"), Err: invalid("a check needs a name")}
			}
			if ct.CheckID == "" {
				ct.CheckID = ct.Name
			}
			checks = append(checks, ct)
			chkLocs = append(chkLocs, defLoc{s.name, key})
			return nil
		}
		if sc.Check != nil {
			if err := topCheck("check", sc.Check); err != nil {
				return nil, err
			}
		}
		for i, d := range sc.Checks {
			if err := topCheck(fmt.Sprintf("checks[%d]", i), d); err != nil {
				return nil, err
			}
		}
		sc.Service, sc.Services, sc.Check, sc.Checks = nil, nil, nil, nil
		b.applyLegacyTLS(&sc, s.name)
		b.applyLegacyACL(&sc, s.name)
		if err := b.autopilotWarnings(&sc, s.name); err != nil {
			return nil, err
		}
		merge(c, &sc, s.name, b.og)
	}

	rt, err := b.runtime(c, dev)
	if err != nil {
		return nil, err
	}
	if len(scripts) > 0 && !rt.EnableScriptChecks && !rt.EnableLocalScriptChecks {
		s := scripts[0]
		return nil, &Error{Source: s.loc.src, Key: s.loc.key, Err: invalid("%s: script checks are disabled; set enable_script_checks or enable_local_script_checks", s.what)}
	}
	seen := map[string]bool{}
	for i, s := range services {
		id := s.ID
		if id == "" {
			id = s.Name
		}
		if seen[id] {
			return nil, svcLocs[i].errorf("service id %q is defined more than once", id)
		}
		seen[id] = true
	}
	seenChecks := map[string]bool{}
	for i, ct := range checks {
		if seenChecks[ct.CheckID] {
			return nil, chkLocs[i].errorf("check id %q is defined more than once", ct.CheckID)
		}
		seenChecks[ct.CheckID] = true
	}
	rt.Services, rt.Checks = services, checks
	rt.Warnings = dedupe(b.warns)
	rt.Autopilot = autopilotRuntime(c.Autopilot)
	return rt, nil
}

func (b *builder) runtime(c *Config, dev bool) (*Runtime, error) {
	rt := &Runtime{
		DevMode:           dev,
		DataDir:           str(c.DataDir),
		ServerMode:        *c.Server,
		Bootstrap:         *c.Bootstrap,
		BootstrapExpect:   *c.BootstrapExpect,
		DisableHostNodeID: *c.DisableHostNodeID,

		LogJSON:        *c.LogJSON,
		EnableSyslog:   *c.EnableSyslog,
		SyslogFacility: *c.SyslogFacility,
		PidFile:        str(c.PidFile),
		UIEnabled:      *c.UI,

		RetryIntervalLAN:    *c.RetryIntervalLAN,
		RetryMaxAttemptsLAN: *c.RetryMaxAttemptsLAN,
		RetryIntervalWAN:    *c.RetryIntervalWAN,
		RetryMaxAttemptsWAN: *c.RetryMaxAttemptsWAN,
		RejoinAfterLeave:    *c.RejoinAfterLeave,
		ReconnectTimeoutLAN: *c.ReconnectTimeoutLAN,
		ReconnectTimeoutWAN: *c.ReconnectTimeoutWAN,
		TranslateWANAddrs:   *c.TranslateWANAddrs,
		ProtocolVersion:     *c.Protocol,

		DNSAllowStale:      *c.DNS.AllowStale,
		DNSMaxStale:        *c.DNS.MaxStale,
		DNSNodeTTL:         *c.DNS.NodeTTL,
		DNSServiceTTL:      c.DNS.ServiceTTL,
		DNSOnlyPassing:     *c.DNS.OnlyPassing,
		DNSEnableTruncate:  *c.DNS.EnableTruncate,
		DNSUDPAnswerLimit:  *c.DNS.UDPAnswerLimit,
		DNSARecordLimit:    *c.DNS.ARecordLimit,
		DNSRecursorTimeout: *c.DNS.RecursorTimeout,

		EnableScriptChecks:          *c.EnableScriptChecks,
		EnableLocalScriptChecks:     *c.EnableLocalScriptChecks,
		UseStreamingBackend:         *c.UseStreamingBackend,
		NodeMeta:                    c.NodeMeta,
		RaftMultiplier:              *c.Performance.RaftMultiplier,
		AutopilotCleanupDeadServers: *c.Autopilot.CleanupDeadServers,
		RPCMaxConnsPerClient:        *c.Limits.RPCMaxConnsPerClient,
		RPCHandshakeTimeout:         *c.Limits.RPCHandshakeTimeout,
		HTTPMaxConnsPerClient:       *c.Limits.HTTPMaxConnsPerClient,
		RPCRate:                     *c.Limits.RPCRate,
		RPCMaxBurst:                 *c.Limits.RPCMaxBurst,
		RequestLimitsMode:           *c.Limits.RequestLimits.Mode,
		RequestLimitsReadRate:       *c.Limits.RequestLimits.ReadRate,
		RequestLimitsWriteRate:      *c.Limits.RequestLimits.WriteRate,
		EncryptVerifyIncoming:       *c.EncryptVerifyIncoming,
		EncryptVerifyOutgoing:       *c.EncryptVerifyOutgoing,
		CheckUpdateInterval:         *c.CheckUpdateInterval,
		DisableUpdateCheck:          *c.DisableUpdateCheck,
		DisableAnonymousSignature:   *c.DisableAnonymousSignature,
		EnableDebug:                 *c.EnableDebug,
		DisableRemoteExec:           disableRemoteExec(c),
		RaftSnapshotThreshold:       *c.RaftSnapshotThreshold,
		RaftLogStoreBackend:         *c.RaftLogStore.Backend,
		RaftBoltNoFreelistSync:      *c.RaftLogStore.BoltDB.NoFreelistSync,
		RaftSnapshotInterval:        *c.RaftSnapshotInterval,
		RaftTrailingLogs:            *c.RaftTrailingLogs,

		HTTPPort:    *c.Ports.HTTP,
		DNSPort:     *c.Ports.DNS,
		HTTPSPort:   *c.Ports.HTTPS,
		GRPCPort:    *c.Ports.GRPC,
		ServerPort:  *c.Ports.Server,
		SerfPortLAN: *c.Ports.SerfLAN,
		SerfPortWAN: *c.Ports.SerfWAN,
	}
	if c.UIConfig != nil && c.UIConfig.Enabled != nil {
		rt.UIEnabled = *c.UIConfig.Enabled
	}

	steps := []func(*Config, *Runtime) error{
		b.identity, b.mode, b.addresses, b.ports, b.joins, b.gossipAndTimers, b.dns, b.limits, b.tls, b.acl, b.httpConfig, b.misc, b.compat, b.logFile, b.telemetry, b.gateway,
	}
	for _, step := range steps {
		if err := step(c, rt); err != nil {
			return nil, err
		}
	}
	return rt, nil
}

func (b *builder) identity(c *Config, rt *Runtime) error {
	dc := strings.ToLower(strings.TrimSpace(*c.Datacenter))
	if !datacenterRE.MatchString(dc) {
		return b.errorf("datacenter", "%q may hold only letters, digits, '_' and '-'", *c.Datacenter)
	}
	rt.Datacenter = dc

	rt.NodeName = strings.TrimSpace(str(c.NodeName))
	if c.NodeName != nil && rt.NodeName == "" {
		return b.errorf("node_name", "must not be empty")
	}
	if rt.NodeName == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return b.errorf("node_name", "cannot use the hostname (%v); set node_name", err)
		}
		rt.NodeName = h
	}
	if c.NodeID != nil {
		id := strings.ToLower(strings.TrimSpace(*c.NodeID))
		if !uuidRE.MatchString(id) {
			return b.errorf("node_id", "%q is not a UUID", *c.NodeID)
		}
		rt.NodeID = id
	}
	if err := validateMeta(rt.NodeMeta); err != nil {
		return b.errorf("node_meta", "%v", err)
	}
	if !rt.DevMode {
		if rt.DataDir == "" {
			return b.errorf("data_dir", "must be set (or run with -dev)")
		}
		if fi, err := os.Stat(rt.DataDir); err == nil && !fi.IsDir() {
			return b.errorf("data_dir", "%q is not a directory", rt.DataDir)
		}
	}
	return nil
}

func (b *builder) mode(c *Config, rt *Runtime) error {
	switch {
	case rt.BootstrapExpect < 0:
		return b.errorf("bootstrap_expect", "must not be negative, got %d", rt.BootstrapExpect)
	case rt.BootstrapExpect > 0 && rt.DevMode:
		return b.errorf("bootstrap_expect", "cannot be used in -dev mode")
	case rt.BootstrapExpect > 0 && rt.Bootstrap:
		return b.errorf("bootstrap_expect", "cannot be used together with bootstrap")
	case rt.BootstrapExpect > 0 && !rt.ServerMode:
		return b.errorf("bootstrap_expect", "needs server mode")
	case rt.Bootstrap && !rt.ServerMode:
		return b.errorf("bootstrap", "needs server mode")
	}
	// Consul's leave defaults: clients leave on terminate; servers stay in
	// the cluster on interrupt so a restart does not shrink the quorum.
	rt.LeaveOnTerminate = !rt.ServerMode
	if c.LeaveOnTerminate != nil {
		rt.LeaveOnTerminate = *c.LeaveOnTerminate
	}
	rt.SkipLeaveOnInterrupt = rt.ServerMode
	if c.SkipLeaveOnInterrupt != nil {
		rt.SkipLeaveOnInterrupt = *c.SkipLeaveOnInterrupt
	}
	if rt.ProtocolVersion < 2 || rt.ProtocolVersion > 3 {
		return b.errorf("protocol", "must be 2 or 3, got %d", rt.ProtocolVersion)
	}
	if c.Encrypt != nil {
		k, err := ParseEncryptKey(*c.Encrypt)
		if err != nil {
			return b.fail("encrypt", err)
		}
		rt.EncryptKey = k
	}
	switch lvl := strings.ToLower(strings.TrimSpace(*c.LogLevel)); lvl {
	case "trace", "debug", "info", "warn", "err":
		rt.LogLevel = lvl
	case "warning":
		rt.LogLevel = "warn"
	case "error":
		rt.LogLevel = "err"
	default:
		return b.errorf("log_level", "must be trace, debug, info, warn or err, got %q", *c.LogLevel)
	}
	return nil
}

func (b *builder) addresses(c *Config, rt *Runtime) error {
	var err error
	if rt.BindAddr, err = singleIP(*c.BindAddr); err != nil {
		return b.fail("bind_addr", err)
	}
	if c.AdvertiseAddrLAN != nil {
		if rt.AdvertiseAddrLAN, err = singleIP(*c.AdvertiseAddrLAN); err != nil {
			return b.fail("advertise_addr", err)
		}
		if rt.AdvertiseAddrLAN.IsUnspecified() {
			return b.errorf("advertise_addr", "cannot advertise %s; give a reachable address", rt.AdvertiseAddrLAN)
		}
	} else if rt.BindAddr.IsUnspecified() {
		rt.AdvertiseAddrLAN = privateIP(rt.BindAddr.To4() == nil)
	} else {
		rt.AdvertiseAddrLAN = rt.BindAddr
	}
	rt.AdvertiseAddrWAN = rt.AdvertiseAddrLAN
	if c.AdvertiseAddrWAN != nil {
		if rt.AdvertiseAddrWAN, err = singleIP(*c.AdvertiseAddrWAN); err != nil {
			return b.fail("advertise_addr_wan", err)
		}
		if rt.AdvertiseAddrWAN.IsUnspecified() {
			return b.errorf("advertise_addr_wan", "cannot advertise %s; give a reachable address", rt.AdvertiseAddrWAN)
		}
	}
	rt.SerfBindAddrLAN, rt.SerfBindAddrWAN = rt.BindAddr, rt.BindAddr
	if c.SerfBindAddrLAN != nil {
		if rt.SerfBindAddrLAN, err = singleIP(*c.SerfBindAddrLAN); err != nil {
			return b.fail("serf_lan", err)
		}
	}
	if c.SerfBindAddrWAN != nil {
		if rt.SerfBindAddrWAN, err = singleIP(*c.SerfBindAddrWAN); err != nil {
			return b.fail("serf_wan", err)
		}
	}
	if rt.ClientAddrs, err = ipList(*c.ClientAddr); err != nil {
		return b.fail("client_addr", err)
	}
	rt.HTTPBindAddrs, rt.HTTPSBindAddrs, rt.DNSBindAddrs = rt.ClientAddrs, rt.ClientAddrs, rt.ClientAddrs
	if a := c.Addresses; a != nil {
		if a.HTTP != nil {
			if rt.HTTPBindAddrs, rt.HTTP.UnixSocketPaths, err = httpAddrList(*a.HTTP); err != nil {
				return b.fail("addresses.http", err)
			}
		}
		if a.DNS != nil {
			if rt.DNSBindAddrs, err = ipList(*a.DNS); err != nil {
				return b.fail("addresses.dns", err)
			}
		}
		if a.HTTPS != nil {
			if rt.HTTPSBindAddrs, err = ipList(*a.HTTPS); err != nil {
				return b.fail("addresses.https", err)
			}
		}
		if a.GRPC != nil {
			if _, err = ipList(*a.GRPC); err != nil {
				return b.fail("addresses.grpc", err)
			}
		}
	}
	return nil
}

func (b *builder) ports(c *Config, rt *Runtime) error {
	check := func(key string, v int, canDisable bool) error {
		if canDisable && v == -1 {
			return nil
		}
		if v < 1 || v > 65535 {
			if canDisable {
				return b.errorf(key, "must be 1-65535 or -1 to disable, got %d", v)
			}
			return b.errorf(key, "must be 1-65535, got %d", v)
		}
		return nil
	}
	for _, p := range []struct {
		key string
		v   int
		dis bool
	}{
		{"ports.dns", rt.DNSPort, true},
		{"ports.http", rt.HTTPPort, true},
		{"ports.https", rt.HTTPSPort, true},
		{"ports.grpc", rt.GRPCPort, true},
		{"ports.server", rt.ServerPort, false},
		{"ports.serf_lan", rt.SerfPortLAN, false},
		{"ports.serf_wan", rt.SerfPortWAN, true},
	} {
		if err := check(p.key, p.v, p.dis); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) joins(c *Config, rt *Runtime) error {
	var err error
	for _, j := range []struct {
		key string
		in  []string
		out *[]string
	}{
		{"start_join", c.StartJoinAddrsLAN, &rt.StartJoinAddrsLAN},
		{"retry_join", c.RetryJoinLAN, &rt.RetryJoinLAN},
		{"start_join_wan", c.StartJoinAddrsWAN, &rt.StartJoinAddrsWAN},
		{"retry_join_wan", c.RetryJoinWAN, &rt.RetryJoinWAN},
	} {
		if *j.out, err = joinList(j.in); err != nil {
			return b.fail(j.key, err)
		}
	}
	if (len(rt.StartJoinAddrsWAN) > 0 || len(rt.RetryJoinWAN) > 0) && !rt.ServerMode {
		return b.errorf("retry_join_wan", "joining the WAN pool needs server mode")
	}
	if rt.RetryIntervalLAN <= 0 {
		return b.errorf("retry_interval", "must be > 0")
	}
	if rt.RetryIntervalWAN <= 0 {
		return b.errorf("retry_interval_wan", "must be > 0")
	}
	if rt.RetryMaxAttemptsLAN < 0 {
		return b.errorf("retry_max", "must not be negative")
	}
	if rt.RetryMaxAttemptsWAN < 0 {
		return b.errorf("retry_max_wan", "must not be negative")
	}
	return nil
}

func (b *builder) gossipAndTimers(c *Config, rt *Runtime) error {
	if rt.ReconnectTimeoutLAN < 8*time.Hour {
		return b.errorf("reconnect_timeout", "must be at least 8h, got %s", rt.ReconnectTimeoutLAN)
	}
	if rt.ReconnectTimeoutWAN < 8*time.Hour {
		return b.errorf("reconnect_timeout_wan", "must be at least 8h, got %s", rt.ReconnectTimeoutWAN)
	}
	switch rt.RaftLogStoreBackend {
	case "", "wal", "boltdb":
	default:
		return b.errorf("raft_logstore.backend", "must be \"wal\" or \"boltdb\", got %q", rt.RaftLogStoreBackend)
	}
	if rt.RaftSnapshotThreshold < 1 {
		return b.errorf("raft_snapshot_threshold", "must be positive, got %d", rt.RaftSnapshotThreshold)
	}
	if rt.RaftSnapshotInterval < time.Millisecond {
		return b.errorf("raft_snapshot_interval", "must be at least 1ms, got %s", rt.RaftSnapshotInterval)
	}
	if rt.RaftTrailingLogs < 1 {
		return b.errorf("raft_trailing_logs", "must be positive, got %d", rt.RaftTrailingLogs)
	}
	if rt.RaftMultiplier < 1 || rt.RaftMultiplier > 10 {
		return b.errorf("performance.raft_multiplier", "must be 1-10, got %d", rt.RaftMultiplier)
	}
	if rt.CheckUpdateInterval < 0 {
		return b.errorf("check_update_interval", "must not be negative")
	}
	for _, g := range []struct {
		key string
		in  *Gossip
		out *GossipRuntime
	}{{"gossip_lan", c.GossipLAN, &rt.GossipLAN}, {"gossip_wan", c.GossipWAN, &rt.GossipWAN}} {
		*g.out = GossipRuntime{
			GossipNodes: *g.in.GossipNodes, GossipInterval: *g.in.GossipInterval,
			ProbeInterval: *g.in.ProbeInterval, ProbeTimeout: *g.in.ProbeTimeout,
			SuspicionMult: *g.in.SuspicionMult, RetransmitMult: *g.in.RetransmitMult,
		}
		for k, v := range map[string]int64{
			"gossip_nodes": int64(g.out.GossipNodes), "gossip_interval": int64(g.out.GossipInterval),
			"probe_interval": int64(g.out.ProbeInterval), "probe_timeout": int64(g.out.ProbeTimeout),
			"suspicion_mult": int64(g.out.SuspicionMult), "retransmit_mult": int64(g.out.RetransmitMult),
		} {
			if v <= 0 {
				return b.errorf(g.key+"."+k, "must be > 0")
			}
		}
	}
	return nil
}

func (b *builder) dns(c *Config, rt *Runtime) error {
	var err error
	if rt.DNSDomain, err = fqdn(*c.Domain); err != nil {
		return b.fail("domain", err)
	}
	if c.AltDomain != nil && *c.AltDomain != "" {
		if rt.DNSAltDomain, err = fqdn(*c.AltDomain); err != nil {
			return b.fail("alt_domain", err)
		}
		if rt.DNSAltDomain == rt.DNSDomain {
			return b.errorf("alt_domain", "must differ from domain %q", rt.DNSDomain)
		}
	}
	if rt.DNSRecursors, err = recursorList(c.Recursors); err != nil {
		return b.fail("recursors", err)
	}
	for k, v := range map[string]int64{
		"dns_config.max_stale": int64(rt.DNSMaxStale), "dns_config.node_ttl": int64(rt.DNSNodeTTL),
		"dns_config.udp_answer_limit": int64(rt.DNSUDPAnswerLimit), "dns_config.a_record_limit": int64(rt.DNSARecordLimit),
	} {
		if v < 0 {
			return b.errorf(k, "must not be negative")
		}
	}
	if rt.DNSRecursorTimeout <= 0 {
		return b.errorf("dns_config.recursor_timeout", "must be > 0")
	}
	for k, v := range rt.DNSServiceTTL {
		if v < 0 {
			return b.errorf("dns_config.service_ttl."+k, "must not be negative")
		}
	}
	soa := c.DNS.SOA
	for _, s := range []struct {
		key string
		in  int
		out *uint32
	}{
		{"expire", *soa.Expire, &rt.DNSSOA.Expire}, {"min_ttl", *soa.MinTTL, &rt.DNSSOA.MinTTL},
		{"refresh", *soa.Refresh, &rt.DNSSOA.Refresh}, {"retry", *soa.Retry, &rt.DNSSOA.Retry},
	} {
		if s.in < 0 {
			return b.errorf("dns_config.soa."+s.key, "must not be negative")
		}
		*s.out = uint32(s.in)
	}
	return nil
}

// fqdn lowercases a domain and gives it its trailing dot.
func fqdn(d string) (string, error) {
	d = strings.ToLower(strings.TrimSpace(d))
	d = strings.TrimPrefix(d, ".")
	if !strings.HasSuffix(d, ".") {
		d += "."
	}
	if !domainRE.MatchString(d) {
		return "", invalid("%q is not a valid domain", d)
	}
	return d, nil
}

func (b *builder) limits(c *Config, rt *Runtime) error {
	if rt.RPCMaxConnsPerClient < 0 {
		return b.errorf("limits.rpc_max_conns_per_client", "must not be negative (0 means unlimited), got %d", rt.RPCMaxConnsPerClient)
	}
	if rt.RPCHandshakeTimeout <= 0 {
		return b.errorf("limits.rpc_handshake_timeout", "must be > 0, got %s", rt.RPCHandshakeTimeout)
	}
	if rt.HTTPMaxConnsPerClient < 0 {
		return b.errorf("limits.http_max_conns_per_client", "must not be negative (0 means unlimited), got %d", rt.HTTPMaxConnsPerClient)
	}
	if rt.RPCMaxBurst < 0 {
		return b.errorf("limits.rpc_max_burst", "must not be negative, got %d", rt.RPCMaxBurst)
	}
	// A negative rate is unlimited, as in Consul (whose own defaults
	// are -1).
	for _, r := range []*float64{&rt.RPCRate, &rt.RequestLimitsReadRate, &rt.RequestLimitsWriteRate} {
		if *r < 0 {
			*r = math.Inf(1)
		}
	}
	switch rt.RequestLimitsMode {
	case "disabled", "permissive", "enforcing":
	default:
		return b.errorf("limits.request_limits.mode", "must be disabled, permissive or enforcing, got %q", rt.RequestLimitsMode)
	}
	return nil
}

func (b *builder) misc(c *Config, rt *Runtime) error {
	if rt.EnableSyslog && strings.TrimSpace(rt.SyslogFacility) == "" {
		return b.errorf("syslog_facility", "must not be empty")
	}
	return nil
}
