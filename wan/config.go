package wan

import (
	"errors"
	"fmt"
	"strings"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/memberlist"

	"consulate/gossip"
	"consulate/structs"
)

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("wan: invalid config")

// Config configures the WAN pool. NodeName is the short node name; the
// member name is NodeName + "." + Datacenter. Gossip.NodeName is ignored.
type Config struct {
	// Gossip is the pool's gossip configuration; New copies it, and a
	// Component of "" or "gossip" becomes "gossip.wan".
	Gossip *gossip.Config

	// NodeName, Datacenter (no dots) and NodeID are required.
	NodeName   string
	Datacenter string
	NodeID     string
	// ServerPort is the server RPC port other datacenters dial (tag
	// "port"); Build, BootstrapExpect and RaftVersion are gossiped as tags.
	ServerPort      int
	Build           string
	BootstrapExpect int
	RaftVersion     int

	// Gateway, when set, is the gateway-mode transport (servers
	// federated through gateways): New wraps the pool's transport with it
	// and feeds it the members' RPC addresses. A Gossip.WrapTransport
	// already set stays inside it, next to the network. Nil: gossip goes
	// directly to every member, as without gateways.
	Gateway *GatewayTransport
}

// DefaultConfig starts from memberlist.DefaultWANConfig and Consul's ports.
func DefaultConfig() *Config {
	g := gossip.DefaultConfig()
	g.Memberlist = memberlist.DefaultWANConfig()
	// Consul labels serf's and memberlist's metrics with the network.
	g.Memberlist.MetricLabels = []gometrics.Label{{Name: "network", Value: "wan"}}
	g.BindPort = 8302
	g.Component = "gossip.wan"
	return &Config{
		Gossip:      g,
		Datacenter:  "dc1",
		ServerPort:  8300,
		RaftVersion: 3,
	}
}

// MemberName is the WAN member name of a node in a datacenter.
func MemberName(node, dc string) string { return structs.WANMemberName(node, dc) }

// SplitMemberName splits NODE.DC at the last dot.
func SplitMemberName(name string) (node, dc string, ok bool) { return structs.SplitWANMemberName(name) }

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c == nil || c.Gossip == nil {
		return bad("gossip config is nil")
	}
	if c.NodeName == "" {
		return bad("node name is empty")
	}
	if c.Datacenter == "" || strings.Contains(c.Datacenter, ".") {
		return bad("datacenter %q must be non-empty and without dots", c.Datacenter)
	}
	if c.NodeID == "" {
		return bad("node ID is empty")
	}
	if c.ServerPort <= 0 || c.ServerPort > 65535 {
		return bad("server RPC port %d out of range", c.ServerPort)
	}
	if c.BootstrapExpect < 0 {
		return bad("bootstrap-expect must not be negative")
	}
	if c.Gateway != nil && c.Gateway.cfg.Datacenter != c.Datacenter {
		return bad("gateway transport is for datacenter %q, not %q", c.Gateway.cfg.Datacenter, c.Datacenter)
	}
	if err := c.gossipConfig().Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// gossipConfig is Gossip with the member name NODE.DC and the server tags
// every WAN member carries (the same as on the LAN).
func (c *Config) gossipConfig() *gossip.Config {
	g := *c.Gossip
	g.NodeName = MemberName(c.NodeName, c.Datacenter)
	g.Tags = structs.MemberTags{
		Datacenter: c.Datacenter, NodeID: c.NodeID, Build: c.Build, Server: true,
		ServerPort: c.ServerPort, RaftVersion: c.RaftVersion, BootstrapExpect: c.BootstrapExpect,
	}.Tags(c.Gossip.Tags)
	return &g
}
