package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"consulate/config"
)

// agentFlagList is a repeatable string flag that, unlike cli's
// StringSliceFlag, never splits a value on commas (paths and join
// addresses may hold them).
type agentFlagList []string

// Set appends one occurrence of the flag.
func (l *agentFlagList) Set(v string) error { *l = append(*l, v); return nil }

// String joins the values for help output.
func (l *agentFlagList) String() string { return strings.Join(*l, ", ") }

// agentFlags returns Consul's `agent` flags. Each call builds fresh flag
// values, so two apps never share state.
func agentFlags() []cli.Flag {
	list := func(name, usage string) cli.Flag {
		return &cli.GenericFlag{Name: name, Usage: usage, Value: &agentFlagList{}}
	}
	return []cli.Flag{
		&cli.BoolFlag{Name: "server", Usage: "run in server mode"},
		&cli.BoolFlag{Name: "bootstrap", Usage: "let this server elect itself leader (one per datacenter)"},
		&cli.IntFlag{Name: "bootstrap-expect", Usage: "number of servers to wait for before bootstrapping"},
		&cli.StringFlag{Name: "bind", Usage: "cluster address to bind to (IP or go-sockaddr template)"},
		&cli.StringFlag{Name: "advertise", Usage: "LAN address to advertise instead of the bind address"},
		&cli.StringFlag{Name: "advertise-wan", Usage: "WAN address to advertise"},
		&cli.StringFlag{Name: "serf-lan-bind", Usage: "address to bind LAN gossip to"},
		&cli.StringFlag{Name: "serf-wan-bind", Usage: "address to bind WAN gossip to"},
		&cli.StringFlag{Name: "client", Usage: "address(es) to bind client interfaces (HTTP, DNS) to"},
		list("config-file", "a JSON or HCL config file to load (repeatable)"),
		list("config-dir", "a directory of .json and .hcl config files to load (repeatable)"),
		&cli.StringFlag{Name: "config-format", Usage: "read every config file as \"json\" or \"hcl\""},
		&cli.StringFlag{Name: "data-dir", Usage: "directory for the agent's state"},
		&cli.StringFlag{Name: "datacenter", Aliases: []string{"dc"}, Usage: "datacenter of the agent"},
		&cli.StringFlag{Name: "domain", Usage: "DNS domain to answer for (default consul.)"},
		&cli.StringFlag{Name: "alt-domain", Usage: "alternate DNS domain to also answer for"},
		&cli.StringFlag{Name: "node", Usage: "name of this node (default: hostname)"},
		&cli.StringFlag{Name: "node-id", Usage: "UUID of this node"},
		&cli.BoolFlag{Name: "disable-host-node-id", Usage: "do not derive the node ID from the host"},
		&cli.StringFlag{Name: "log-level", Usage: "trace, debug, info, warn or err"},
		&cli.BoolFlag{Name: "log-json", Usage: "log as JSON"},
		&cli.StringFlag{Name: "log-file", Usage: "file (or directory ending in /) to write logs to"},
		&cli.IntFlag{Name: "log-rotate-bytes", Usage: "rotate the log file after this many bytes (0: no limit)"},
		&cli.DurationFlag{Name: "log-rotate-duration", Usage: "rotate the log file after this long (default 24h)"},
		&cli.IntFlag{Name: "log-rotate-max-files", Usage: "rotated log files to keep (0: all, -1: none)"},
		&cli.StringFlag{Name: "pid-file", Usage: "file to write the agent's PID to"},
		&cli.BoolFlag{Name: "syslog", Usage: "log to syslog too"},
		&cli.BoolFlag{Name: "ui", Usage: "serve the web UI"},
		list("retry-join", "address of an agent to join, retried until it works (repeatable)"),
		&cli.DurationFlag{Name: "retry-interval", Usage: "time between LAN join attempts"},
		&cli.IntFlag{Name: "retry-max", Usage: "LAN join attempts before giving up (0: forever)"},
		list("retry-join-wan", "address of a server in another datacenter to join, retried (repeatable)"),
		&cli.DurationFlag{Name: "retry-interval-wan", Usage: "time between WAN join attempts"},
		&cli.IntFlag{Name: "retry-max-wan", Usage: "WAN join attempts before giving up (0: forever)"},
		list("join", "address of an agent to join at start (repeatable)"),
		list("join-wan", "address of a server in another datacenter to join at start (repeatable)"),
		&cli.BoolFlag{Name: "rejoin", Usage: "rejoin the cluster even after a graceful leave"},
		&cli.StringFlag{Name: "encrypt", Usage: "base64 gossip encryption key"},
		&cli.IntFlag{Name: "protocol", Usage: "protocol version to speak"},
		&cli.BoolFlag{Name: "dev", Usage: "development mode: an in-memory server that bootstraps itself"},
		&cli.IntFlag{Name: "http-port", Usage: "HTTP API port (-1 disables)"},
		&cli.IntFlag{Name: "https-port", Usage: "HTTPS API port (-1 disables; needs a certificate in the tls stanza)"},
		&cli.IntFlag{Name: "dns-port", Usage: "DNS port (-1 disables)"},
		&cli.IntFlag{Name: "server-port", Usage: "server RPC port"},
		&cli.IntFlag{Name: "serf-lan-port", Usage: "LAN gossip port"},
		&cli.IntFlag{Name: "serf-wan-port", Usage: "WAN gossip port"},
		list("recursor", "upstream DNS server (repeatable)"),
		list("node-meta", "node metadata as key:value (repeatable)"),
		&cli.BoolFlag{Name: "enable-script-checks", Usage: "allow script checks from any source"},
		&cli.BoolFlag{Name: "enable-local-script-checks", Usage: "allow script checks from config files only"},
		&cli.BoolFlag{Name: "gateway", Usage: "run a federation gateway in this agent (gateway.enabled)"},
		&cli.IntFlag{Name: "gateway-port", Usage: "port the federation gateway listens on, on the bind address (default 8443)"},
		list("gateway-peer", "host:port of a gateway of another datacenter to start from (repeatable)"),
		list("primary-gateway", "host:port of a remote gateway a server in gateway mode joins through, retried (repeatable)"),
	}
}

