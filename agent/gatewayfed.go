package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"consulate/gateway"
	"consulate/gossip"
	"consulate/rpcmux"
	"consulate/structs"
	"consulate/wan"
)

// Servers federated through gateways (connect {
// enable_mesh_gateway_wan_federation = true }): every connection of this
// server to another datacenter (RPC sessions, WAN gossip) goes through a
// local gateway; this datacenter's traffic stays direct. The pieces:
//   - the pool's Dialer: other datacenters through gateway.Dialer;
//   - the WAN pool's transport: wan.GatewayTransport, whose connections
//     ride the pool (Pool.DialProto with rpcmux.RPCGossip) and whose
//     receiving side is the server port's gossip handler;
//   - the server port exempts the local gateways from
//     rpc_max_conns_per_client;
//   - join -wan ADDR (and primary_gateways) ask the gateway ADDR about its
//     datacenter and join its servers by name through the gateways.

// gatewayDialTimeout bounds the connection to one local gateway.
const gatewayDialTimeout = time.Second

// gatewayMode reports whether this agent is a server federated through
// gateways.
func (a *Agent) gatewayMode() bool { return a.cfg.ServerMode && a.cfg.GatewayFederation }

// lanGatewayMembers lists the alive LAN members that run a gateway of
// this datacenter.
func (a *Agent) lanGatewayMembers() []structs.Member {
	var out []structs.Member
	for _, m := range a.lanMembers() {
		if m.Status == structs.StatusAlive && m.Tags[structs.TagGateway] != "" && m.Tags[structs.TagDatacenter] == a.cfg.Datacenter {
			out = append(out, m)
		}
	}
	return out
}

// dialerGateways is the gateway.Dialer's list: the alive local gateways'
// addresses (gatewaysOf, agent/gateway.go).
func (a *Agent) dialerGateways() []string { return gatewaysOf(a.lanMembers(), a.cfg.Datacenter) }

// isLocalGatewayIP reports whether ip is a local gateway's (its LAN
// address or the host of its advertised gateway address): those carry
// every other datacenter's connections and are exempt from
// rpc_max_conns_per_client.
func (a *Agent) isLocalGatewayIP(ip net.IP) bool {
	for _, m := range a.lanGatewayMembers() {
		if net.ParseIP(m.Addr).Equal(ip) {
			return true
		}
		if host, _, err := net.SplitHostPort(m.Tags[structs.TagGateway]); err == nil && net.ParseIP(host).Equal(ip) {
			return true
		}
	}
	return false
}

// buildGatewayFederation builds the gateway dialer and the WAN gateway
// transport, before the pool and the server port that use them. Nothing
// without gateway mode.
func (a *Agent) buildGatewayFederation() error {
	if !a.gatewayMode() {
		return nil
	}
	rt := a.cfg
	d, err := gateway.NewDialer(gateway.DialerConfig{
		Source:      rt.BindAddr,
		Gateways:    a.dialerGateways,
		DialTimeout: gatewayDialTimeout,
		Logger:      a.base,
	})
	if err != nil {
		return err
	}
	a.gwDialer = d
	if rt.SerfPortWAN <= 0 {
		return nil
	}
	gc := wan.DefaultGatewayConfig()
	gc.Datacenter = rt.Datacenter
	gc.AdvertiseAddr = net.JoinHostPort(rt.AdvertiseAddrWAN.String(), strconv.Itoa(rt.SerfPortWAN))
	gc.Logger = a.base
	// a.pool exists by the time anything gossips.
	gc.Dial = func(ctx context.Context, dc, rpcAddr string) (net.Conn, error) {
		return a.pool.DialProto(ctx, structs.Datacenter(dc), structs.ServerAddr(rpcAddr), rpcmux.RPCGossip)
	}
	a.gwTransport, err = wan.NewGatewayTransport(gc)
	return err
}

