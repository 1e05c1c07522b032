package dns

import (
	"context"

	"github.com/miekg/dns"
)

// forward sends a name outside the domain to the recursors in order and
// relays the first useful answer; with no recursors it is REFUSED.
func (s *Server) forward(r *request) *dns.Msg {
	req := r.req
	if len(s.recurse) == 0 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeRefused)
		m.RecursionAvailable = false
		return m
	}
	c := &dns.Client{Net: networkName(r.tcp), Timeout: s.cfg.RecursorTimeout}
	if r.edns != nil {
		c.UDPSize = uint16(r.maxSize)
	}
	// One deadline over all recursors: each exchange is also bounded by
	// RecursorTimeout, but a list of dead recursors must not add up.
	ctx, cancel := context.WithTimeout(s.ctx, max(s.cfg.LookupTimeout, s.cfg.RecursorTimeout))
	defer cancel()
	for _, addr := range s.recurse {
		in, _, err := c.ExchangeContext(ctx, req, addr)
		if err != nil {
			s.logger.Debug("recursor failed", "recursor", addr, "name", r.q.Name, "error", err)
			continue
		}
		if in.Rcode == dns.RcodeServerFailure || in.Rcode == dns.RcodeRefused {
			continue
		}
		in.Id = req.Id
		in.Compress = true
		in.RecursionAvailable = true
		if !r.tcp && in.Len() > r.maxSize {
			in.Truncate(r.maxSize)
		}
		return in
	}
	m := new(dns.Msg)
	m.SetRcode(req, dns.RcodeServerFailure)
	m.RecursionAvailable = true
	return m
}
