package server

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/hashicorp/raft"

	"consulate/rpcmux"
	"consulate/structs"
)

// Config configures a Server.
type Config struct {
	// NodeName is this server's node name; it is also the Raft server ID
	// when NodeID is empty.
	NodeName string
	// NodeID is the node's UUID, used as the Raft server ID.
	NodeID string
	// Datacenter is the local datacenter.
	Datacenter string
	// DataDir holds raft/raft.db and raft snapshots; "" keeps everything
	// in memory (dev mode).
	DataDir string
	// Bootstrap makes this server bootstrap a single-voter cluster on
	// first start.
	Bootstrap bool
	// BootstrapExpect is the number of servers to wait for before
	// bootstrapping; 1 behaves like Bootstrap. Larger values are handled by
	// whoever calls BootstrapCluster once enough servers are known.
	BootstrapExpect int
	// RaftLogStore is the on-disk Raft log and stable store under
	// DataDir/raft: LogStoreBoltDB (raft.db, two fsyncs per append) or
	// LogStoreWAL (wal/, raft-wal, one fsync per append; experimental, as
	// in Consul: raft-wal v0.4.0 can fail to reopen a log whose suffix was
	// truncated before a crash, hashicorp/raft-wal#31, which our chaos
	// test reproduces); "" (LogStoreAuto) keeps whichever the directory
	// holds and uses BoltDB for a new one. Unused without DataDir.
	RaftLogStore string
	// RaftBoltNoFreelistSync is raft_logstore.boltdb.no_freelist_sync:
	// raft.db does not write its freelist on every commit (less to write
	// per append; the freelist is rebuilt by a scan when it opens).
	RaftBoltNoFreelistSync bool
	// RaftConfig overrides Raft's defaults; LocalID and Logger are set by
	// the server.
	RaftConfig *raft.Config
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// SessionTTLMin and SessionTTLMax bound a session's TTL.
	SessionTTLMin time.Duration
	SessionTTLMax time.Duration
	// LeaderWait is how long a request waits for an election before it
	// fails with ErrNoLeader.
	LeaderWait time.Duration
	// ApplyTimeout bounds one Raft apply.
	ApplyTimeout time.Duration
	// QuorumProbeTimeout bounds the pings a server without a leader sends
	// the other voters before holding a request for an election: when a
	// majority does not answer, the request fails at once (ErrCutOff).
	// 0 turns the probe off.
	QuorumProbeTimeout time.Duration
	// DefaultQueryTime and MaxQueryTime bound blocking queries.
	DefaultQueryTime time.Duration
	MaxQueryTime     time.Duration
	// ReconcileInterval is the period of the leader's full membership
	// reconciliation (it also runs on every change).
	ReconcileInterval time.Duration
	// TombstoneTTL is how long a deleted KV key's tombstone is kept;
	// TombstoneGranularity is how often the leader samples and reaps.
	TombstoneTTL         time.Duration
	TombstoneGranularity time.Duration
	// CleanupDeadServers lets the leader remove failed servers from Raft
	// (autopilot's cleanup_dead_servers). Like the rest of Autopilot it is
	// the default the first leader stores in Raft; the stored
	// configuration (operator autopilot set-config) decides from then on.
	CleanupDeadServers bool
	// Autopilot is the rest of the autopilot configuration the leader
	// stores in Raft when none is stored (its CleanupDeadServers is
	// ignored: see the field above).
	Autopilot structs.AutopilotConfig
	// AutopilotHealthInterval is how often the leader computes server
	// health for the autopilot gauges. Must be positive.
	AutopilotHealthInterval time.Duration
	// DeadServerGrace is how long a server must have been failed in the
	// LAN pool before CleanupDeadServers removes it. A partition that
	// heals sooner leaves the server a voter, so it catches up through
	// Raft at once instead of waiting to be gossiped back and re-added
	// (once gossip also left from the bind address, a 6 s cut of one
	// follower got it removed, and it rejoined 10-20 s after the heal).
	DeadServerGrace time.Duration
	// RPC configures the server port (used when Deps.Listener is set):
	// the advertised and source addresses and the per-client limits.
	RPC rpcmux.Config
	// UserEventSizeLimit bounds a user event's name plus payload
	// (Internal.EventFire answers a bad request beyond it).
	UserEventSizeLimit int
	// RequestLimitsMode is limits.request_limits.mode: "disabled" (or
	// ""), "permissive" or "enforcing". The limit is global to this
	// server: every request it receives (from its own agent's HTTP API or
	// from the server port, forwarded or not) takes a token from the read
	// or the write bucket before it is routed; Status.* is exempt.
	RequestLimitsMode string
	// RequestLimitsReadRate and RequestLimitsWriteRate are the requests
	// per second allowed; +Inf (math.Inf(1)) is unlimited.
	RequestLimitsReadRate  float64
	RequestLimitsWriteRate float64
	// AutoEncryptAllowTLS is auto_encrypt.allow_tls: the server signs
	// client agents' certificates (AutoEncrypt.Sign, served also over TLS
	// without a client certificate) with a CA kept in Raft. It needs
	// Deps.AutoEncrypt.
	AutoEncryptAllowTLS bool
	// AutoEncryptCertTTL is the validity of the certificates it signs.
	AutoEncryptCertTTL time.Duration
	// Domain is the DNS domain ("consul") of the names in certificates.
	Domain string
	// ACLsEnabled is acl.enabled: the ACL endpoints answer (off: they
	// fail with structs.ErrACLDisabled) and the leader keeps the builtin
	// ACL objects.
	ACLsEnabled bool
	// PrimaryDatacenter is the authoritative ACL datacenter; "" means this
	// one. Policy, role and global token writes are forwarded there.
	PrimaryDatacenter string
	// ACLInitialManagementToken is acl.tokens.initial_management: the
	// leader of the primary creates a token with this secret and the
	// global-management policy when none exists. "" creates none.
	ACLInitialManagementToken string
	// ACLTokenMinExpirationTTL is the shortest ExpirationTTL (and the
	// nearest ExpirationTime) a new token may have (Consul: 1m).
	ACLTokenMinExpirationTTL time.Duration
	// ACLTokenReapInterval is how often the leader deletes expired tokens
	// (used with ACLsEnabled).
	ACLTokenReapInterval time.Duration
	// ACLTokenReplication is acl.enable_token_replication: the leader of a
	// secondary datacenter replicates global tokens too, not only
	// policies and roles.
	ACLTokenReplication bool
	// ACLReplicationToken is acl.tokens.replication: the secret a
	// secondary's leader presents to the primary when it replicates
	// (acl:read is needed for policies and roles, acl:write with token
	// replication).
	ACLReplicationToken string
	// ACLReplicationQueryTime is the wait of the blocking queries a
	// secondary's leader sends the primary to replicate (Consul: 5m).
	ACLReplicationQueryTime time.Duration
	// ACLReplicationBackoffMin and ACLReplicationBackoffMax bound the
	// wait after a failed replication round: it starts at Min and doubles
	// up to Max until a round succeeds.
	ACLReplicationBackoffMin time.Duration
	ACLReplicationBackoffMax time.Duration
	// ACLDefaultPolicy is acl.default_policy, "allow" (or "") or "deny":
	// what a token may do where no rule of its policies decides.
	ACLDefaultPolicy string
	// ACLEnableKeyListPolicy is acl.enable_key_list_policy: KV lists
	// (recurse and keys) need key:list on the prefix, as Consul.
	ACLEnableKeyListPolicy bool
	// MaxSubscriptions bounds the streams (Subscribe.*) this server
	// serves at once, relayed ones to other datacenters included; one
	// more fails with structs.ErrRateLimited. 0 means no bound.
	MaxSubscriptions int
	// SubscriptionHeartbeat is how long a subscription (Subscribe.*) may
	// send nothing: past it the server sends a heartbeat frame (one with
	// nothing in it but the current index), so a subscriber that hears
	// nothing for a few of these knows the stream is dead (a cut network
	// ends no connection quickly). Must be positive.
	SubscriptionHeartbeat time.Duration
}

