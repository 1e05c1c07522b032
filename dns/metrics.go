package dns

import (
	"strings"
	"time"

	"github.com/miekg/dns"
)

// staleCounterThreshold is Consul's: an answer from a server that last
// heard from its leader longer ago than this counts in
// consul.dns.stale_queries.
const staleCounterThreshold = 5 * time.Second

var (
	domainQueryKey = []string{"dns", "domain_query"}
	ptrQueryKey    = []string{"dns", "ptr_query"}
	staleKey       = []string{"dns", "stale_queries"}
)

// queryMetric is Consul's timer for a query: consul.dns.ptr_query for a
// reverse lookup, consul.dns.domain_query for a name in the agent's
// domains, nil for what goes to the recursors.
func (s *Server) queryMetric(req *dns.Msg) []string {
	if len(req.Question) != 1 {
		return nil
	}
	n := req.Question[0].Name
	if hasSuffixFold(n, "in-addr.arpa.") || hasSuffixFold(n, "ip6.arpa.") {
		return ptrQueryKey
	}
	for _, d := range [2]string{s.domain, s.alt} {
		if d != "" && hasSuffixFold(n, d) && (len(n) == len(d) || n[len(n)-len(d)-1] == '.') {
			return domainQueryKey
		}
	}
	return nil
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// noteStale counts an answer served by a server out of touch with its
// leader for more than staleCounterThreshold.
func (s *Server) noteStale(lastContact time.Duration) {
	if m := s.cfg.Metrics; m != nil && lastContact > staleCounterThreshold {
		m.IncrCounter(staleKey, 1)
	}
}
