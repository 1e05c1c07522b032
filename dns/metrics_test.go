package dns

import (
	"context"
	"testing"

	"github.com/miekg/dns"

	"consulate/metrics"
)

func startMetrics(t testing.TB) *metrics.Registry {
	t.Helper()
	r, err := metrics.New(metrics.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown(context.Background()) })
	return r
}

// TestQueryTimers: queries in the domain (kept or built replies) count in
// consul.dns.domain_query, reverse lookups in consul.dns.ptr_query, both
// labelled with the node, as Consul's.
func TestQueryTimers(t *testing.T) {
	r := startMetrics(t)
	cfg := testConfig()
	cfg.Metrics = r.Metrics()
	s := newTestServer(t, cfg, newTrackedBackend(manyBackend(3)))
	for _, name := range []string{"big.service.consul.", "big.service.consul.", "node-001.node.CONSUL.", "1.0.0.127.in-addr.arpa."} {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		s.ServeDNS(&recorder{}, q)
	}
	got := map[string]int{}
	// Totals: the counts of every retained interval, so a 10s interval
	// boundary during the test neither splits nor hides them.
	_, samples := r.Totals()
	for _, smp := range samples {
		if smp.Labels["node"] == "agent-one" {
			got[smp.Name] += smp.Count
		}
	}
	if got["consul.dns.domain_query"] != 3 || got["consul.dns.ptr_query"] != 1 {
		t.Errorf("timers %v", got)
	}
}

// BenchmarkServeDNSMetrics is BenchmarkServeDNS's kept replies with the
// query timer going to an agent's in-memory sink, for the cost of it.
func BenchmarkServeDNSMetrics(b *testing.B) {
	r := startMetrics(b)
	cfg := testConfig()
	cfg.Metrics = r.Metrics()
	benchServeDNS(b, newTestServer(b, cfg, newTrackedBackend(manyBackend(50))))
}