// defaultAutopilot is Consul's default autopilot configuration.
func defaultAutopilot() structs.AutopilotConfig {
	return structs.AutopilotConfig{CleanupDeadServers: true, LastContactThreshold: 200 * time.Millisecond,
		MaxTrailingLogs: 250, ServerStabilizationTime: 10 * time.Second}
}

// DefaultConfig returns Consul's defaults for a server in dc1.
func DefaultConfig() *Config {
	return &Config{
		Datacenter:               "dc1",
		RaftConfig:               raft.DefaultConfig(),
		SessionTTLMin:            10 * time.Second,
		SessionTTLMax:            24 * time.Hour,
		LeaderWait:               5 * time.Second,
		ApplyTimeout:             30 * time.Second,
		QuorumProbeTimeout:       500 * time.Millisecond,
		DefaultQueryTime:         300 * time.Second,
		MaxQueryTime:             600 * time.Second,
		ReconcileInterval:        60 * time.Second,
		CleanupDeadServers:       true,
		Autopilot:                defaultAutopilot(),
		AutopilotHealthInterval:  2 * time.Second,
		DeadServerGrace:          30 * time.Second,
		TombstoneTTL:             15 * time.Minute,
		TombstoneGranularity:     30 * time.Second,
		RPC:                      rpcmux.DefaultConfig(),
		UserEventSizeLimit:       512,
		RequestLimitsMode:        RequestLimitsDisabled,
		RequestLimitsReadRate:    math.Inf(1),
		RequestLimitsWriteRate:   math.Inf(1),
		AutoEncryptCertTTL:       72 * time.Hour,
		Domain:                   "consul",
		ACLTokenReapInterval:     30 * time.Second,
		ACLTokenMinExpirationTTL: time.Minute,
		ACLReplicationQueryTime:  5 * time.Minute,
		ACLReplicationBackoffMin: 200 * time.Millisecond,
		ACLReplicationBackoffMax: 10 * time.Second,
		MaxSubscriptions:         10000,
		SubscriptionHeartbeat:    500 * time.Millisecond,
	}
}

