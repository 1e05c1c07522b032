package dns

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"consulate/structs"
)

// Reverse lookups (PTR), as Consul answers them: a name under
// in-addr.arpa. or ip6.arpa. is looked up among the catalog's node
// addresses (answer NODE.node.DC.DOMAIN), then among service addresses
// (answer SERVICE.service.DC.DOMAIN, the canonical name); one record,
// TTL 0, whatever the type asked. A name found nowhere goes to the
// recursors; without recursors it is NXDOMAIN with the domain's SOA, as
// Consul's handlePtr answers.

// isReverse reports whether name (lower-case, fully qualified) is under
// the reverse-lookup zones.
func isReverse(name string) bool {
	return strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa.")
}

// reverseAddr parses a reverse-lookup name back into the address it
// names; ok is false for a name that is not a whole address.
func reverseAddr(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		parts := strings.Split(rest, ".")
		if len(parts) != 4 {
			return netip.Addr{}, false
		}
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
		a, err := netip.ParseAddr(strings.Join(parts, "."))
		return a, err == nil && a.Is4()
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa."); ok {
		nibbles := strings.Split(rest, ".")
		if len(nibbles) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, n := range nibbles {
			if len(n) != 1 {
				return netip.Addr{}, false
			}
			v, ok := hexNibble(n[0])
			if !ok {
				return netip.Addr{}, false
			}
			pos := 31 - i
			if pos%2 == 0 {
				b[pos/2] |= v << 4
			} else {
				b[pos/2] |= v
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

func hexNibble(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// sameAddr compares a catalog address with the one looked up, so that
// "::1" and "0:0::1" (or an IPv4-mapped form) match.
func sameAddr(catalog string, want netip.Addr) bool {
	a, err := netip.ParseAddr(catalog)
	return err == nil && a.Unmap() == want.Unmap()
}

// ptrLookup answers a reverse lookup from the catalog; false when the
// address is unknown (or the catalog could not be read).
func (s *Server) ptrLookup(r *request, name string) bool {
	ip, ok := reverseAddr(name)
	if !ok {
		return false
	}
	r.dc = s.cfg.Datacenter
	domain := s.domain
	var target string
	nargs := structs.DCSpecificRequest{Datacenter: r.dc, QueryOptions: s.queryOptions()}
	var nodes structs.IndexedNodes
	if err := s.backend.RPC(r.ctx, structs.MethodCatalogListNodes, &nargs, &nodes); err != nil {
		s.logger.Debug("reverse lookup: listing nodes failed", "name", r.q.Name, "error", err)
	} else {
		for _, n := range nodes.Nodes {
			if sameAddr(n.Address, ip) {
				target = n.Node + ".node." + r.dc + "." + domain
				break
			}
		}
	}
	if target == "" {
		sargs := structs.ServiceSpecificRequest{Datacenter: r.dc, ServiceAddress: ip.String(), QueryOptions: s.queryOptions()}
		var svcs structs.IndexedServiceNodes
		if err := s.backend.RPC(r.ctx, structs.MethodCatalogServiceNodes, &sargs, &svcs); err != nil {
			s.logger.Debug("reverse lookup: service addresses failed", "name", r.q.Name, "error", err)
		} else {
			for _, sn := range svcs.ServiceNodes {
				if sameAddr(sn.ServiceAddress, ip) {
					target = sn.ServiceName + ".service." + r.dc + "." + domain
					break
				}
			}
		}
	}
	if target == "" {
		return false
	}
	r.domain = domain
	r.resp.Authoritative = true
	r.resp.Answer = append(r.resp.Answer, &dns.PTR{
		Hdr: dns.RR_Header{Name: r.q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 0},
		Ptr: dns.Fqdn(target),
	})
	return true
}
