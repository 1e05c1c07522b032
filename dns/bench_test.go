package dns

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkServeDNS measures the handler alone: "kept" over a tracked
// backend (as the agent's cache is), whose replies are packed once and
// sent again; "built" over an untracked one, every reply built and packed.
// The writer packs a reply given as a message (as miekg's own writer
// does) and throws the bytes away.
func BenchmarkServeDNS(b *testing.B) {
	for _, backend := range []struct {
		name string
		b    Backend
	}{{"kept", newTrackedBackend(manyBackend(50))}, {"built", manyBackend(50)}} {
		b.Run(backend.name, func(b *testing.B) { benchServeDNS(b, newTestServer(b, testConfig(), backend.b)) })
	}
}

func benchServeDNS(b *testing.B, s *Server) {
	for _, bc := range []struct {
		name  string
		qname string
		qtype uint16
		edns  uint16
		tcp   bool
	}{
		{"srv50/udp", "big.service.consul.", dns.TypeSRV, 0, false},
		{"srv50/udp-edns4096", "big.service.consul.", dns.TypeSRV, 4096, false},
		{"srv50/tcp", "big.service.consul.", dns.TypeSRV, 0, true},
		{"node-a/udp", "node-007.node.consul.", dns.TypeA, 0, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := new(dns.Msg)
			q.SetQuestion(bc.qname, bc.qtype)
			if bc.edns > 0 {
				q.SetEdns0(bc.edns, false)
			}
			w := &countWriter{recorder: recorder{tcp: bc.tcp}}
			b.ReportAllocs()
			for b.Loop() {
				s.ServeDNS(w, q)
			}
			if w.bytes == 0 {
				b.Fatal("no replies")
			}
		})
	}
}

// BenchmarkUDP compares this server with a bare miekg/dns server that
// answers a fixed A record, both over loopback UDP, so the ratio of their
// ns/op is the share of a bare server's query rate this one reaches.
func BenchmarkUDP(b *testing.B) {
	bare := func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET},
			A: net.IPv4(127, 0, 0, 1)}}
		w.WriteMsg(m)
	}
	bareAddr := startBareServer(b, dns.HandlerFunc(bare))

	s := newTestServer(b, testConfig(), newTrackedBackend(manyBackend(50)))
	if err := s.Start("127.0.0.1:0", ""); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Shutdown(context.Background()) })
	udp, _ := s.Addrs()

	for _, bc := range []struct {
		name, addr, qname string
		qtype             uint16
	}{
		{"bare-miekg", bareAddr, "node-007.node.consul.", dns.TypeA},
		{"node-a", udp.String(), "node-007.node.consul.", dns.TypeA},
		{"srv50", udp.String(), "big.service.consul.", dns.TypeSRV},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := new(dns.Msg)
			q.SetQuestion(bc.qname, bc.qtype)
			b.RunParallel(func(pb *testing.PB) {
				c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
				conn, err := c.Dial(bc.addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer conn.Close()
				m := q.Copy()
				for pb.Next() {
					m.Id = dns.Id()
					if _, _, err := c.ExchangeWithConn(m, conn); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func startBareServer(b *testing.B, h dns.Handler) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { close(started) }}
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-done:
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Shutdown(); <-done })
	return pc.LocalAddr().String()
}

// BenchmarkUDPAllocs counts what a query costs the whole process over
// loopback UDP, with a client that sends pre-packed queries and allocates
// nothing, so allocs/op is what the server side allocates per query: for
// "bare-miekg" miekg/dns's own (unpacking the request, the writer, the
// reply) plus the bare handler's, for "node-a" and "srv50" miekg/dns's
// request side plus this handler's (nothing, for a kept reply).
func BenchmarkUDPAllocs(b *testing.B) {
	bare := func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET},
			A: net.IPv4(127, 0, 0, 1)}}
		w.WriteMsg(m)
	}
	bareAddr := startBareServer(b, dns.HandlerFunc(bare))
	s := newTestServer(b, testConfig(), newTrackedBackend(manyBackend(50)))
	if err := s.Start("127.0.0.1:0", ""); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Shutdown(context.Background()) })
	udp, _ := s.Addrs()
	for _, bc := range []struct {
		name, addr, qname string
		qtype             uint16
	}{
		{"bare-miekg", bareAddr, "node-007.node.consul.", dns.TypeA},
		{"node-a", udp.String(), "node-007.node.consul.", dns.TypeA},
		{"srv50", udp.String(), "big.service.consul.", dns.TypeSRV},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := new(dns.Msg)
			q.SetQuestion(bc.qname, bc.qtype)
			wire, err := q.Pack()
			if err != nil {
				b.Fatal(err)
			}
			conn, err := net.Dial("udp", bc.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			buf := make([]byte, 65536)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := conn.Write(wire); err != nil {
					b.Fatal(err)
				}
				conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := conn.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
