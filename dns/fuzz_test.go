package dns

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzHandler feeds arbitrary packets to the server. Packets that parse go
// straight to the handler, which must answer exactly once, promptly, with a
// reply that packs, carries the query's ID, fits the transport, and is
// FORMERR for a message that is not one question. Packets that do not parse
// go to a real server on loopback, which must answer FORMERR (or NOTIMP for
// an opcode it does not serve).
func FuzzHandler(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
		edns  uint16
	}{
		{"web.service.consul.", dns.TypeSRV, 0},
		{"_web._tcp.service.dc1.consul.", dns.TypeSRV, 1232},
		{"foo.node.consul.", dns.TypeANY, 0},
		{"7f00000b.addr.dc1.consul.", dns.TypeA, 4096},
		{"consul.", dns.TypeSOA, 0},
		{"example.com.", dns.TypeA, 0},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		if q.edns > 0 {
			m.SetEdns0(q.edns, true)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}

	cfg := testConfig()
	cfg.EnableTruncate = true
	cfg.ServiceTTL = map[string]time.Duration{"w*": time.Second}
	s := newTestServer(f, cfg, seedBackend())
	if err := s.Start("127.0.0.1:0", ""); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	udpAddr, _ := s.Addrs()

	f.Fuzz(func(t *testing.T, data []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(data); err != nil {
			viaServer(t, udpAddr.String(), data)
			return
		}
		w := &recorder{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.ServeDNS(w, req)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("handler hung")
		}
		if len(w.msgs) != 1 {
			t.Fatalf("%d replies", len(w.msgs))
		}
		r := w.msgs[0]
		if r.Id != req.Id || !r.Response {
			t.Fatalf("reply id %d response=%v", r.Id, r.Response)
		}
		if (req.Response || len(req.Question) != 1) && r.Rcode != dns.RcodeFormatError {
			t.Fatalf("malformed query answered %s", dns.RcodeToString[r.Rcode])
		}
		limit := 512
		if opt := req.IsEdns0(); opt != nil && int(opt.UDPSize()) > limit {
			limit = int(opt.UDPSize())
		}
		if len(w.raw[0]) > limit {
			t.Fatalf("UDP reply of %d bytes, limit %d", len(w.raw[0]), limit)
		}
	})
}

// viaServer sends a packet that does not parse to the running server.
func viaServer(t *testing.T, addr string, data []byte) {
	if len(data) < 12 || len(data) > 4096 || data[2]&0x80 != 0 {
		return // no header, too big for one read, or a response: the server stays silent
	}
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(data); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no reply to a malformed packet: %v", err)
	}
	var m dns.Msg
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	if m.Rcode != dns.RcodeFormatError && m.Rcode != dns.RcodeNotImplemented {
		t.Fatalf("malformed packet answered %s", dns.RcodeToString[m.Rcode])
	}
}
