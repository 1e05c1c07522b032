package wan

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"consulate/gossip"
	"consulate/structs"
)

// FloodJoinAddrs lists the WAN gossip addresses to join so that servers of
// datacenter dc that appeared on the LAN (lanMembers) are in the WAN pool
// too: every server of dc among them, other than the node self, that
// advertises a WAN join port and whose WAN name (NODE.DC) is not among
// wanMembers. Joining one server across datacenters so brings in all.
func FloodJoinAddrs(lanMembers, wanMembers []structs.Member, dc, self string) []string {
	known := map[string]bool{}
	for _, m := range wanMembers {
		known[m.Name] = true
	}
	var addrs []string
	for _, m := range lanMembers {
		si, ok := structs.ParseServer(m)
		if !ok || si.Datacenter != dc || m.Name == self || si.WANJoinPort <= 0 {
			continue
		}
		if known[MemberName(m.Name, si.Datacenter)] {
			continue
		}
		addrs = append(addrs, net.JoinHostPort(m.Addr, strconv.Itoa(si.WANJoinPort)))
	}
	return addrs
}

// JoinFederation joins the WAN pool through addrs and, when any answered,
// exchanges state with every alive server it now knows, so that both
// federations see each other at once rather than by gossip. It returns
// what the first join returned.
func (p *Pool) JoinFederation(addrs []string) (int, error) {
	n, err := p.Join(addrs, true)
	if n == 0 {
		return n, err
	}
	var all []string
	for _, m := range p.Members() {
		if m.Status == structs.StatusAlive && m.Name != p.LocalName() {
			addr := net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port)))
			if p.cfg.Gateway != nil {
				// By name, so that the gateway transport routes it.
				addr = gossip.JoinAddr(m.Name, addr)
			}
			all = append(all, addr)
		}
	}
	if len(all) > 0 {
		// Best effort: the first join already succeeded.
		_, _ = p.Join(all, true)
	}
	return n, err
}

// RemoteServer is a server of another datacenter to join through the
// gateways, as a gateway describes it (gateway Info).
type RemoteServer struct {
	// Name is the WAN member name, NODE.DC.
	Name string
	// RPCAddr is the server's RPC address (host:port): the gateways
	// route to it.
	RPCAddr string
	// GossipAddr is the server's WAN gossip address (host:port): the
	// member's address in the pool.
	GossipAddr string
}

// ErrNoGateway is returned by JoinThroughGateways on a pool without a
// gateway transport.
var ErrNoGateway = errors.New("wan: the pool does not federate through gateways")

// JoinThroughGateways joins the servers of other datacenters in gateway
// mode: each one's RPC address is hinted to the gateway transport, and
// the join names every member ("NAME/GOSSIPADDR"), so that every packet
// and stream to them goes through the gateways. Then, as JoinFederation,
// state is exchanged with every alive server now known.
func (p *Pool) JoinThroughGateways(servers []RemoteServer) (int, error) {
	gw := p.cfg.Gateway
	if gw == nil {
		return 0, ErrNoGateway
	}
	var addrs []string
	for _, s := range servers {
		if s.Name == "" || s.RPCAddr == "" || s.GossipAddr == "" {
			continue
		}
		gw.HintRPCAddr(s.Name, s.RPCAddr)
		addrs = append(addrs, gossip.JoinAddr(s.Name, s.GossipAddr))
	}
	if len(addrs) == 0 {
		return 0, fmt.Errorf("%w: no server with a name, an RPC and a gossip address", gossip.ErrJoinFailed)
	}
	return p.JoinFederation(addrs)
}
