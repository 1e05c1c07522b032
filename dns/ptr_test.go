package dns

import (
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

func TestReverseAddr(t *testing.T) {
	for _, ip := range []string{"127.0.0.11", "10.1.2.3", "::1", "2001:db8::42", "fe80::1:2:3:4"} {
		arpa, err := dns.ReverseAddr(ip)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := reverseAddr(arpa)
		if !ok || got != netip.MustParseAddr(ip) {
			t.Errorf("%s -> %s -> %v %v", ip, arpa, got, ok)
		}
	}
	for _, bad := range []string{"1.2.3.in-addr.arpa.", "x.1.2.3.in-addr.arpa.", "300.1.2.3.in-addr.arpa.", "1.ip6.arpa.", "example.com."} {
		if _, ok := reverseAddr(bad); ok {
			t.Errorf("%s parsed", bad)
		}
	}
}

func TestPTRFromCatalog(t *testing.T) {
	b := seedBackend()
	cfg := testConfig()
	cfg.AllowStale = true
	s := newTestServer(t, cfg, b)
	ptr := func(ip string, qtype uint16) *dns.Msg {
		t.Helper()
		arpa, err := dns.ReverseAddr(ip)
		if err != nil {
			t.Fatal(err)
		}
		q := new(dns.Msg)
		q.SetQuestion(arpa, qtype)
		return ask(t, s, q, false)
	}
	cases := []struct{ ip, want string }{
		{"127.0.0.11", "foo.node.dc1.consul."},
		{"::1", "v6.node.dc1.consul."},
		{"127.0.0.99", "web.service.dc1.consul."}, // a service address, canonical
	}
	for _, c := range cases {
		m := ptr(c.ip, dns.TypePTR)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || !m.Authoritative {
			t.Fatalf("%s: %v", c.ip, m)
		}
		p, ok := m.Answer[0].(*dns.PTR)
		if !ok || p.Ptr != c.want || p.Hdr.Ttl != 0 {
			t.Fatalf("%s: answer %v, want %s", c.ip, m.Answer[0], c.want)
		}
	}
	if !b.lastService.AllowStale {
		t.Fatal("reverse lookup did not honour allow_stale")
	}
	// Unknown, without recursors: NXDOMAIN, authoritative, with the
	// domain's SOA (Consul's handlePtr).
	m := ptr("192.0.2.77", dns.TypePTR)
	if m.Rcode != dns.RcodeNameError || len(m.Answer) != 0 || !m.Authoritative || len(m.Ns) != 1 {
		t.Fatalf("unknown: %v", m)
	}
	if soa, ok := m.Ns[0].(*dns.SOA); !ok || soa.Hdr.Name != "consul." {
		t.Fatalf("unknown: authority %v", m.Ns)
	}
}

func TestPTRUnknownGoesToRecursor(t *testing.T) {
	// A recursor on loopback that answers every PTR.
	pc, err := net.ListenPacket("udp", "127.0.18.20:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Answer = append(m.Answer, &dns.PTR{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 30},
			Ptr: "upstream.example."})
		w.WriteMsg(m)
	})}
	go rs.ActivateAndServe()
	t.Cleanup(func() { rs.Shutdown() })
	cfg := testConfig()
	cfg.Recursors = []string{pc.LocalAddr().String()}
	s := newTestServer(t, cfg, seedBackend())
	q := new(dns.Msg)
	q.SetQuestion("77.2.0.192.in-addr.arpa.", dns.TypePTR)
	m := ask(t, s, q, false)
	if len(m.Answer) != 1 || m.Answer[0].(*dns.PTR).Ptr != "upstream.example." {
		t.Fatalf("recursed: %v", m)
	}
	// Known addresses never recurse.
	q.SetQuestion("11.0.0.127.in-addr.arpa.", dns.TypePTR)
	if m := ask(t, s, q, false); len(m.Answer) != 1 || m.Answer[0].(*dns.PTR).Ptr != "foo.node.dc1.consul." {
		t.Fatalf("local: %v", m)
	}
}
