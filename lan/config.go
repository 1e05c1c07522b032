package lan

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"

	"consulate/gossip"
)

// Tag names Consul puts on LAN (and WAN) members.
const (
	TagRole        = "role"
	TagDatacenter  = "dc"
	TagPort        = "port"
	TagID          = gossip.TagID
	TagBuild       = "build"
	TagVsn         = "vsn"
	TagVsnMin      = "vsn_min"
	TagVsnMax      = "vsn_max"
	TagRaftVsn     = "raft_vsn"
	TagExpect      = "expect"
	TagBootstrap   = "bootstrap"
	TagWANJoinPort = "wan_join_port"
	TagSegment     = "segment"

	RoleServer = "consul"
	RoleClient = "node"
)

// Protocol versions advertised in the vsn tags (Consul's values).
const (
	ProtocolVersion    = 2
	ProtocolVersionMin = 2
	ProtocolVersionMax = 3
)

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("lan: invalid config")

// Config configures the LAN pool. Gossip carries the node name, addresses,
// key and timers; the rest become tags.
type Config struct {
	Gossip *gossip.Config

	Datacenter      string
	NodeID          string
	Server          bool
	ServerPort      int // server RPC port, tag "port"
	Build           string
	BootstrapExpect int
	Bootstrap       bool
	WANJoinPort     int
	RaftVersion     int
	Segment         string
}

// DefaultConfig starts from memberlist.DefaultLANConfig and Consul's ports.
func DefaultConfig() *Config {
	g := gossip.DefaultConfig()
	g.Memberlist = memberlist.DefaultLANConfig()
	g.BindPort = 8301
	g.Component = "gossip.lan"
	g.ReconnectTimeout = 72 * time.Hour
	return &Config{
		Gossip:      g,
		Datacenter:  "dc1",
		ServerPort:  8300,
		WANJoinPort: 8302,
		RaftVersion: 3,
	}
}

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c == nil || c.Gossip == nil {
		return bad("gossip config is nil")
	}
	if c.Datacenter == "" {
		return bad("datacenter is empty")
	}
	if c.NodeID == "" {
		return bad("node ID is empty")
	}
	if c.Server {
		if c.ServerPort <= 0 || c.ServerPort > 65535 {
			return bad("server RPC port %d out of range", c.ServerPort)
		}
		if c.BootstrapExpect < 0 {
			return bad("bootstrap-expect must not be negative")
		}
		if c.WANJoinPort < 0 || c.WANJoinPort > 65535 {
			return bad("WAN join port %d out of range", c.WANJoinPort)
		}
	}
	g := *c.Gossip
	g.Tags = c.BuildTags()
	if err := g.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// BuildTags returns Gossip.Tags with Consul's tags laid over them.
func (c *Config) BuildTags() map[string]string {
	tags := maps.Clone(c.Gossip.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	tags[TagDatacenter] = c.Datacenter
	tags[TagSegment] = c.Segment
	tags[TagID] = c.NodeID
	tags[TagVsn] = strconv.Itoa(ProtocolVersion)
	tags[TagVsnMin] = strconv.Itoa(ProtocolVersionMin)
	tags[TagVsnMax] = strconv.Itoa(ProtocolVersionMax)
	tags[TagBuild] = c.Build
	if !c.Server {
		tags[TagRole] = RoleClient
		return tags
	}
	tags[TagRole] = RoleServer
	tags[TagPort] = strconv.Itoa(c.ServerPort)
	tags[TagRaftVsn] = strconv.Itoa(c.RaftVersion)
	if c.BootstrapExpect > 0 {
		tags[TagExpect] = strconv.Itoa(c.BootstrapExpect)
	}
	if c.Bootstrap {
		tags[TagBootstrap] = "1"
	}
	if c.WANJoinPort > 0 {
		tags[TagWANJoinPort] = strconv.Itoa(c.WANJoinPort)
	}
	return tags
}
