package lan

import (
	"errors"
	"fmt"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/memberlist"

	"consulate/gossip"
	"consulate/structs"
)

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("lan: invalid config")

// Config configures the LAN pool. Gossip carries the node name, addresses,
// key and timers; the rest become tags.
type Config struct {
	// Gossip is the pool's gossip configuration; New copies it and sets
	// its tags, and a Component of "" or "gossip" becomes "gossip.lan".
	Gossip *gossip.Config

	// Datacenter and NodeID are required; they become the "dc" and "id"
	// tags.
	Datacenter string
	NodeID     string
	// Server marks this member as a server; ServerPort (tag "port"),
	// BootstrapExpect, Bootstrap, WANJoinPort and RaftVersion are only
	// gossiped for servers.
	Server          bool
	ServerPort      int
	Build           string
	BootstrapExpect int
	Bootstrap       bool
	WANJoinPort     int
	RaftVersion     int
	// Segment is the network segment tag; "" is the default segment.
	Segment string
}

// DefaultConfig starts from memberlist.DefaultLANConfig and Consul's ports.
func DefaultConfig() *Config {
	g := gossip.DefaultConfig()
	g.Memberlist = memberlist.DefaultLANConfig()
	// Consul labels serf's and memberlist's metrics with the network.
	g.Memberlist.MetricLabels = []gometrics.Label{{Name: "network", Value: "lan"}}
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
	g.Tags = c.memberTags()
	if err := g.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// memberTags are the tags this pool's member carries.
func (c *Config) memberTags() map[string]string {
	return structs.MemberTags{
		Datacenter: c.Datacenter, NodeID: c.NodeID, Build: c.Build, Segment: c.Segment,
		Server: c.Server, ServerPort: c.ServerPort, RaftVersion: c.RaftVersion,
		BootstrapExpect: c.BootstrapExpect, Bootstrap: c.Bootstrap, WANJoinPort: c.WANJoinPort,
	}.Tags(c.Gossip.Tags)
}
