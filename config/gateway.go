package config

import (
	"net"
	"strconv"
	"strings"
	"time"
)

// Federation gateways (issue 15): the gateway stanza turns an agent into
// a gateway of its datacenter; Consul's connect.enable_mesh_gateway_wan_
// federation makes a server reach other datacenters only through its
// local gateways, and primary_gateways are the remote gateways such a
// server joins the WAN pool through.

// Gateway is the gateway stanza (Consulate's own; Consul's mesh gateways
// are Envoy services).
type Gateway struct {
	// Enabled runs a federation gateway in this agent.
	Enabled *bool `json:"enabled,omitempty"`
	// Port is where the gateway listens, on bind_addr.
	Port *int `json:"port,omitempty"`
	// Peers are gateways of other datacenters (host:port) to start from;
	// more are learned from them.
	Peers []string `json:"peers,omitempty"`
	// ProbeInterval is how often the gateway probes the remote gateways
	// it knows.
	ProbeInterval *time.Duration `json:"probe_interval,omitempty"`
}

// Connect is Consul's connect stanza. Only
// enable_mesh_gateway_wan_federation works here; its other keys are
// accepted with a warning (see ignoredKeys).
type Connect struct {
	// EnableMeshGatewayWANFederation makes a server reach other
	// datacenters only through the gateways of its own.
	EnableMeshGatewayWANFederation *bool `json:"enable_mesh_gateway_wan_federation,omitempty"`
}

// maxGatewayProbeInterval bounds gateway.probe_interval: a dead gateway
// is marked down within two intervals.
const maxGatewayProbeInterval = time.Minute

// gatewayDefaults are the defaults of the gateway stanza.
func gatewayDefaults() *Gateway {
	return &Gateway{Enabled: ptr(false), Port: ptr(8443), ProbeInterval: ptr(time.Second)}
}

// gateway builds and checks the gateway stanza, the connect stanza's
// federation switch and primary_gateways.
func (b *builder) gateway(c *Config, rt *Runtime) error {
	g := c.Gateway
	rt.GatewayEnabled = *g.Enabled
	rt.GatewayPort = *g.Port
	rt.GatewayProbeInterval = *g.ProbeInterval
	if rt.GatewayPort < 1 || rt.GatewayPort > 65535 {
		return b.errorf("gateway.port", "must be 1-65535, got %d", rt.GatewayPort)
	}
	if rt.GatewayProbeInterval <= 0 || rt.GatewayProbeInterval > maxGatewayProbeInterval {
		return b.errorf("gateway.probe_interval", "must be > 0 and at most %s, got %s", maxGatewayProbeInterval, rt.GatewayProbeInterval)
	}
	var err error
	if rt.GatewayPeers, err = hostPortList(g.Peers); err != nil {
		return b.fail("gateway.peers", err)
	}
	if rt.GatewayEnabled {
		if err := b.gatewayPortFree(rt); err != nil {
			return err
		}
	}

	if c.Connect != nil && c.Connect.EnableMeshGatewayWANFederation != nil {
		rt.GatewayFederation = *c.Connect.EnableMeshGatewayWANFederation
	}
	if rt.GatewayFederation && !rt.ServerMode {
		return b.errorf("connect.enable_mesh_gateway_wan_federation", "only servers route through gateways")
	}
	if rt.PrimaryGateways, err = hostPortList(c.PrimaryGateways); err != nil {
		return b.fail("primary_gateways", err)
	}
	if len(rt.PrimaryGateways) > 0 && !rt.GatewayFederation {
		return b.errorf("primary_gateways", "needs connect.enable_mesh_gateway_wan_federation = true (a server joins through gateways only in gateway mode)")
	}
	rt.PrimaryGatewaysInterval = *c.PrimaryGatewaysInterval
	if rt.PrimaryGatewaysInterval <= 0 {
		return b.errorf("primary_gateways_interval", "must be > 0, got %s", rt.PrimaryGatewaysInterval)
	}
	return nil
}

// gatewayPortFree refuses a gateway port that another listener of the
// agent uses on an overlapping address (the gateway listens on
// bind_addr; an unspecified address overlaps every other).
func (b *builder) gatewayPortFree(rt *Runtime) error {
	type listener struct {
		key  string
		port int
		ips  []net.IP
	}
	ls := []listener{
		{"ports.serf_lan", rt.SerfPortLAN, []net.IP{rt.SerfBindAddrLAN}},
		{"ports.http", rt.HTTPPort, rt.HTTPBindAddrs},
		{"ports.https", rt.HTTPSPort, rt.HTTPSBindAddrs},
		{"ports.dns", rt.DNSPort, rt.DNSBindAddrs},
	}
	if rt.ServerMode {
		// Only servers listen on the server port and gossip on the WAN.
		ls = append(ls,
			listener{"ports.server", rt.ServerPort, []net.IP{rt.BindAddr}},
			listener{"ports.serf_wan", rt.SerfPortWAN, []net.IP{rt.SerfBindAddrWAN}})
	}
	for _, l := range ls {
		if l.port != rt.GatewayPort {
			continue
		}
		for _, ip := range l.ips {
			if ip.IsUnspecified() || rt.BindAddr.IsUnspecified() || ip.Equal(rt.BindAddr) {
				// Name the file that set the gateway's port, or else the
				// one that set the other port.
				src := b.og["gateway.port"]
				if src == "" {
					src = b.og[l.key]
				}
				return &Error{Source: src, Key: "gateway.port", Err: invalid("%d is also %s on %s (the gateway listens on bind_addr %s)", rt.GatewayPort, l.key, ip, rt.BindAddr)}
			}
		}
	}
	return nil
}

// hostPortList checks that each address is host:port with a port of
// 1-65535, trimming spaces.
func hostPortList(in []string) ([]string, error) {
	var out []string
	for _, a := range in {
		a = strings.TrimSpace(a)
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return nil, invalid("%q is not host:port", a)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return nil, invalid("%q: port must be 1-65535", a)
		}
		out = append(out, a)
	}
	return out, nil
}
