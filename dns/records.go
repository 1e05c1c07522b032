package dns

import (
	"encoding/hex"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"consulate/structs"
)

// nodeAddress picks the address to answer with for n.
func (s *Server) nodeAddress(r *request, n *structs.Node) string {
	if s.cfg.TranslateWANAddrs && s.remote(r) {
		if a := n.TaggedAddresses["wan"]; a != "" {
			return a
		}
	}
	return n.Address
}

// serviceAddress picks the service's own address, "" when it has none.
func (s *Server) serviceAddress(r *request, svc *structs.NodeService) string {
	if s.cfg.TranslateWANAddrs && s.remote(r) {
		if a, ok := svc.TaggedAddresses["wan"]; ok && a.Address != "" {
			return a.Address
		}
	}
	return svc.Address
}

// servicePort picks the port to answer with for svc.
func servicePort(s *Server, r *request, svc *structs.NodeService) int {
	if s.cfg.TranslateWANAddrs && s.remote(r) {
		if a, ok := svc.TaggedAddresses["wan"]; ok && a.Port != 0 {
			return a.Port
		}
	}
	return svc.Port
}

// addrRecord makes the record that gives name the address addr for qtype:
// A, AAAA, or a CNAME for a host name; nil when none applies.
func addrRecord(name, addr string, qtype uint16, ttl uint32) dns.RR {
	hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: ttl}
	if ip, err := netip.ParseAddr(addr); err == nil {
		ip = ip.Unmap()
		if ip.Is4() {
			if qtype != dns.TypeA && qtype != dns.TypeANY {
				return nil
			}
			hdr.Rrtype = dns.TypeA
			b := ip.As4()
			return &dns.A{Hdr: hdr, A: net.IP(b[:])}
		}
		if qtype != dns.TypeAAAA && qtype != dns.TypeANY {
			return nil
		}
		hdr.Rrtype = dns.TypeAAAA
		b := ip.As16()
		return &dns.AAAA{Hdr: hdr, AAAA: net.IP(b[:])}
	}
	if addr == "" || (qtype != dns.TypeA && qtype != dns.TypeAAAA && qtype != dns.TypeANY) {
		return nil
	}
	target := dns.Fqdn(addr)
	if _, ok := dns.IsDomainName(target); !ok {
		return nil
	}
	hdr.Rrtype = dns.TypeCNAME
	return &dns.CNAME{Hdr: hdr, Target: target}
}

// nodeRecords renders a node's answers: its address (A, AAAA or CNAME)
// and, for TXT and ANY, its meta as TXT records sorted by key.
func (s *Server) nodeRecords(r *request, n *structs.Node) {
	qt := r.q.Qtype
	if rr := addrRecord(r.q.Name, s.nodeAddress(r, n), qt, s.nodeTTL); rr != nil {
		r.answers = append(r.answers, rr)
	}
	if (qt == dns.TypeTXT || qt == dns.TypeANY) && len(n.Meta) > 0 {
		keys := make([]string, 0, len(n.Meta))
		for k := range n.Meta {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			r.answers = append(r.answers, &dns.TXT{
				Hdr: dns.RR_Header{Name: r.q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: s.nodeTTL},
				Txt: []string{metaTXT(k, n.Meta[k])},
			})
		}
	}
}

// metaTXT renders a meta pair as Consul does: "key=value", and only the
// value for keys prefixed "rfc1035-".
func metaTXT(k, v string) string {
	if rest, ok := strings.CutPrefix(k, "rfc1035-"); ok && rest != "" {
		return v
	}
	return k + "=" + v
}

// healthy reports whether an instance may be handed out.
func (s *Server) healthy(n *structs.CheckServiceNode) (ok, warning bool) {
	for _, c := range n.Checks {
		switch c.Status {
		case structs.HealthCritical, structs.HealthMaint:
			return false, false
		case structs.HealthWarning:
			if s.cfg.OnlyPassing {
				return false, false
			}
			warning = true
		}
	}
	return true, warning
}

func hasTag(tags []string, tag string) bool {
	for _, t := range tags {
		if strings.EqualFold(t, tag) {
			return true
		}
	}
	return false
}

// candidate is one instance that passed the filters.
type candidate struct {
	n       *structs.CheckServiceNode
	warning bool
}

var candidatePool = newSlicePool[candidate]()

