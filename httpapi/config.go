package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"time"

	"consulate/snapshot"
)

// Config configures the HTTP API server.
type Config struct {
	// MaxBodyBytes bounds every request body except KV values, which are
	// bounded by structs.MaxKVValueSize.
	MaxBodyBytes int64
	// MaxQueryTime clamps ?wait=.
	MaxQueryTime time.Duration
	// DefaultQueryTime is the wait of a blocking query without ?wait=.
	DefaultQueryTime time.Duration
	// SessionTTLMin is the shortest session TTL /v1/session/create
	// accepts (Consul's session_ttl_min; 0 means Consul's 10s).
	SessionTTLMin time.Duration
	// ReadHeaderTimeout and IdleTimeout are given to http.Server: a client
	// that has not sent its request line and headers within
	// ReadHeaderTimeout is cut off. 0 means no limit, as in http.Server.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// BodyReadTimeout bounds reading a request body, from the end of the
	// headers; a client still sending when it passes gets a 408 and the
	// connection is closed. It is a deadline on the body only, set per
	// request (http.Server's ReadTimeout would be one bound for every
	// endpoint, where a snapshot upload needs more); it never touches a
	// blocking query's wait, which is on the response side. 0 means no
	// deadline.
	BodyReadTimeout time.Duration
	// MaxSnapshotBytes bounds the archive of PUT /v1/snapshot, and
	// SnapshotReadTimeout the time to upload it (in place of
	// BodyReadTimeout; 0 means no deadline).
	MaxSnapshotBytes    int64
	SnapshotReadTimeout time.Duration
	// Metrics, when set, returns the JSON body of /v1/agent/metrics.
	Metrics func() any
	// Prometheus, when set, answers /v1/agent/metrics?format=prometheus
	// (and requests that accept OpenMetrics); when nil those get 415, as
	// from Consul without telemetry.prometheus_retention_time.
	Prometheus http.Handler
	// Monitor, when set, streams the agent's log lines at a level or above
	// for /v1/agent/monitor until ctx ends (the channel is then closed).
	Monitor func(ctx context.Context, level string) (<-chan []byte, error)
	// WANHealth, when set, answers /v1/operator/wan (servers); without
	// it the handler asks a server (Operator.WANHealth).
	WANHealth func(ctx context.Context) (any, error)
	// UIFederation, when set, answers /v1/internal/ui/federation (servers):
	// the view and its index, blocking up to wait while the index is not
	// past minIndex; without it the handler asks a server
	// (Internal.UIFederation).
	UIFederation func(ctx context.Context, minIndex uint64, wait time.Duration) (any, uint64)
	// Datacenter is the agent's datacenter; with TranslateWANAddrs,
	// answers about any other one use nodes' WAN addresses.
	Datacenter string
	// NodeName is the agent's node, named by agent:* and node:* ACL rules
	// on agent-local endpoints ("" = Agent.Self().NodeName).
	NodeName          string
	TranslateWANAddrs bool
	// UI, when set, is served under /ui/.
	UI fs.FS
	// HTTPSConfig, when set, gives the TLS config of the HTTPS listeners
	// (StartHTTPS); it is called at each handshake, so a reload applies to
	// new connections only. A nil result fails the handshake.
	HTTPSConfig func() *tls.Config
	// MaxConnsPerClient is limits.http_max_conns_per_client: the open
	// connections allowed from one client IP across every HTTP and HTTPS
	// listener; beyond it a connection gets a 429 and is closed. Loopback
	// is not exempt (as in Consul); Unix socket clients are not counted.
	// 0 means no limit.
	MaxConnsPerClient int
	// EnableDebug is enable_debug: serve Go's runtime profiles under
	// /debug/pprof/. As in Consul they are also served, whatever this
	// says, when ACLsEnabled; either way a request needs a token with
	// operator:read (with ACLs off every token has it).
	EnableDebug bool
	// ACLsEnabled tells whether the agent enforces ACLs (acl.enabled).
	ACLsEnabled bool
	// ResponseHeaders is http_config.response_headers: set on every
	// response (nil: none).
	ResponseHeaders map[string]string
	// AllowWriteFrom is http_config.allow_write_http_from: writes (every
	// method but GET, HEAD and OPTIONS) from other addresses get a 403.
	// Empty allows every address; Unix socket clients are always allowed.
	AllowWriteFrom []*net.IPNet
	// BlockEndpoints is http_config.block_endpoints: a request whose path
	// starts with one of these prefixes gets a 403 "Endpoint is blocked by
	// agent configuration", as Consul.
	BlockEndpoints []string
	// DisableCache is http_config.use_cache = false: ?cached reads go to
	// the servers as plain reads. false (the zero value) honours ?cached.
	DisableCache bool
	// MaxHeaderBytes is http_config.max_header_bytes, given to
	// http.Server (0 means Go's default, 1 MB).
	MaxHeaderBytes int
	// UnixSockets, when set, gives the owner and mode of the Unix sockets
	// Start listens on (unix_sockets); nil leaves them as created.
	UnixSockets *UnixSocketPerms
}

// UnixSocketPerms is the owner and mode of a Unix socket. Changing the
// owner needs privileges: when that fails the server logs a warning and
// serves anyway.
type UnixSocketPerms struct {
	// Mode is the socket's permission bits (0 leaves them).
	Mode os.FileMode
	// UID and GID own the socket (-1 leaves each as created).
	UID, GID int
}

// DefaultConfig returns Consul's defaults.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes:        1 << 20,
		MaxQueryTime:        10 * time.Minute,
		DefaultQueryTime:    5 * time.Minute,
		ReadHeaderTimeout:   10 * time.Second,
		IdleTimeout:         2 * time.Minute,
		BodyReadTimeout:     30 * time.Second,
		MaxSnapshotBytes:    snapshot.MaxArchiveSize,
		SnapshotReadTimeout: 10 * time.Minute,
		MaxConnsPerClient:   200,
	}
}

// ErrInvalidConfig is wrapped by Validate's errors.
var ErrInvalidConfig = errors.New("httpapi: invalid config")

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.MaxBodyBytes <= 0:
		return fmt.Errorf("%w: MaxBodyBytes must be positive, got %d", ErrInvalidConfig, c.MaxBodyBytes)
	case c.MaxQueryTime <= 0:
		return fmt.Errorf("%w: MaxQueryTime must be positive, got %s", ErrInvalidConfig, c.MaxQueryTime)
	case c.DefaultQueryTime <= 0 || c.DefaultQueryTime > c.MaxQueryTime:
		return fmt.Errorf("%w: DefaultQueryTime must be in (0, MaxQueryTime], got %s", ErrInvalidConfig, c.DefaultQueryTime)
	case c.MaxSnapshotBytes <= 0:
		return fmt.Errorf("%w: MaxSnapshotBytes must be positive, got %d", ErrInvalidConfig, c.MaxSnapshotBytes)
	case c.MaxConnsPerClient < 0:
		return fmt.Errorf("%w: MaxConnsPerClient must not be negative, got %d", ErrInvalidConfig, c.MaxConnsPerClient)
	case c.MaxHeaderBytes < 0:
		return fmt.Errorf("%w: MaxHeaderBytes must not be negative, got %d", ErrInvalidConfig, c.MaxHeaderBytes)
	case c.ReadHeaderTimeout < 0 || c.IdleTimeout < 0 || c.BodyReadTimeout < 0 || c.SnapshotReadTimeout < 0:
		return fmt.Errorf("%w: timeouts must not be negative", ErrInvalidConfig)
	}
	return nil
}
