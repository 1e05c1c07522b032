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

// gatewayLocal is the gateway's view of its datacenter from the LAN pool
// (the servers and the alive gateways), as the per-LAN-event cache
// (localGatewayView) holds it: the gateway asks on every request.
func (a *Agent) gatewayLocal() gateway.Local { return a.localGatewayView().local }

// localServerOf is the gateway's entry for server member m (s parsed
// from it).
func localServerOf(m structs.Member, s structs.ServerInfo) gateway.LocalServer {
	ls := gateway.LocalServer{Name: m.Name, Addr: s.Addr, Alive: m.Status == structs.StatusAlive}
	// Servers of other datacenters know this one by its WAN address
	// (tag wan_addr when it differs from the LAN one).
	wanIP := m.Addr
	if w := m.Tags[structs.TagWANAddr]; w != "" && net.ParseIP(w) != nil {
		wanIP = w
		if w != m.Addr {
			ls.WANAddr = net.JoinHostPort(w, strconv.Itoa(s.Port))
		}
	}
	if s.WANJoinPort > 0 {
		ls.GossipAddr = net.JoinHostPort(wanIP, strconv.Itoa(s.WANJoinPort))
	}
	return ls
}

// gatewayRoutes adapts a Dialer's Routes to what the federation router
// shows in /v1/operator/wan: a datacenter the gateway knows but cannot
// reach has no route (federation.RouteNone), so it is left out.
func gatewayRoutes(d *gateway.Dialer) federation.GatewayRoutesFunc {
	return func(ctx context.Context) ([]federation.GatewayRoute, error) {
		local, rs, err := d.Routes(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]federation.GatewayRoute, 0, len(rs))
		for _, r := range rs {
			if len(r.Gateways) == 0 {
				continue
			}
			out = append(out, federation.GatewayRoute{DC: r.DC, Via: r.Via, Gateways: r.Gateways, LocalGateway: local})
		}
		return out, nil
	}
}
