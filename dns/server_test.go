package dns

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// startServer runs s on loopback ports chosen by the kernel.
func startServer(t *testing.T, s *Server) (udp, tcp string) {
	t.Helper()
	if err := s.Start("127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	u, c := s.Addrs()
	return u.String(), c.String()
}

// startUpstream runs a plain miekg/dns server on loopback that answers
// every A question with 192.0.2.1, as a recursor stand-in.
func startUpstream(t *testing.T) string {
	t.Helper()
	// TCP on the same port, as a real recursor has: a port free for UDP
	// may be taken for TCP, so try a few.
	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ln == nil; attempt++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err != nil {
			pc.Close()
			if attempt == 20 {
				t.Fatal(err)
			}
		}
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		if r.Question[0].Name == "nxdomain.example." {
			m.Rcode = dns.RcodeNameError
		} else {
			rr, _ := dns.NewRR(r.Question[0].Name + " 60 IN A 192.0.2.1")
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})
	for _, srv := range []*dns.Server{
		{PacketConn: pc, Handler: mux},
		{Listener: ln, Handler: mux},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan error, 1)
		go func() { done <- srv.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-done:
			t.Fatal(err)
		case <-time.After(5 * time.Second):
			t.Fatal("upstream did not start")
		}
		t.Cleanup(func() {
			srv.Shutdown()
			<-done
		})
	}
	return pc.LocalAddr().String()
}

func exchange(t *testing.T, network, addr, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	if edns > 0 {
		q.SetEdns0(edns, false)
	}
	r, _, err := c.Exchange(q, addr)
	if err != nil {
		t.Fatalf("%s %s: %v", network, name, err)
	}
	return r
}

func TestEndToEnd(t *testing.T) {
	b := manyBackend(40)
	seed := seedBackend()
	b.nodes["dc1"]["foo"] = seed.nodes["dc1"]["foo"]
	b.services["dc1"]["web"] = seed.services["dc1"]["web"]

	upstream := startUpstream(t)
	cfg := testConfig()
	cfg.EnableTruncate = true
	cfg.Recursors = []string{upstream}
	cfg.RecursorTimeout = 2 * time.Second
	s := newTestServer(t, cfg, b)
	udp, tcp := startServer(t, s)

	r := exchange(t, "udp", udp, "foo.node.consul.", dns.TypeA, 0)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.11" || !r.Authoritative {
		t.Fatalf("node A over udp: %s", r)
	}

	r = exchange(t, "udp", udp, "big.service.consul.", dns.TypeSRV, 0)
	if !r.Truncated || len(r.Answer) != 3 {
		t.Fatalf("SRV over udp: TC=%v answers=%d", r.Truncated, len(r.Answer))
	}
	r = exchange(t, "tcp", tcp, "big.service.consul.", dns.TypeSRV, 0)
	if r.Truncated || len(r.Answer) != 40 || len(r.Extra) != 40 {
		t.Fatalf("SRV over tcp: TC=%v answers=%d extra=%d", r.Truncated, len(r.Answer), len(r.Extra))
	}
	r = exchange(t, "udp", udp, "big.service.consul.", dns.TypeSRV, 4096)
	if r.Truncated || len(r.Answer) != 40 || r.IsEdns0() == nil {
		t.Fatalf("SRV over udp with EDNS 4096: TC=%v answers=%d", r.Truncated, len(r.Answer))
	}

	r = exchange(t, "udp", udp, "nope.service.consul.", dns.TypeA, 0)
	if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("NXDOMAIN: %s", r)
	}

	// Recursion over both transports.
	for network, addr := range map[string]string{"udp": udp, "tcp": tcp} {
		r = exchange(t, network, addr, "www.example.", dns.TypeA, 0)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.1" || !r.RecursionAvailable {
			t.Fatalf("recursed over %s: %s", network, r)
		}
	}
	r = exchange(t, "udp", udp, "nxdomain.example.", dns.TypeA, 0)
	if r.Rcode != dns.RcodeNameError {
		t.Fatalf("recursed NXDOMAIN: %s", r)
	}

	// A packet that is not DNS gets FORMERR from the server.
	conn, err := net.Dial("udp", udp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bad := []byte{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 'e', 'x'}
	if _, err := conn.Write(bad); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var m dns.Msg
	if err := m.Unpack(buf[:n]); err != nil || m.Rcode != dns.RcodeFormatError || m.Id != 0x1234 {
		t.Fatalf("garbage: rcode %d err %v", m.Rcode, err)
	}
}

func TestRecursorTimeout(t *testing.T) {
	// A recursor that reads and never answers.
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	cfg := testConfig()
	cfg.Recursors = []string{dead.LocalAddr().String()}
	cfg.RecursorTimeout = 150 * time.Millisecond
	s := newTestServer(t, cfg, seedBackend())
	udp, _ := startServer(t, s)
	start := time.Now()
	r := exchange(t, "udp", udp, "www.example.", dns.TypeA, 0)
	if r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("took %s", el)
	}
}

func TestLifecycle(t *testing.T) {
	s := newTestServer(t, testConfig(), seedBackend())
	if err := s.Start("", ""); err == nil {
		t.Fatal("Start with no addresses succeeded")
	}
	if err := s.Start("127.0.0.1:0", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0", ""); err == nil {
		t.Fatal("second Start succeeded")
	}
	u, c := s.Addrs()
	if u == nil || c != nil {
		t.Fatalf("addrs %v %v", u, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal("second Shutdown:", err)
	}
	if err := s.Start("127.0.0.1:0", ""); err == nil {
		t.Fatal("Start after Shutdown succeeded")
	}

	// A port already taken fails Start and leaves nothing running.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	s2 := newTestServer(t, testConfig(), seedBackend())
	if err := s2.Start("127.0.0.1:0", busy.Addr().String()); err == nil {
		t.Fatal("Start on a busy port succeeded")
	}
}