// configFromFlags turns the agent flags the user set into a config
// source; unset flags stay nil so files keep their values. -config-file,
// -config-dir, -config-format and -dev are not part of it: use
// configSourcesFromArgs and c.String("config-format") / c.Bool("dev").
func configFromFlags(c *cli.Context) (*config.Config, error) {
	cfg := &config.Config{}
	str := func(name string, dst **string) {
		if c.IsSet(name) {
			v := c.String(name)
			*dst = &v
		}
	}
	boolean := func(name string, dst **bool) {
		if c.IsSet(name) {
			v := c.Bool(name)
			*dst = &v
		}
	}
	integer := func(name string, dst **int) {
		if c.IsSet(name) {
			v := c.Int(name)
			*dst = &v
		}
	}
	list := func(name string) []string {
		if !c.IsSet(name) {
			return nil
		}
		if l, ok := c.Generic(name).(*agentFlagList); ok && len(*l) > 0 {
			return append([]string(nil), (*l)...)
		}
		return nil
	}

	boolean("server", &cfg.Server)
	boolean("bootstrap", &cfg.Bootstrap)
	integer("bootstrap-expect", &cfg.BootstrapExpect)
	str("bind", &cfg.BindAddr)
	str("advertise", &cfg.AdvertiseAddrLAN)
	str("advertise-wan", &cfg.AdvertiseAddrWAN)
	str("serf-lan-bind", &cfg.SerfBindAddrLAN)
	str("serf-wan-bind", &cfg.SerfBindAddrWAN)
	str("client", &cfg.ClientAddr)
	str("data-dir", &cfg.DataDir)
	str("datacenter", &cfg.Datacenter)
	str("domain", &cfg.Domain)
	str("alt-domain", &cfg.AltDomain)
	str("node", &cfg.NodeName)
	str("node-id", &cfg.NodeID)
	boolean("disable-host-node-id", &cfg.DisableHostNodeID)
	str("log-level", &cfg.LogLevel)
	boolean("log-json", &cfg.LogJSON)
	str("log-file", &cfg.LogFile)
	integer("log-rotate-bytes", &cfg.LogRotateBytes)
	if c.IsSet("log-rotate-duration") {
		v := c.Duration("log-rotate-duration")
		cfg.LogRotateDuration = &v
	}
	integer("log-rotate-max-files", &cfg.LogRotateMaxFiles)
	str("pid-file", &cfg.PidFile)
	boolean("syslog", &cfg.EnableSyslog)
	boolean("ui", &cfg.UI)
	cfg.RetryJoinLAN = list("retry-join")
	if c.IsSet("retry-interval") {
		v := c.Duration("retry-interval")
		cfg.RetryIntervalLAN = &v
	}
	integer("retry-max", &cfg.RetryMaxAttemptsLAN)
	cfg.RetryJoinWAN = list("retry-join-wan")
	if c.IsSet("retry-interval-wan") {
		v := c.Duration("retry-interval-wan")
		cfg.RetryIntervalWAN = &v
	}
	integer("retry-max-wan", &cfg.RetryMaxAttemptsWAN)
	cfg.StartJoinAddrsLAN = list("join")
	cfg.StartJoinAddrsWAN = list("join-wan")
	boolean("rejoin", &cfg.RejoinAfterLeave)
	str("encrypt", &cfg.Encrypt)
	integer("protocol", &cfg.Protocol)
	boolean("enable-script-checks", &cfg.EnableScriptChecks)
	boolean("enable-local-script-checks", &cfg.EnableLocalScriptChecks)
	cfg.Recursors = list("recursor")

	ports := &config.Ports{}
	integer("http-port", &ports.HTTP)
	integer("https-port", &ports.HTTPS)
	integer("dns-port", &ports.DNS)
	integer("server-port", &ports.Server)
	integer("serf-lan-port", &ports.SerfLAN)
	integer("serf-wan-port", &ports.SerfWAN)
	if *ports != (config.Ports{}) {
		cfg.Ports = ports
	}

	gw := &config.Gateway{Peers: list("gateway-peer")}
	boolean("gateway", &gw.Enabled)
	integer("gateway-port", &gw.Port)
	if gw.Enabled != nil || gw.Port != nil || gw.Peers != nil {
		cfg.Gateway = gw
	}
	cfg.PrimaryGateways = list("primary-gateway")

	for _, kv := range list("node-meta") {
		k, v, _ := strings.Cut(kv, ":")
		if strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("flag -node-meta: %q must be key:value", kv)
		}
		if cfg.NodeMeta == nil {
			cfg.NodeMeta = map[string]string{}
		}
		cfg.NodeMeta[k] = v
	}
	return cfg, nil
}

// configSourcesFromArgs returns the -config-file and -config-dir values in
// the order they appear in args (which cli's per-flag lists lose). It
// accepts "-x v", "-x=v", "--x v" and "--x=v" and stops at "--".
func configSourcesFromArgs(args []string) []config.Source {
	var out []config.Source
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		val, hasVal := "", false
		if n, v, ok := strings.Cut(name, "="); ok {
			name, val, hasVal = n, v, true
		}
		var kind config.SourceKind
		switch name {
		case "config-file":
			kind = config.SourceFile
		case "config-dir":
			kind = config.SourceDir
		default:
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				break
			}
			i++
			val = args[i]
		}
		out = append(out, config.Source{Kind: kind, Path: val})
	}
	return out
}
