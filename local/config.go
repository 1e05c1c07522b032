package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"consulate/structs"
)

// Sources say who added a service or check; config-sourced entries are
// the ones ReplaceConfigServices manages.
const (
	SourceAPI         = "api"
	SourceConfig      = "config"
	SourceMaintenance = "maintenance"
)

// RPCFunc is the agent's RPC: method is a structs.Method* name, args a
// pointer to its request, reply a pointer to its reply.
type RPCFunc func(ctx context.Context, method structs.Method, args, reply any) error

// Config configures a State.
type Config struct {
	// NodeName (required), NodeID, Datacenter, Address, TaggedAddresses
	// and NodeMeta describe this node in the catalog.
	NodeName        string
	NodeID          string
	Datacenter      string
	Address         string
	TaggedAddresses map[string]string
	NodeMeta        map[string]string

	// DataDir holds persisted services and checks; "" means none.
	DataDir string
	// SyncInterval is the period of full syncs (±1/16 random stagger);
	// 0 means 60s.
	SyncInterval time.Duration
	// SyncRetryInterval is the first wait after a failed sync, doubling
	// up to SyncInterval; 0 means 15s.
	SyncRetryInterval time.Duration
	// SyncCoalesce is how long a partial sync waits after a change for
	// more changes to gather; 0 means it does not wait.
	SyncCoalesce time.Duration
	// SyncNowTimeout bounds SyncNow, the sync an agent endpoint waits
	// for before it answers; 0 means 5s.
	SyncNowTimeout time.Duration
	// EnableScriptChecks allows script/args checks from any source;
	// EnableLocalScriptChecks only from config files.
	EnableScriptChecks      bool
	EnableLocalScriptChecks bool
	// CheckUpdateInterval delays syncing output-only check changes (status
	// changes sync at once); 0 syncs every change at once.
	CheckUpdateInterval time.Duration
	// MinCheckInterval raises shorter check intervals; 0 leaves them.
	MinCheckInterval time.Duration
	// CheckOutputMaxSize bounds the output a check keeps (Consul's
	// check_output_max_size); 0 means the checks package's default.
	CheckOutputMaxSize int
	// ReapInterval is how often services past their
	// deregister_critical_service_after are looked for; 0 means 30s.
	ReapInterval time.Duration
	// AliasRPC is the RPC alias checks of other nodes query through; nil
	// means the RPC given to New. The State puts the check's token on
	// each query (see Tokens), never the agent token: a caller who may
	// only register a check must not read other nodes' checks with the
	// agent's rights.
	AliasRPC RPCFunc
	// Tokens are the agent's ACL tokens. Every call the State makes
	// carries a token it picks, as Consul's anti-entropy does: a service
	// or check syncs (and alias checks query) with the token it was
	// registered with, else acl.tokens.config_file_service_registration
	// for definitions from config files, else the default token; the
	// node's own info and the catalog reads use the agent token. nil
	// means no tokens: calls carry none.
	Tokens Tokens
	// Now is the clock for critical-since tracking; nil means time.Now.
	Now func() time.Time
	// Logger gets the package's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultSyncNowTimeout is how long an agent endpoint waits for its
// change to reach the servers before answering anyway: long enough for a
// leader election, short enough that a client with no reachable server
// is not held up for long.
const DefaultSyncNowTimeout = 5 * time.Second

// DefaultConfig returns Consul's timings; the node fields are left empty.
func DefaultConfig() Config {
	return Config{
		SyncInterval:        60 * time.Second,
		SyncRetryInterval:   15 * time.Second,
		SyncCoalesce:        50 * time.Millisecond,
		SyncNowTimeout:      DefaultSyncNowTimeout,
		CheckUpdateInterval: 5 * time.Minute,
		MinCheckInterval:    time.Second,
		ReapInterval:        30 * time.Second,
	}
}

// ErrInvalidConfig is wrapped by every error Config.Validate returns, and
// so by New.
var ErrInvalidConfig = errors.New("local: invalid config")

// Validate reports a config that cannot work. Zero durations are valid:
// each field's comment says what zero means.
func (c *Config) Validate() error {
	if c.NodeName == "" {
		return fmt.Errorf("%w: NodeName is required", ErrInvalidConfig)
	}
	for name, d := range map[string]time.Duration{
		"SyncInterval": c.SyncInterval, "SyncRetryInterval": c.SyncRetryInterval,
		"SyncCoalesce": c.SyncCoalesce, "SyncNowTimeout": c.SyncNowTimeout, "CheckUpdateInterval": c.CheckUpdateInterval,
		"MinCheckInterval": c.MinCheckInterval, "ReapInterval": c.ReapInterval,
	} {
		if d < 0 {
			return fmt.Errorf("%w: %s must not be negative, got %v", ErrInvalidConfig, name, d)
		}
	}
	return nil
}

func (c *Config) withDefaults() {
	if c.SyncInterval == 0 {
		c.SyncInterval = 60 * time.Second
	}
	if c.SyncRetryInterval == 0 {
		c.SyncRetryInterval = 15 * time.Second
	}
	if c.SyncNowTimeout == 0 {
		c.SyncNowTimeout = DefaultSyncNowTimeout
	}
	if c.ReapInterval == 0 {
		c.ReapInterval = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Errors. Those for bad input also match *structs.BadRequestError and the
// unknown-ID ones match structs.ErrNotFound, so the HTTP API can map them.
var (
	ErrInvalidService = errors.New("local: invalid service")
	ErrInvalidCheck   = errors.New("local: invalid check")
	ErrNotTTL         = errors.New("local: not a TTL check")
	ErrUnknownService = fmt.Errorf("local: unknown service: %w", structs.ErrNotFound)
	ErrUnknownCheck   = fmt.Errorf("local: unknown check: %w", structs.ErrNotFound)
	ErrShutdown       = errors.New("local: state is shut down")
)

// inputError is bad input: it matches its sentinel and a BadRequestError.
type inputError struct {
	kind   error
	reason string
}

func (e *inputError) Error() string { return e.reason }

func (e *inputError) Unwrap() []error {
	return []error{e.kind, &structs.BadRequestError{Reason: e.reason}}
}

func badInput(kind error, format string, args ...any) error {
	return &inputError{kind: kind, reason: fmt.Sprintf(format, args...)}
}

func unknown(kind error, id string) error {
	return fmt.Errorf("%w %q", kind, id)
}