// serviceRecords filters, shuffles and renders instances.
func (s *Server) serviceRecords(r *request, nodes structs.CheckServiceNodes, tag string, ttl uint32) {
	cands := candidatePool.get(len(nodes))
	defer candidatePool.put(cands)
	for i := range nodes {
		n := &nodes[i]
		if n.Node == nil || n.Service == nil {
			continue
		}
		if tag != "" && !hasTag(n.Service.Tags, tag) {
			continue
		}
		ok, warn := s.healthy(n)
		if !ok {
			continue
		}
		*cands = append(*cands, candidate{n, warn})
	}
	c := *cands
	if len(c) == 0 {
		s.nxdomain(r)
		return
	}
	if r.collect {
		rand.New(rand.NewPCG(r.seed, 0)).Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
		if k := r.rot % len(c); k > 0 {
			slices.Reverse(c[:k])
			slices.Reverse(c[k:])
			slices.Reverse(c)
		}
		r.candidates = len(c)
	} else {
		rand.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
	}

	qt := r.q.Qtype
	// Build no more answers than can be sent: the UDP answer limit for
	// clients without EDNS, and a_record_limit for address answers.
	limit := len(c)
	udpCapped := false
	if !r.tcp && r.edns == nil && s.cfg.UDPAnswerLimit > 0 && s.cfg.UDPAnswerLimit < limit {
		limit, udpCapped = s.cfg.UDPAnswerLimit, true
	}
	switch qt {
	case dns.TypeSRV:
		s.srvRecords(r, c, limit, ttl)
	case dns.TypeA, dns.TypeAAAA, dns.TypeANY:
		if s.cfg.ARecordLimit > 0 && s.cfg.ARecordLimit < limit {
			limit, udpCapped = s.cfg.ARecordLimit, false
		}
		udpCapped = s.addressRecords(r, c, limit, ttl) && udpCapped
	default:
		s.nodata(r)
		return
	}
	if len(r.answers) == 0 {
		s.nodata(r)
		return
	}
	s.fit(r, len(r.answers), udpCapped)
}

// addressRecords renders A/AAAA/CNAME answers, one per distinct address,
// at most limit; it reports whether candidates were left over.
func (s *Server) addressRecords(r *request, c []candidate, limit int, ttl uint32) (leftOver bool) {
	for i := range c {
		n := c[i].n
		addr := s.serviceAddress(r, n.Service)
		if addr == "" {
			addr = s.nodeAddress(r, n.Node)
		}
		if seenAddr(r.answers, addr) {
			continue
		}
		if len(r.answers) == limit {
			return true
		}
		if rr := addrRecord(r.q.Name, addr, r.q.Qtype, ttl); rr != nil {
			r.answers = append(r.answers, rr)
			r.extraEnd = append(r.extraEnd, 0)
		}
	}
	return false
}

// seenAddr reports whether an answer already carries addr.
func seenAddr(answers []dns.RR, addr string) bool {
	ip, err := netip.ParseAddr(addr)
	for _, rr := range answers {
		switch rr := rr.(type) {
		case *dns.A:
			if err == nil && ip.Unmap() == netip.AddrFrom4([4]byte(rr.A.To4())) {
				return true
			}
		case *dns.AAAA:
			if err == nil && ip == netip.AddrFrom16([16]byte(rr.AAAA.To16())) {
				return true
			}
		case *dns.CNAME:
			if err != nil && strings.EqualFold(rr.Target, dns.Fqdn(addr)) {
				return true
			}
		}
	}
	return false
}

// hexAddr renders an IP as the HEXIP label of an .addr. name.
func hexAddr(ip netip.Addr) string {
	if ip.Is4() {
		b := ip.As4()
		return hex.EncodeToString(b[:])
	}
	b := ip.As16()
	return hex.EncodeToString(b[:])
}

// srvRecords renders SRV answers with the targets' addresses as extras.
func (s *Server) srvRecords(r *request, c []candidate, limit int, ttl uint32) {
	for i := range c[:limit] {
		n := c[i].n
		svc := n.Service
		weight := 1
		if svc.Weights != nil {
			weight = svc.Weights.Passing
			if c[i].warning {
				weight = svc.Weights.Warning
			}
		}
		var target string
		var extra dns.RR
		if sa := s.serviceAddress(r, svc); sa != "" {
			if ip, err := netip.ParseAddr(sa); err == nil {
				ip = ip.Unmap()
				target = hexAddr(ip) + ".addr." + r.dc + "." + r.domain
				extra = addrRecord(target, ip.String(), dns.TypeANY, ttl)
			} else {
				target = dns.Fqdn(sa)
			}
		} else {
			target = n.Node.Node + ".node." + r.dc + "." + r.domain
			extra = addrRecord(target, s.nodeAddress(r, n.Node), dns.TypeANY, ttl)
		}
		if _, ok := dns.IsDomainName(target); !ok {
			continue
		}
		r.answers = append(r.answers, &dns.SRV{
			Hdr:      dns.RR_Header{Name: r.q.Name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: ttl},
			Priority: 1,
			Weight:   uint16(min(max(weight, 0), 65535)),
			Port:     uint16(min(max(servicePort(s, r, svc), 0), 65535)),
			Target:   target,
		})
		if extra != nil {
			if r.seen == nil {
				r.seen = make(map[string]struct{}, len(c))
			}
			if _, dup := r.seen[target]; !dup {
				r.seen[target] = struct{}{}
				r.extras = append(r.extras, extra)
			}
		}
		r.extraEnd = append(r.extraEnd, len(r.extras))
	}
}

func (s *Server) nsRecord(domain, target string) dns.RR {
	return &dns.NS{
		Hdr: dns.RR_Header{Name: domain, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: s.nodeTTL},
		Ns:  target,
	}
}

func seenNS(ns []dns.RR, target string) bool {
	for _, rr := range ns {
		if rr.(*dns.NS).Ns == target {
			return true
		}
	}
	return false
}

func isName(s string) bool { _, ok := dns.IsDomainName(s); return ok }
