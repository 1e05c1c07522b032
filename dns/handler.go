package dns

import (
	"context"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

const (
	// defaultUDPSize is the DNS payload limit for clients without EDNS.
	defaultUDPSize = 512
	// maxUDPSize caps what an EDNS client may ask for: a UDP datagram
	// cannot carry more over IPv4.
	maxUDPSize = 65507
)

// lookup kinds, the label before the optional datacenter.
type kind uint8

const (
	kindNone kind = iota
	kindNode
	kindService
	kindQuery
	kindAddr
)

func kindOf(label string) kind {
	switch label {
	case "node":
		return kindNode
	case "service":
		return kindService
	case "query":
		return kindQuery
	case "addr":
		return kindAddr
	}
	return kindNone
}

// request is the state of one query. It is pooled: answers and extras are
// built into its slices, which the reply borrows until it is written.
type request struct {
	req     *dns.Msg
	resp    dns.Msg
	q       dns.Question
	tcp     bool
	edns    *dns.OPT
	maxSize int

	// domain is the (configured, lower-case) domain the question used;
	// dc is the datacenter asked, the local one when the name had none.
	domain string
	dc     string
	// dcNamed reports that the name carried a datacenter label.
	dcNamed bool
	// ctx is the lookup's context, with its deadline; every backend call
	// for the query uses it. lctx is kept across reuses of the request,
	// and reused itself when it was never armed.
	ctx  context.Context
	lctx *lookupContext

	answers  []dns.RR
	extras   []dns.RR
	extraEnd []int // extraEnd[i]: extras that answers[:i+1] need
	question [1]dns.Question
	// seen holds the extra records' owner names, to add each once.
	seen map[string]struct{}

	// collect is set when the reply is built to be packed and kept
	// (packed.go): finish leaves the OPT record out, and the lookups
	// note the backend read the answer came from.
	collect bool
	// track follows that read (nil: the answer cannot be kept); index is
	// the index of the value the answer was built from.
	track func() (uint64, bool)
	index uint64
	// When collecting, the instances are shuffled with seed and then
	// rotated left by rot, so that the variants of a reply (packed.go)
	// share one order and together hand out every instance; candidates
	// is how many there were.
	seed       uint64
	rot        int
	candidates int
}

var requestPool = sync.Pool{New: func() any { return new(request) }}

func (r *request) reset() {
	clear(r.answers)
	clear(r.extras)
	clear(r.seen)
	*r = request{
		answers:  r.answers[:0],
		extras:   r.extras[:0],
		extraEnd: r.extraEnd[:0],
		seen:     r.seen,
		lctx:     r.lctx,
	}
}

// isTCP reports whether the query came over TCP.
func isTCP(w dns.ResponseWriter) bool {
	_, ok := w.RemoteAddr().(*net.TCPAddr)
	return ok
}

// ServeDNS answers one query. It implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if m := s.cfg.Metrics; m != nil {
		if key := s.queryMetric(req); key != nil {
			defer m.MeasureSinceWithLabels(key, time.Now(), s.nodeLabel)
		}
	}
	if s.servePacked(w, req) {
		return
	}
	r := requestPool.Get().(*request)
	r.req = req
	r.tcp = isTCP(w)
	resp := s.handle(r)
	if err := w.WriteMsg(resp); err != nil {
		s.logger.Debug("write reply failed", "error", err, "network", networkName(r.tcp))
	}
	r.reset()
	requestPool.Put(r)
}

func networkName(tcp bool) string {
	if tcp {
		return "tcp"
	}
	return "udp"
}

