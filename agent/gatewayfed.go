package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"consulate/config"
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
//   - the server port gives the local gateways' LAN addresses a larger
//     per-IP cap than rpc_max_conns_per_client (rpcmux
//     MaxConnsPerExemptClient), from a view of the local gateways
//     cached per LAN event;
//   - WAN gossip inside TLS must come from a server certificate of some
//     datacenter when verify_server_hostname is on;
//   - join -wan ADDR (and primary_gateways) ask the gateway ADDR about its
//     datacenter and join its servers by name through the gateways.

// gatewayDialTimeout bounds the connection to one local gateway.
const gatewayDialTimeout = time.Second

// gatewayMode reports whether this agent is a server federated through
// gateways.
func (a *Agent) gatewayMode() bool { return a.cfg.ServerMode && a.cfg.GatewayFederation }

// localGateways is this datacenter's alive gateways (and, for a
// gateway agent, its servers) as the LAN pool saw them at the last LAN
// event: the gateway dialer's list, the gateways' LAN addresses and the
// gateway's Config.Local view. Computing it walks every LAN member, so it
// is done once per LAN event, not once per connection.
type localGateways struct {
	addrs []string                // the gateways' LAN addresses and tag ports, as servers dial them
	ips   map[netip.Addr]struct{} // the gateway members' LAN addresses
	local gateway.Local           // servers and advertised gateway addresses (gatewayLocal)
	at    time.Time               // when computed
}

// localGatewaysMaxAge bounds how stale the cached view may get should a
// LAN event be lost (the event queue drops when full): an older view is
// recomputed on use.
const localGatewaysMaxAge = 10 * time.Second

// localGatewaysOf builds the view from members in one pass. A gateway is
// an alive member of dc with tag "gw". Its advertised (WAN) address, the
// tag, is what a gateway tells other datacenters (local.Gateways); local
// servers dial the member's LAN address with the tag's port (addrs: the
// tag's host is the WAN address other datacenters use, which a NAT may
// not let back in). Only a member's LAN address (the one gossip
// verified, and the one servers dial) makes an IP exempt (ips): the gw
// tag's host is whatever the member declares. The servers of dc go to
// local.Servers (RPC address from the member's port tag, WAN gossip
// address from its IP and wan_join_port).
func localGatewaysOf(members []structs.Member, dc string) *localGateways {
	lg := &localGateways{ips: map[netip.Addr]struct{}{}, at: time.Now()}
	for _, m := range members {
		if s, ok := structs.ParseServer(m); ok && s.Datacenter == dc {
			lg.local.Servers = append(lg.local.Servers, localServerOf(m, s))
		}
		gw := m.Tags[structs.TagGateway]
		if gw == "" || m.Status != structs.StatusAlive || m.Tags[structs.TagDatacenter] != dc {
			continue
		}
		lg.local.Gateways = append(lg.local.Gateways, gw)
		if _, port, err := net.SplitHostPort(gw); err == nil && m.Addr != "" {
			lg.addrs = append(lg.addrs, net.JoinHostPort(m.Addr, port))
		}
		if ip, err := netip.ParseAddr(m.Addr); err == nil {
			lg.ips[ip.Unmap()] = struct{}{}
		}
	}
	return lg
}

// keepsLocalGateways reports whether this agent keeps the cached view:
// a server in gateway mode (its dialer and connection cap) or a gateway
// (its Config.Local).
func (a *Agent) keepsLocalGateways() bool { return a.gatewayMode() || a.cfg.GatewayEnabled }

// refreshLocalGateways recomputes the cached view from members; the LAN
// event loop calls it on every membership event. Nothing without gateway
// mode or gateway.enabled.
func (a *Agent) refreshLocalGateways(members []structs.Member) {
	if !a.keepsLocalGateways() {
		return
	}
	a.storeLocalGateways(localGatewaysOf(members, a.cfg.Datacenter))
}

// storeLocalGateways caches lg and closes the connections that went
// through a local gateway no longer in it (failed or left on the LAN):
// a gateway whose host is gone answers nothing, and the pool's sessions
// and the WAN gossip pipes through it would go on writing into a silent
// path; closed, they redial through a gateway that is alive.
func (a *Agent) storeLocalGateways(lg *localGateways) {
	old := a.gwLocal.Swap(lg)
	if old == nil || a.gwDialer == nil {
		return
	}
	for _, gw := range old.addrs {
		if !slices.Contains(lg.addrs, gw) {
			if n := a.gwDialer.CloseVia(gw); n > 0 {
				a.logger.Warn("local gateway gone: closed the connections through it", "gateway", gw, "connections", n)
			}
		}
	}
}

