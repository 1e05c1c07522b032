package gossip

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/memberlist"

	"consulate/structs"
)

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("gossip: invalid config")

// Config configures a Pool. Memberlist is the base memberlist configuration
// (memberlist.DefaultLANConfig or DefaultWANConfig); New copies it and fills
// in the names, addresses, keyring and delegates, so the caller's value is
// never modified.
type Config struct {
	// NodeName is this member's name; unique in the pool.
	NodeName string
	// Tags are gossiped as the member's metadata (msgpack, bounded by
	// memberlist.MetaMaxSize).
	Tags map[string]string

	// BindAddr is the IP gossip listens on; "" means 0.0.0.0.
	BindAddr string
	// BindPort is the gossip port; 0 picks a free port (the same for TCP
	// and UDP).
	BindPort int
	// AdvertiseAddr and AdvertisePort are what other members dial. With
	// AdvertiseAddr "" memberlist advertises the bound address and port
	// (a private IP when bound to 0.0.0.0) and AdvertisePort is unused.
	AdvertiseAddr string
	AdvertisePort int

	// SecretKey enables AES-GCM encryption of gossip (16, 24 or 32 bytes);
	// it is the keyring's primary key.
	SecretKey []byte
	// Keys are further keys installed besides SecretKey (accepted on
	// incoming gossip, not used to send); they need a SecretKey.
	Keys [][]byte
	// KeyringFile, if set, is where the keyring is saved after every
	// keyring operation (a JSON array of base64 keys, the primary first,
	// as Consul's serf/local.keyring); the agent owns the path.
	KeyringFile string
	// DisableVerifyIncoming accepts plaintext gossip although a key is
	// installed (encrypt_verify_incoming = false); DisableVerifyOutgoing
	// sends plaintext although a key is installed (encrypt_verify_outgoing
	// = false). The zero values verify, memberlist's and Consul's default.
	DisableVerifyIncoming bool
	DisableVerifyOutgoing bool

	// ReconnectInterval is how often a failed member is retried.
	ReconnectInterval time.Duration
	// ReconnectTimeout is how long a failed member is kept before it is reaped.
	ReconnectTimeout time.Duration
	// TombstoneTimeout is how long a left member is kept before it is reaped.
	TombstoneTimeout time.Duration
	// ReapInterval is how often failed and left members are checked for reaping.
	ReapInterval time.Duration
	// BroadcastTimeout bounds how long Leave and ForceLeave wait for their
	// intent to be gossiped.
	BroadcastTimeout time.Duration
	// LeavePropagateDelay is waited after a graceful leave so that the
	// leave reaches the cluster before the process goes away.
	LeavePropagateDelay time.Duration

	// Memberlist is the base memberlist configuration.
	Memberlist *memberlist.Config

	// EventBuffer bounds the queue of events waiting for the Events()
	// consumer; when it is full, new events are dropped with a warning.
	EventBuffer int
	// UserEventBuffer is how many Lamport times of user events are
	// remembered to deliver each event once.
	UserEventBuffer int
	// UserEventSizeLimit bounds name+payload of a user event.
	UserEventSizeLimit int

	// Logger receives the pool's logs (component attribute added by New);
	// nil discards them.
	Logger *slog.Logger
	// Component names the pool in logs ("gossip.lan", "gossip.wan"); ""
	// means "gossip".
	Component string

	// DisableCoordinates turns off Vivaldi coordinates on pings.
	DisableCoordinates bool

	// Clock is the wall clock used for reaping and tombstones; nil means
	// time.Now.
	Clock func() time.Time

	// SnapshotPath, if set, is the file where known members and clocks are
	// saved for -rejoin (like serf's <data-dir>/serf/local.snapshot).
	SnapshotPath string
	// RejoinAfterLeave makes PreviousMembers return members even when the
	// last run ended with a graceful leave.
	RejoinAfterLeave bool

	// MergeCheck, if set, is asked about the members of a cluster being
	// merged with this one (on join in both directions); an error refuses
	// the merge and reaches the caller of Join.
	MergeCheck func(peers []structs.Member) error

	// Observer, if set, is called synchronously for every event before it is
	// queued for Events(). It runs on memberlist's goroutines: it must be
	// quick and must not call back into the Pool.
	Observer func(Event)

	// WrapTransport, if set, wraps the transport memberlist runs on (the
	// one bound to BindAddr:BindPort); memberlist then uses what it
	// returns. The WAN pool routes gossip to servers of other
	// datacenters through federation gateways with it. The wrapper must
	// shut the base transport down in its own Shutdown.
	WrapTransport func(base memberlist.NodeAwareTransport) memberlist.NodeAwareTransport
}