// gatewayPoolDialer is the pool's Dialer in gateway mode: other
// datacenters through the local gateways, this one directly from the
// bind address.
func (a *Agent) gatewayPoolDialer() func(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr) (net.Conn, error) {
	direct := &net.Dialer{}
	if ip := a.cfg.BindAddr; ip != nil && !ip.IsUnspecified() {
		direct.LocalAddr = &net.TCPAddr{IP: ip}
	}
	local := structs.Datacenter(a.cfg.Datacenter)
	return func(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr) (net.Conn, error) {
		if dc == "" || dc == local {
			return direct.DialContext(ctx, "tcp", string(addr))
		}
		return a.gwDialer.Dial(ctx, string(dc), string(addr))
	}
}

// defaultGatewayPort is the gateway port of an address given without one.
const defaultGatewayPort = 8443

// joinThroughGateways is Join(wan) in gateway mode: every address is a
// federation gateway (local or remote); its datacenter's servers, as it
// describes them, are joined by name through the local gateways.
func (a *Agent) joinThroughGateways(ctx context.Context, addrs []string) (int, error) {
	if a.gwDialer == nil || a.wan == nil || a.wan.Gateway() == nil {
		return 0, &structs.BadRequestError{Reason: "WAN join through gateways needs the WAN pool"}
	}
	port := a.cfg.GatewayPort
	if port <= 0 {
		port = defaultGatewayPort
	}
	var servers []wan.RemoteServer
	var errs []error
	for _, addr := range gossip.WithDefaultPort(addrs, port) {
		ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
		info, err := a.gwDialer.Info(ictx, addr)
		cancel()
		if err != nil {
			var refused *gateway.RefusedError
			if errors.As(err, &refused) {
				err = fmt.Errorf("%s is not a federation gateway (servers in gateway mode join other datacenters through their gateways): %w", addr, err)
			}
			errs = append(errs, err)
			continue
		}
		if info.DC != a.cfg.Datacenter {
			a.waitGatewayRoute(ctx, info.DC)
		}
		n := 0
		for _, s := range info.Servers {
			if s.GossipAddr == "" || s.Addr == "" {
				continue
			}
			servers = append(servers, wan.RemoteServer{
				Name: wan.MemberName(s.Name, info.DC), RPCAddr: s.Addr, GossipAddr: s.GossipAddr})
			n++
		}
		if n == 0 {
			errs = append(errs, fmt.Errorf("gateway %s of %s knows no server with a WAN gossip address", addr, info.DC))
		}
	}
	if len(servers) == 0 {
		return 0, fmt.Errorf("%w: %w", gossip.ErrJoinFailed, errors.Join(errs...))
	}
	n, err := a.wan.JoinThroughGateways(servers)
	if err != nil && len(errs) > 0 {
		err = errors.Join(err, errors.Join(errs...))
	}
	return n, err
}

// gatewayRouteWait bounds the wait for the local gateways to route to a
// datacenter just learned through a join.
const gatewayRouteWait = 5 * time.Second

// waitGatewayRoute waits, within gatewayRouteWait and ctx, until a local
// gateway has a route to dc. A join through a remote gateway the local
// ones did not know teaches them of it (Info with Next); the route comes
// with their first probe of it, a probe interval later. Joining before
// would find no route.
func (a *Agent) waitGatewayRoute(ctx context.Context, dc string) {
	ctx, cancel := context.WithTimeout(ctx, gatewayRouteWait)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		routes, err := a.gwDialer.Routes(ctx)
		if err == nil {
			for _, r := range routes {
				if r.DC == dc && len(r.Gateways) > 0 {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			a.logger.Warn("local gateways have no route to the datacenter joined; joining anyway", "datacenter", dc)
			return
		case <-t.C:
		}
	}
}

// startPrimaryGateways joins through primary_gateways in the background,
// every primary_gateways_interval until joined, as retry_join_wan.
func (a *Agent) startPrimaryGateways(ctx context.Context) {
	rt := a.cfg
	if !a.gatewayMode() || len(rt.PrimaryGateways) == 0 || a.wan == nil {
		return
	}
	a.retryJoin(ctx, "WAN (primary gateways)", rt.PrimaryGateways, rt.PrimaryGatewaysInterval, 0, true)
}