// The Raft log stores (Config.RaftLogStore).
const (
	LogStoreAuto   = ""
	LogStoreBoltDB = "boltdb"
	LogStoreWAL    = "wal"
)

// ErrInvalidConfig is wrapped by every Validate error.
var ErrInvalidConfig = errors.New("server: invalid config")

// Validate reports the first problem with the config.
func (c *Config) Validate() error {
	switch {
	case c == nil:
		return fmt.Errorf("%w: nil config", ErrInvalidConfig)
	case c.NodeName == "":
		return fmt.Errorf("%w: node name is required", ErrInvalidConfig)
	case c.Datacenter == "":
		return fmt.Errorf("%w: datacenter is required", ErrInvalidConfig)
	case c.BootstrapExpect < 0:
		return fmt.Errorf("%w: bootstrap-expect must not be negative", ErrInvalidConfig)
	case c.Bootstrap && c.BootstrapExpect > 1:
		return fmt.Errorf("%w: bootstrap and bootstrap-expect > 1 are mutually exclusive", ErrInvalidConfig)
	case c.SessionTTLMin <= 0 || c.SessionTTLMax < c.SessionTTLMin:
		return fmt.Errorf("%w: session TTL bounds %v..%v", ErrInvalidConfig, c.SessionTTLMin, c.SessionTTLMax)
	case c.LeaderWait < 0 || c.ApplyTimeout <= 0:
		return fmt.Errorf("%w: leader wait and apply timeout must be positive", ErrInvalidConfig)
	case c.TombstoneTTL <= 0 || c.TombstoneGranularity <= 0:
		return fmt.Errorf("%w: tombstone TTL and granularity must be positive", ErrInvalidConfig)
	case c.ReconcileInterval <= 0:
		return fmt.Errorf("%w: reconcile interval must be positive", ErrInvalidConfig)
	case c.DeadServerGrace < 0:
		return fmt.Errorf("%w: dead server grace must not be negative", ErrInvalidConfig)
	case c.AutopilotHealthInterval <= 0:
		return fmt.Errorf("%w: autopilot health interval must be positive", ErrInvalidConfig)
	case c.Autopilot.LastContactThreshold < 0 || c.Autopilot.ServerStabilizationTime < 0:
		return fmt.Errorf("%w: autopilot durations must not be negative", ErrInvalidConfig)
	case c.UserEventSizeLimit <= 0:
		return fmt.Errorf("%w: user event size limit must be positive", ErrInvalidConfig)
	case c.AutoEncryptAllowTLS && c.AutoEncryptCertTTL <= 0:
		return fmt.Errorf("%w: auto-encrypt certificate TTL must be positive", ErrInvalidConfig)
	case c.ACLsEnabled && c.ACLTokenReapInterval <= 0:
		return fmt.Errorf("%w: ACL token reap interval must be positive", ErrInvalidConfig)
	case c.ACLsEnabled && (c.ACLReplicationQueryTime <= 0 || c.ACLReplicationBackoffMin <= 0 ||
		c.ACLReplicationBackoffMax < c.ACLReplicationBackoffMin):
		return fmt.Errorf("%w: ACL replication query time %v and backoff %v..%v", ErrInvalidConfig,
			c.ACLReplicationQueryTime, c.ACLReplicationBackoffMin, c.ACLReplicationBackoffMax)
	case c.ACLDefaultPolicy != "" && c.ACLDefaultPolicy != "allow" && c.ACLDefaultPolicy != "deny":
		return fmt.Errorf("%w: ACL default policy %q is not \"allow\" or \"deny\"", ErrInvalidConfig, c.ACLDefaultPolicy)
	case c.ACLTokenMinExpirationTTL < 0:
		return fmt.Errorf("%w: ACL token minimum expiration TTL must not be negative", ErrInvalidConfig)
	case c.MaxSubscriptions < 0:
		return fmt.Errorf("%w: max subscriptions must not be negative", ErrInvalidConfig)
	case c.SubscriptionHeartbeat <= 0:
		return fmt.Errorf("%w: subscription heartbeat must be positive, got %v", ErrInvalidConfig, c.SubscriptionHeartbeat)
	case c.RaftLogStore != LogStoreAuto && c.RaftLogStore != LogStoreBoltDB && c.RaftLogStore != LogStoreWAL:
		return fmt.Errorf("%w: raft log store %q is not %q or %q", ErrInvalidConfig, c.RaftLogStore, LogStoreBoltDB, LogStoreWAL)
	case c.DefaultQueryTime <= 0 || c.MaxQueryTime < c.DefaultQueryTime:
		return fmt.Errorf("%w: query times %v..%v", ErrInvalidConfig, c.DefaultQueryTime, c.MaxQueryTime)
	}
	if err := validateRequestLimits(c.RequestLimitsMode, c.RequestLimitsReadRate, c.RequestLimitsWriteRate); err != nil {
		return err
	}
	if c.RaftConfig != nil {
		rc := *c.RaftConfig
		rc.LocalID = raft.ServerID(c.raftID())
		if err := raft.ValidateConfig(&rc); err != nil {
			return fmt.Errorf("%w: raft: %w", ErrInvalidConfig, err)
		}
	}
	return nil
}

func (c *Config) raftID() string {
	if c.NodeID != "" {
		return c.NodeID
	}
	return c.NodeName
}