// handle computes the reply to r.req. The reply may borrow r's slices.
func (s *Server) handle(r *request) *dns.Msg {
	req, resp := r.req, &r.resp
	resp.Id = req.Id
	resp.Response = true
	resp.Opcode = req.Opcode
	resp.RecursionDesired = req.RecursionDesired
	resp.CheckingDisabled = req.CheckingDisabled
	resp.RecursionAvailable = len(s.recurse) > 0
	resp.Compress = true

	if req.Response || len(req.Question) != 1 {
		return formErr(req)
	}
	if req.Opcode != dns.OpcodeQuery {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeNotImplemented)
		return m
	}
	r.q = req.Question[0]
	r.question[0] = r.q
	resp.Question = r.question[:]

	r.maxSize = defaultUDPSize
	if opt := req.IsEdns0(); opt != nil {
		if opt.Version() != 0 {
			m := new(dns.Msg)
			m.SetReply(req)
			m.SetEdns0(4096, false)
			m.Rcode = dns.RcodeBadVers
			return m
		}
		r.edns = opt
		if sz := int(opt.UDPSize()); sz > r.maxSize {
			r.maxSize = min(sz, maxUDPSize)
		}
	}
	if r.tcp {
		r.maxSize = dns.MaxMsgSize
	}

	name := strings.ToLower(r.q.Name)
	rest, ok := s.splitDomain(r, name)
	reverse := !ok && isReverse(name)
	if !ok && !reverse {
		return s.forward(r)
	}
	lc := r.lctx
	if lc == nil || !lc.reuse(s.ctx, s.cfg.LookupTimeout, &s.waiting) {
		lc = newLookupContext(s.ctx, s.cfg.LookupTimeout, &s.waiting)
		r.lctx = lc
	}
	r.ctx = lc
	if reverse {
		found := s.ptrLookup(r, name)
		lc.release()
		if !found {
			if len(s.recurse) > 0 {
				return s.forward(r)
			}
			r.domain = s.domain
			resp.Authoritative = true
			s.nxdomain(r)
		}
		s.finish(r)
		return resp
	}
	resp.Authoritative = true
	if rest == "" {
		s.apex(r)
	} else {
		s.dispatch(r, rest)
	}
	lc.release()
	s.finish(r)
	return resp
}

// formErr is the reply to a message that is not a well-formed query.
func formErr(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.Id = req.Id
	m.Response = true
	m.Opcode = req.Opcode
	m.Rcode = dns.RcodeFormatError
	if len(req.Question) == 1 {
		m.Question = []dns.Question{req.Question[0]}
	}
	return m
}

// splitDomain finds the served domain name ends in and returns the labels
// before it ("" for the domain itself); ok is false for foreign names.
func (s *Server) splitDomain(r *request, name string) (rest string, ok bool) {
	for _, d := range [2]string{s.domain, s.alt} {
		if d == "" {
			continue
		}
		if name == d {
			r.domain = d
			return "", true
		}
		if len(name) > len(d) && strings.HasSuffix(name, d) && name[len(name)-len(d)-1] == '.' {
			r.domain = d
			return name[:len(name)-len(d)-1], true
		}
	}
	return "", false
}

// cutLast splits "a.b.c" into "a.b" and "c".
func cutLast(s string) (before, last string) {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "", s
}

// dispatch parses the labels before the domain and runs the lookup.
func (s *Server) dispatch(r *request, rest string) {
	before, last := cutLast(rest)
	k := kindOf(last)
	r.dc = s.cfg.Datacenter
	if k == kindNone {
		var typ string
		before, typ = cutLast(before)
		k = kindOf(typ)
		if k == kindNone || last == "" {
			s.nxdomain(r)
			return
		}
		r.dc, r.dcNamed = last, true
	}
	if before == "" {
		s.nxdomain(r)
		return
	}
	switch k {
	case kindNode:
		s.nodeLookup(r, before)
	case kindService:
		s.serviceLookup(r, before)
	case kindQuery:
		s.preparedQueryLookup(r, before)
	case kindAddr:
		s.addrLookup(r, before)
	}
}

// finish adds the OPT record a client that sent EDNS expects.
func (s *Server) finish(r *request) {
	if r.edns == nil || r.collect {
		return
	}
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.SetUDPSize(uint16(max(r.maxSize, defaultUDPSize)))
	if r.edns.Do() {
		opt.SetDo()
	}
	r.resp.Extra = append(r.resp.Extra, opt)
}

// soa is the SOA record of domain.
func (s *Server) soa(domain string) *dns.SOA {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: domain, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 0},
		Ns:      "ns." + domain,
		Mbox:    "hostmaster." + domain,
		Serial:  uint32(time.Now().Unix()),
		Refresh: s.cfg.SOA.Refresh,
		Retry:   s.cfg.SOA.Retry,
		Expire:  s.cfg.SOA.Expire,
		Minttl:  s.cfg.SOA.MinTTL,
	}
}

// nxdomain answers "no such name", with the SOA for negative caching.
func (s *Server) nxdomain(r *request) {
	r.resp.Rcode = dns.RcodeNameError
	r.resp.Answer, r.resp.Extra = nil, nil
	r.resp.Ns = []dns.RR{s.soa(r.domain)}
}

// nodata answers "the name exists, nothing of that type".
func (s *Server) nodata(r *request) {
	r.resp.Rcode = dns.RcodeSuccess
	r.resp.Answer, r.resp.Extra = nil, nil
	r.resp.Ns = []dns.RR{s.soa(r.domain)}
}

// servfail answers a lookup the server could not complete.
func (s *Server) servfail(r *request) {
	r.resp.Rcode = dns.RcodeServerFailure
	r.resp.Answer, r.resp.Ns, r.resp.Extra = nil, nil, nil
}
