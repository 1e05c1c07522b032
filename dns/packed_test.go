package dns

import (
	"context"
	"errors"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"consulate/structs"
)

// trackedBackend is a fakeBackend whose reads are tracked, as the agent's
// cache tracks them: every reply carries index, and the tracker reports
// it (and false while off is set).
type trackedBackend struct {
	*fakeBackend
	index atomic.Uint64
	off   atomic.Bool
	calls atomic.Int64
}

var _ Tracker = (*trackedBackend)(nil)

func newTrackedBackend(f *fakeBackend) *trackedBackend {
	t := &trackedBackend{fakeBackend: f}
	t.index.Store(1)
	return t
}

func (t *trackedBackend) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	t.calls.Add(1)
	err := t.fakeBackend.RPC(ctx, method, args, reply)
	switch r := reply.(type) {
	case *structs.IndexedNodeServices:
		r.Index = t.index.Load()
	case *structs.IndexedCheckServiceNodes:
		r.Index = t.index.Load()
	}
	return err
}

func (t *trackedBackend) Track(structs.Method, any) func() (uint64, bool) {
	return func() (uint64, bool) { return t.index.Load(), !t.off.Load() }
}

func TestPackedKeptUntilChange(t *testing.T) {
	b := newTrackedBackend(seedBackend())
	s := newTestServer(t, testConfig(), b)
	q := new(dns.Msg)
	q.SetQuestion("foo.node.consul.", dns.TypeA)
	if r := ask(t, s, q, false); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.11" {
		t.Fatalf("answer %v", r.Answer)
	}
	calls := b.calls.Load()
	for range 5 {
		ask(t, s, q, false)
	}
	if n := b.calls.Load() - calls; n != 0 {
		t.Fatalf("%d backend reads for kept replies, want 0", n)
	}
	// A change of the data: the next query rebuilds, once.
	b.mu.Lock()
	b.nodes["dc1"]["foo"].Node = &structs.Node{Node: "foo", Address: "127.0.0.77"}
	b.mu.Unlock()
	b.index.Add(1)
	if r := ask(t, s, q, false); r.Answer[0].(*dns.A).A.String() != "127.0.0.77" {
		t.Fatalf("after change: %v", r.Answer)
	}
	ask(t, s, q, false)
	if n := b.calls.Load() - calls; n != 1 {
		t.Fatalf("%d backend reads after a change, want 1", n)
	}
	// Not kept by the backend: every query reads.
	b.off.Store(true)
	ask(t, s, q, false)
	ask(t, s, q, false)
	if n := b.calls.Load() - calls; n != 3 {
		t.Fatalf("%d backend reads while untracked, want 3", n)
	}
}

func TestPackedPerQueryFields(t *testing.T) {
	b := newTrackedBackend(manyBackend(20))
	s := newTestServer(t, testConfig(), b)
	for _, name := range []string{"big.service.consul.", "BiG.SeRvIcE.cOnSuL.", "BIG.SERVICE.CONSUL."} {
		for i := range 3 {
			q := new(dns.Msg)
			q.SetQuestion(name, dns.TypeSRV)
			q.Id = uint16(1000 + i)
			q.RecursionDesired = i%2 == 0
			q.CheckingDisabled = i == 1
			q.SetEdns0(4096, i == 2)
			r := ask(t, s, q, false)
			if r.Question[0].Name != name {
				t.Fatalf("question %q, want %q as asked", r.Question[0].Name, name)
			}
			if r.RecursionDesired != q.RecursionDesired || r.CheckingDisabled != q.CheckingDisabled || !r.Authoritative {
				t.Fatalf("flags rd=%v cd=%v aa=%v for rd=%v cd=%v", r.RecursionDesired, r.CheckingDisabled, r.Authoritative,
					q.RecursionDesired, q.CheckingDisabled)
			}
			opt := r.IsEdns0()
			if opt == nil || opt.UDPSize() != 4096 || opt.Do() != (i == 2) {
				t.Fatalf("OPT %v, want size 4096 do=%v", opt, i == 2)
			}
			if len(r.Answer) != 20 || len(r.Extra) != 21 {
				t.Fatalf("%d answers %d extras, want 20 and 21", len(r.Answer), len(r.Extra))
			}
			for _, rr := range r.Answer {
				srv := rr.(*dns.SRV)
				if srv.Hdr.Name != name {
					t.Fatalf("owner %q, want %q", srv.Hdr.Name, name)
				}
				if srv.Target != strings.ToLower(srv.Target) || !strings.HasSuffix(srv.Target, ".node.dc1.consul.") {
					t.Fatalf("target %q changed case", srv.Target)
				}
			}
		}
	}
	// Without EDNS: no OPT, the UDP answer limit (no TC without
	// enable_truncate).
	q := new(dns.Msg)
	q.SetQuestion("big.service.consul.", dns.TypeSRV)
	for range 2 {
		if r := ask(t, s, q, false); r.IsEdns0() != nil || len(r.Answer) != 3 || r.Truncated {
			t.Fatalf("plain UDP: opt=%v answers=%d tc=%v", r.IsEdns0(), len(r.Answer), r.Truncated)
		}
	}
}

