package dns

import (
	"context"
	"encoding/hex"
	"errors"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"consulate/structs"
)

// queryOptions are the read options every lookup sends to the backend.
func (s *Server) queryOptions() structs.QueryOptions {
	return structs.QueryOptions{AllowStale: s.cfg.AllowStale, MaxStaleDuration: s.cfg.MaxStale}
}

// remote reports whether the lookup is for another datacenter.
func (s *Server) remote(r *request) bool { return r.dc != s.cfg.Datacenter }

// lookupFailed turns a backend error into NXDOMAIN (unknown datacenter) or
// SERVFAIL (anything else, an unreachable datacenter included).
func (s *Server) lookupFailed(r *request, err error) {
	r.track = nil
	var udc *structs.ErrUnknownDC
	switch {
	case errors.As(err, &udc), errors.Is(err, ErrQueryNotFound):
		s.nxdomain(r)
		return
	case errors.Is(err, structs.ErrNoDCPath):
		s.servfail(r)
		return
	case errors.Is(context.Cause(r.ctx), ErrTooManyWaiting):
		// Not worth a warning each: they come in floods.
		s.logger.Debug("lookup failed", "name", r.q.Name, "error", ErrTooManyWaiting)
		s.servfail(r)
		return
	}
	if r.dcNamed && s.remote(r) && !s.knownDC(r) {
		s.nxdomain(r)
		return
	}
	s.logger.Warn("lookup failed", "name", r.q.Name, "datacenter", r.dc, "error", err)
	s.servfail(r)
}

// knownDC asks the backend whether r's datacenter exists; when that fails
// too (its deadline passed, say) it answers true, so the caller reports a
// failure rather than a missing name.
func (s *Server) knownDC(r *request) bool {
	args := structs.EmptyRequest{QueryOptions: s.queryOptions()}
	var out structs.DatacentersReply
	if err := s.backend.RPC(r.ctx, structs.MethodCatalogDatacenters, &args, &out); err != nil {
		return true
	}
	return slices.Contains(out.Datacenters, r.dc)
}

// trackRead notes, for a reply being built to be kept, how to tell that
// the backend's answer to this read changed. It runs before RPC, which may
// fill in the args (a token, say).
func (s *Server) trackRead(r *request, method structs.Method, args any) {
	if !r.collect {
		return
	}
	if t, ok := s.backend.(Tracker); ok {
		r.track = t.Track(method, args)
	}
}

// nodeLookup answers NAME.node[.DC].
func (s *Server) nodeLookup(r *request, node string) {
	args := structs.NodeSpecificRequest{Datacenter: r.dc, Node: node, QueryOptions: s.queryOptions()}
	var out structs.IndexedNodeServices
	s.trackRead(r, structs.MethodCatalogNodeServices, &args)
	if err := s.backend.RPC(r.ctx, structs.MethodCatalogNodeServices, &args, &out); err != nil {
		s.lookupFailed(r, err)
		return
	}
	s.noteStale(out.LastContact)
	r.index = out.Index
	if out.NodeServices == nil || out.NodeServices.Node == nil {
		s.nxdomain(r)
		return
	}
	s.nodeRecords(r, out.NodeServices.Node)
	if len(r.answers) == 0 {
		s.nodata(r)
		return
	}
	s.fit(r, len(r.answers), false)
}

// serviceLookup answers [TAG.]NAME.service[.DC] and _NAME._TAG.service[.DC].
func (s *Server) serviceLookup(r *request, labels string) {
	var service, tag string
	first, second, two := strings.Cut(labels, ".")
	switch {
	case !two:
		service = first
	case strings.Contains(second, "."):
		s.nxdomain(r)
		return
	case len(first) > 1 && len(second) > 1 && first[0] == '_' && second[0] == '_':
		service, tag = first[1:], second[1:]
		if tag == "tcp" || tag == "udp" {
			tag = ""
		}
	default:
		tag, service = first, second
	}
	if service == "" {
		s.nxdomain(r)
		return
	}
	args := structs.ServiceSpecificRequest{Datacenter: r.dc, ServiceName: service, QueryOptions: s.queryOptions()}
	if tag != "" {
		// A fresh slice: the backend (the DNS cache) may keep the request
		// beyond this lookup, while r is pooled and reused.
		args.ServiceTags, args.TagFilter = []string{tag}, true
	}
	var out structs.IndexedCheckServiceNodes
	s.trackRead(r, structs.MethodHealthServiceNodes, &args)
	if err := s.backend.RPC(r.ctx, structs.MethodHealthServiceNodes, &args, &out); err != nil {
		s.lookupFailed(r, err)
		return
	}
	s.noteStale(out.LastContact)
	r.index = out.Index
	s.serviceRecords(r, out.Nodes, tag, s.ttl.lookup(service))
}