// userEventPacketOverhead is room left in a packet for the event's
// encoding, memberlist's framing and encryption.
const userEventPacketOverhead = 200

// DefaultConfig returns a Config with serf's timers on memberlist's LAN base.
func DefaultConfig() *Config {
	return &Config{
		BindAddr:            "0.0.0.0",
		BindPort:            8301,
		ReconnectInterval:   30 * time.Second,
		ReconnectTimeout:    72 * time.Hour,
		TombstoneTimeout:    24 * time.Hour,
		ReapInterval:        15 * time.Second,
		BroadcastTimeout:    5 * time.Second,
		LeavePropagateDelay: time.Second,
		Memberlist:          memberlist.DefaultLANConfig(),
		EventBuffer:         2048,
		UserEventBuffer:     512,
		UserEventSizeLimit:  512,
		Component:           "gossip",
	}
}

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c == nil {
		return bad("nil config")
	}
	if c.NodeName == "" {
		return bad("node name is empty")
	}
	if c.BindAddr != "" && net.ParseIP(c.BindAddr) == nil {
		return bad("bind address %q is not an IP address", c.BindAddr)
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		return bad("advertise address %q is not an IP address", c.AdvertiseAddr)
	}
	if c.BindPort < 0 || c.BindPort > 65535 {
		return bad("bind port %d out of range", c.BindPort)
	}
	if c.AdvertisePort < 0 || c.AdvertisePort > 65535 {
		return bad("advertise port %d out of range", c.AdvertisePort)
	}
	if len(c.SecretKey) > 0 {
		if err := memberlist.ValidateKey(c.SecretKey); err != nil {
			return bad("secret key: %v", err)
		}
	}
	if len(c.Keys) > 0 && len(c.SecretKey) == 0 {
		return bad("keyring keys given without a primary secret key")
	}
	for i, k := range c.Keys {
		if err := memberlist.ValidateKey(k); err != nil {
			return bad("keyring key %d: %v", i+1, err)
		}
	}
	for name, d := range map[string]time.Duration{
		"reconnect interval": c.ReconnectInterval,
		"reconnect timeout":  c.ReconnectTimeout,
		"tombstone timeout":  c.TombstoneTimeout,
		"reap interval":      c.ReapInterval,
		"broadcast timeout":  c.BroadcastTimeout,
	} {
		if d <= 0 {
			return bad("%s must be positive, got %s", name, d)
		}
	}
	if c.LeavePropagateDelay < 0 {
		return bad("leave propagate delay must not be negative")
	}
	if c.Memberlist == nil {
		return bad("memberlist base config is nil")
	}
	if c.EventBuffer <= 0 {
		return bad("event buffer must be positive")
	}
	if c.UserEventBuffer <= 0 {
		return bad("user event buffer must be positive")
	}
	if c.UserEventSizeLimit <= 0 || c.UserEventSizeLimit > userEventSizeHardLimit {
		return bad("user event size limit must be in 1..%d", userEventSizeHardLimit)
	}
	// An event must fit one gossip packet, or it is queued and never sent.
	if c.Memberlist != nil && c.UserEventSizeLimit > c.Memberlist.UDPBufferSize-userEventPacketOverhead {
		return bad("user event size limit %d does not fit a %d-byte gossip packet (at most %d)",
			c.UserEventSizeLimit, c.Memberlist.UDPBufferSize, c.Memberlist.UDPBufferSize-userEventPacketOverhead)
	}
	if _, err := encodeTags(c.Tags); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}
