package agent

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"consulate/federation"
	"consulate/gateway"
	"consulate/structs"
)

// gatewayAdvertise is this agent's gateway address as other gateways and
// the local servers dial it: advertise_addr_wan and gateway.port. It goes
// into the LAN tag "gw".
func (a *Agent) gatewayAdvertise() string {
	return net.JoinHostPort(a.cfg.AdvertiseAddrWAN.String(), strconv.Itoa(a.cfg.GatewayPort))
}

// startGateway runs the federation gateway (gateway.enabled) on
// bind_addr:gateway.port. It starts after the LAN pool, which gives it
// its datacenter's servers and gateways.
func (a *Agent) startGateway() error {
	rt := a.cfg
	if !rt.GatewayEnabled {
		return nil
	}
	cfg := gateway.DefaultConfig()
	cfg.Datacenter = rt.Datacenter
	cfg.BindAddr = rt.BindAddr
	cfg.Port = rt.GatewayPort
	cfg.Advertise = a.gatewayAdvertise()
	cfg.Peers = rt.GatewayPeers
	cfg.ProbeInterval = rt.GatewayProbeInterval
	cfg.Local = a.gatewayLocal
	cfg.Logger = a.base
	g, err := gateway.New(cfg)
	if err != nil {
		return err
	}
	if err := g.Start(context.Background()); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	a.gateway = g
	return nil
}

// gatewayLocal is the gateway's view of its datacenter from the LAN pool:
// the servers (RPC address from the member's port tag, WAN gossip address
// from its IP and wan_join_port) and the alive gateways.
func (a *Agent) gatewayLocal() gateway.Local {
	members := a.lanMembers()
	var l gateway.Local
	for _, m := range members {
		s, ok := structs.ParseServer(m)
		if !ok || s.Datacenter != a.cfg.Datacenter {
			continue
		}
		ls := gateway.LocalServer{Name: m.Name, Addr: s.Addr, Alive: m.Status == structs.StatusAlive}
		if s.WANJoinPort > 0 {
			ls.GossipAddr = net.JoinHostPort(m.Addr, strconv.Itoa(s.WANJoinPort))
		}
		l.Servers = append(l.Servers, ls)
	}
	l.Gateways = gatewaysOf(members, a.cfg.Datacenter)
	return l
}

// gatewaysOf lists the alive gateways (tag "gw") of datacenter dc
// among LAN members: what a gateway.Dialer of a server in gateway mode
// dials, and the addresses exempt from the server port's per-client
// connection limit.
func gatewaysOf(members []structs.Member, dc string) []string {
	var out []string
	for _, m := range members {
		gw := m.Tags[structs.TagGateway]
		if gw == "" || m.Status != structs.StatusAlive || m.Tags[structs.TagDatacenter] != dc {
			continue
		}
		out = append(out, gw)
	}
	return out
}

// gatewayRoutes adapts a Dialer's Routes to what the federation router
// shows in /v1/operator/wan: a datacenter the gateway knows but cannot
// reach has no route (federation.RouteNone), so it is left out.
func gatewayRoutes(d *gateway.Dialer) federation.GatewayRoutesFunc {
	return func(ctx context.Context) ([]federation.GatewayRoute, error) {
		rs, err := d.Routes(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]federation.GatewayRoute, 0, len(rs))
		for _, r := range rs {
			if len(r.Gateways) == 0 {
				continue
			}
			out = append(out, federation.GatewayRoute{DC: r.DC, Via: r.Via, Gateways: r.Gateways})
		}
		return out, nil
	}
}