// preparedQueryLookup answers NAME.query[.DC].
func (s *Server) preparedQueryLookup(r *request, name string) {
	if s.queryExe == nil {
		s.nxdomain(r)
		return
	}
	res, err := s.queryExe.ExecuteQuery(r.ctx, &QueryRequest{
		Datacenter: r.dc,
		Name:       name,
		Agent:      structs.QuerySource{Datacenter: s.cfg.Datacenter, Node: s.cfg.NodeName},
		AllowStale: s.cfg.AllowStale,
		MaxStale:   s.cfg.MaxStale,
	})
	if err != nil {
		s.lookupFailed(r, err)
		return
	}
	if res == nil {
		s.nxdomain(r)
		return
	}
	if res.Datacenter != "" {
		r.dc = res.Datacenter
	}
	ttl := s.ttl.lookup(strings.ToLower(res.Service))
	if res.TTL > 0 {
		ttl = seconds(res.TTL)
	}
	s.serviceRecords(r, res.Nodes, "", ttl)
}

// addrLookup answers HEXIP.addr[.DC].
func (s *Server) addrLookup(r *request, label string) {
	b, err := hex.DecodeString(label)
	var ip netip.Addr
	switch {
	case err != nil:
	case len(b) == 4:
		ip = netip.AddrFrom4([4]byte(b))
	case len(b) == 16:
		ip = netip.AddrFrom16([16]byte(b))
	}
	if !ip.IsValid() {
		s.nxdomain(r)
		return
	}
	if rr := addrRecord(r.q.Name, ip.String(), r.q.Qtype, s.nodeTTL); rr != nil {
		r.answers = append(r.answers, rr)
		s.fit(r, 1, false)
		return
	}
	s.nodata(r)
}

// apex answers for the domain itself: SOA and NS.
func (s *Server) apex(r *request) {
	qt := r.q.Qtype
	if qt != dns.TypeSOA && qt != dns.TypeNS && qt != dns.TypeANY {
		s.nodata(r)
		return
	}
	ns, glue := s.nameservers(r)
	resp := &r.resp
	switch qt {
	case dns.TypeSOA:
		resp.Answer = []dns.RR{s.soa(r.domain)}
		resp.Ns = ns
	case dns.TypeNS:
		resp.Answer = ns
	case dns.TypeANY:
		resp.Answer = append([]dns.RR{s.soa(r.domain)}, ns...)
	}
	resp.Extra = glue
}

// consulService is the service Consul servers register themselves as.
const consulService = "consul"

// nameservers lists up to three servers of the local datacenter as NS
// records with their addresses as glue; with none known it names this
// agent.
func (s *Server) nameservers(r *request) (ns, glue []dns.RR) {
	args := structs.ServiceSpecificRequest{Datacenter: s.cfg.Datacenter, ServiceName: consulService, QueryOptions: s.queryOptions()}
	var out structs.IndexedCheckServiceNodes
	if err := s.backend.RPC(r.ctx, structs.MethodHealthServiceNodes, &args, &out); err == nil {
		for i := range out.Nodes {
			n := &out.Nodes[i]
			if n.Node == nil {
				continue
			}
			if ok, _ := s.healthy(n); !ok {
				continue
			}
			target := strings.ToLower(n.Node.Node) + ".node." + s.cfg.Datacenter + "." + r.domain
			if _, ok := dns.IsDomainName(target); !ok || seenNS(ns, target) {
				continue
			}
			ns = append(ns, s.nsRecord(r.domain, target))
			if rr := addrRecord(target, n.Node.Address, dns.TypeANY, s.nodeTTL); rr != nil {
				glue = append(glue, rr)
			}
			if len(ns) == 3 {
				break
			}
		}
	}
	if len(ns) == 0 {
		target := "ns." + r.domain
		if s.cfg.NodeName != "" {
			if t := strings.ToLower(s.cfg.NodeName) + ".node." + s.cfg.Datacenter + "." + r.domain; isName(t) {
				target = t
			}
		}
		ns = append(ns, s.nsRecord(r.domain, target))
	}
	return ns, glue
}