func TestPackedNegativeSerial(t *testing.T) {
	b := newTrackedBackend(seedBackend())
	s := newTestServer(t, testConfig(), b)
	q := new(dns.Msg)
	q.SetQuestion("nope.node.consul.", dns.TypeA)
	first := ask(t, s, q, false)
	if first.Rcode != dns.RcodeNameError || len(first.Ns) != 1 {
		t.Fatalf("rcode %d ns %v", first.Rcode, first.Ns)
	}
	// The kept reply's serial is the time of each reply, as a fresh one.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		r := ask(t, s, q, false)
		if r.Ns[0].(*dns.SOA).Serial > first.Ns[0].(*dns.SOA).Serial {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the SOA serial of a kept reply does not follow the time")
}

func TestPackedShuffledAndTruncated(t *testing.T) {
	b := newTrackedBackend(manyBackend(50))
	cfg := testConfig()
	cfg.EnableTruncate = true
	s := newTestServer(t, cfg, b)
	q := new(dns.Msg)
	q.SetQuestion("big.service.consul.", dns.TypeSRV)
	q.SetEdns0(1232, false)
	first := ask(t, s, q, false)
	if !first.Truncated || len(first.Answer) == 0 || len(first.Answer) >= 50 {
		t.Fatalf("tc=%v answers=%d", first.Truncated, len(first.Answer))
	}
	differs := false
	for range 20 {
		r := ask(t, s, q, false)
		if len(r.Answer) != len(first.Answer) || !r.Truncated {
			t.Fatalf("answers %d tc=%v, want %d and TC", len(r.Answer), r.Truncated, len(first.Answer))
		}
		r.Compress = true
		if p, _ := r.Pack(); len(p) > 1232 {
			t.Fatalf("reply %d bytes > 1232", len(p))
		}
		differs = differs || !slices.Equal(rrStrings(first.Answer, false), rrStrings(r.Answer, false))
	}
	if !differs {
		t.Fatal("kept replies came in one order")
	}
}

func TestPackedNoAllocs(t *testing.T) {
	s := newTestServer(t, testConfig(), newTrackedBackend(manyBackend(50)))
	for _, tc := range []struct {
		name  string
		qtype uint16
	}{{"big.service.consul.", dns.TypeSRV}, {"node-007.node.consul.", dns.TypeA}} {
		q := new(dns.Msg)
		q.SetQuestion(tc.name, tc.qtype)
		q.SetEdns0(4096, false)
		w := &countWriter{}
		s.ServeDNS(w, q)
		if n := testing.AllocsPerRun(100, func() { s.ServeDNS(w, q) }); n != 0 {
			t.Fatalf("%s: %v allocations per kept reply, want 0", tc.name, n)
		}
	}
}

// countWriter is a dns.ResponseWriter over UDP that counts the bytes
// written.
type countWriter struct {
	recorder
	bytes int
}

var (
	countWriterUDP net.Addr = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 40000}
	countWriterTCP net.Addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 40000}
)

// RemoteAddr returns one address, as miekg/dns's writer does.
func (w *countWriter) RemoteAddr() net.Addr {
	if w.tcp {
		return countWriterTCP
	}
	return countWriterUDP
}

func (w *countWriter) Write(b []byte) (int, error) { w.bytes += len(b); return len(b), nil }

func (w *countWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	w.bytes += len(b)
	return err
}

func TestPackedVariantsHandOutEveryInstance(t *testing.T) {
	b := newTrackedBackend(manyBackend(50))
	s := newTestServer(t, testConfig(), b)
	for _, qtype := range []uint16{dns.TypeSRV, dns.TypeA} {
		q := new(dns.Msg)
		q.SetQuestion("big.service.consul.", qtype)
		seen := map[string]bool{}
		for range 40 {
			r := ask(t, s, q, false)
			if len(r.Answer) != 3 {
				t.Fatalf("%d answers, want the UDP answer limit 3", len(r.Answer))
			}
			for _, rr := range r.Answer {
				seen[strings.Fields(rr.String())[4]+" "+strings.Join(strings.Fields(rr.String())[5:], " ")] = true
			}
		}
		if len(seen) != 50 {
			t.Fatalf("%s: %d instances handed out in 40 replies, want all 50", dns.TypeToString[qtype], len(seen))
		}
	}
}

func TestPackedConcurrentChanges(t *testing.T) {
	b := newTrackedBackend(manyBackend(20))
	s := newTestServer(t, testConfig(), b)
	done := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := range 300 {
				q := new(dns.Msg)
				q.SetQuestion("big.service.consul.", dns.TypeSRV)
				q.Id = uint16(g*1000 + i)
				if g%2 == 0 {
					q.SetEdns0(4096, true)
				}
				w := &recorder{}
				s.ServeDNS(w, q)
				if len(w.msgs) != 1 || w.msgs[0].Id != q.Id || len(w.msgs[0].Answer) == 0 {
					done <- errors.New("bad reply")
					return
				}
			}
			done <- nil
		}()
	}
	for i := range 2000 {
		b.index.Store(uint64(10 + i))
		runtime.Gosched()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
