package wan

import (
	"net"
	"strconv"

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
			all = append(all, net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port))))
		}
	}
	if len(all) > 0 {
		// Best effort: the first join already succeeded.
		_, _ = p.Join(all, true)
	}
	return n, err
}