// localGatewayView is the cached view, computed now when no LAN event
// has refreshed it yet or it is older than localGatewaysMaxAge.
func (a *Agent) localGatewayView() *localGateways {
	if lg := a.gwLocal.Load(); lg != nil && time.Since(lg.at) < localGatewaysMaxAge {
		return lg
	}
	lg := localGatewaysOf(a.lanMembers(), a.cfg.Datacenter)
	if a.keepsLocalGateways() {
		a.storeLocalGateways(lg)
	}
	return lg
}

// cachedDialerGateways is the gateway.Dialer's list, the alive local
// gateways' LAN addresses, from the cached view: the gateway dialer
// calls it on every dial. The slice is the cache's: the dialer only
// reads it.
func (a *Agent) cachedDialerGateways() []string { return a.localGatewayView().addrs }

// isLocalGatewayIP reports whether ip is the LAN address of a local
// gateway: those carry every other datacenter's connections and get the
// larger per-IP cap of rpcmux.Config.MaxConnsPerExemptClient instead of
// rpc_max_conns_per_client. Called on every accepted connection: a
// lookup in the cached view.
func (a *Agent) isLocalGatewayIP(ip net.IP) bool {
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	_, ok = a.localGatewayView().ips[addr.Unmap()]
	return ok
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
		Gateways:    a.cachedDialerGateways,
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
// datacenters through the local gateways, this one directly (the pool's
// own dial from the bind address).
func (a *Agent) gatewayPoolDialer() func(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr) (net.Conn, error) {
	local := structs.Datacenter(a.cfg.Datacenter)
	return func(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr) (net.Conn, error) {
		if dc == "" || dc == local {
			return nil, rpcmux.ErrDialDirect
		}
		return a.gwDialer.Dial(ctx, string(dc), string(addr))
	}
}

// gatewayMinDialTime is rpcmux.PoolConfig.MinDialTime in gateway mode: a
// dial to another datacenter (through the local gateways) gets two hedge
// intervals whatever the deadline of the caller who starts it, so it can
// pass over a hung gateway; own-datacenter dials go directly and keep the
// caller's deadline.
func (a *Agent) gatewayMinDialTime(dc structs.Datacenter) time.Duration {
	if dc == "" || dc == structs.Datacenter(a.cfg.Datacenter) {
		return 0
	}
	return 2 * gateway.HedgeAfter
}

// joinThroughGateways is Join(wan) in gateway mode: every address is a
// federation gateway (local or remote; port config.DefaultGatewayPort
// when it has none); its datacenter's servers, as it describes them, are
// joined by name through the local gateways.
func (a *Agent) joinThroughGateways(ctx context.Context, addrs []string) (int, error) {
	if a.gwDialer == nil || a.wan == nil || a.wan.Gateway() == nil {
		return 0, &structs.BadRequestError{Reason: "WAN join through gateways needs the WAN pool"}
	}
	var servers []wan.RemoteServer
	var errs []error
	for _, addr := range gossip.WithDefaultPort(addrs, config.DefaultGatewayPort) {
		ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
		info, err := a.gwDialer.Info(ictx, addr)
		cancel()
		if err != nil {
			errs = append(errs, joinInfoError(addr, err))
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

// joinInfoError words a failed Info about the gateway addr for a join.
// A local gateway relays what happened at addr as a refusal with a code:
// addr answering but not as a gateway (gateway.ErrNotGateway) means it
// is not a federation gateway; addr not answering at all
// (gateway.ErrNextUnreachable: refused, timed out, unreachable) means it
// is down or cut off, which says nothing about what it is. Anything else
// (no local gateway, a refusal by the remote gateway itself) is returned
// as it is.
func joinInfoError(addr string, err error) error {
	if errors.Is(err, gateway.ErrNotGateway) {
		return fmt.Errorf("%s is not a federation gateway (servers in gateway mode join other datacenters through their gateways): %w", addr, err)
	}
	tries := []error{err}
	var derr *gateway.DialError
	if errors.As(err, &derr) {
		tries = derr.Tries
	}
	for _, e := range tries {
		var refused *gateway.RefusedError
		if errors.Is(e, gateway.ErrNextUnreachable) && errors.As(e, &refused) {
			return fmt.Errorf("no answer from gateway %s through local gateway %s: %s", addr, refused.Gateway, refused.Reason)
		}
	}
	return err
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
		_, routes, err := a.gwDialer.Routes(ctx)
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
