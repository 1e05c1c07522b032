package dns

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"consulate/structs"
)

// stuckBackend never answers: every call waits until its context is done
// (or the test ends, so that a test failing for want of a deadline does
// not leave goroutines behind).
type stuckBackend struct{ release chan struct{} }

func (b *stuckBackend) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-b.release:
		return errors.New("stuck backend released by the test")
	}
}

func (b *stuckBackend) ExecuteQuery(ctx context.Context, req *QueryRequest) (*QueryResult, error) {
	return nil, b.RPC(ctx, "", nil, nil)
}

// TestLookupDeadline: a lookup whose backend never answers is SERVFAIL
// once the lookup deadline passes, for every kind of lookup that waits on
// the backend, a named remote datacenter (which also asks whether the DC
// exists) included.
func TestLookupDeadline(t *testing.T) {
	b := &stuckBackend{release: make(chan struct{})}
	t.Cleanup(func() { close(b.release) })
	cfg := testConfig()
	cfg.LookupTimeout = 200 * time.Millisecond
	cfg.QueryExecutor = b
	s := newTestServer(t, cfg, b)
	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"web.service.consul.", dns.TypeSRV, dns.RcodeServerFailure},
		{"primary.web.service.consul.", dns.TypeA, dns.RcodeServerFailure},
		{"foo.node.consul.", dns.TypeA, dns.RcodeServerFailure},
		{"web.service.dc2.consul.", dns.TypeA, dns.RcodeServerFailure},
		{"foo.node.dc2.consul.", dns.TypeA, dns.RcodeServerFailure},
		{"q.query.consul.", dns.TypeA, dns.RcodeServerFailure},
		// The NS list is best effort: without servers it names this agent.
		{"consul.", dns.TypeNS, dns.RcodeSuccess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := new(dns.Msg)
			q.SetQuestion(tc.name, tc.qtype)
			start := time.Now()
			done := make(chan *dns.Msg, 1)
			go func() {
				w := &recorder{}
				s.ServeDNS(w, q)
				if len(w.msgs) == 1 {
					done <- w.msgs[0]
				}
				close(done)
			}()
			select {
			case m := <-done:
				took := time.Since(start)
				if m == nil || m.Rcode != tc.rcode {
					t.Fatalf("reply %v, want rcode %s", m, dns.RcodeToString[tc.rcode])
				}
				if took < cfg.LookupTimeout || took > cfg.LookupTimeout+time.Second {
					t.Fatalf("answered after %v, deadline %v", took, cfg.LookupTimeout)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no answer 5 s after the lookup deadline: the handler hangs")
			}
		})
	}
}

// TestLookupDeadlineOverUDP: the same through a real server and client.
func TestLookupDeadlineOverUDP(t *testing.T) {
	b := &stuckBackend{release: make(chan struct{})}
	t.Cleanup(func() { close(b.release) })
	cfg := testConfig()
	cfg.LookupTimeout = 300 * time.Millisecond
	s := newTestServer(t, cfg, b)
	if err := s.Start("127.0.0.1:0", ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	udp, _ := s.Addrs()
	start := time.Now()
	r := exchange(t, "udp", udp.String(), "web.service.consul.", dns.TypeA, 0)
	if took := time.Since(start); r.Rcode != dns.RcodeServerFailure || took > cfg.LookupTimeout+time.Second {
		t.Fatalf("rcode %s after %v", dns.RcodeToString[r.Rcode], took)
	}
}

// TestRecursorsShareOneDeadline: recursors that never answer are tried
// in turn, but all of them together within the lookup deadline, not one
// recursor timeout each.
func TestRecursorsShareOneDeadline(t *testing.T) {
	cfg := testConfig()
	for range 4 {
		// Bound and never read: queries vanish, as to a dead host.
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		cfg.Recursors = append(cfg.Recursors, pc.LocalAddr().String())
	}
	cfg.RecursorTimeout = 400 * time.Millisecond
	cfg.LookupTimeout = 500 * time.Millisecond
	s := newTestServer(t, cfg, seedBackend())
	q := new(dns.Msg)
	q.SetQuestion("example.com.", dns.TypeA)
	start := time.Now()
	r := ask(t, s, q, false)
	took := time.Since(start)
	// Without the shared deadline: 4 × 400 ms.
	if r.Rcode != dns.RcodeServerFailure || took < cfg.LookupTimeout || took > 1200*time.Millisecond {
		t.Fatalf("rcode %s after %v; want SERVFAIL after about %v", dns.RcodeToString[r.Rcode], took, cfg.LookupTimeout)
	}
}

func TestLookupContext(t *testing.T) {
	t.Run("deadline without waiting", func(t *testing.T) {
		c := newLookupContext(context.Background(), 30*time.Millisecond, nil)
		if c.Err() != nil || c.current() != nil {
			t.Fatal("fresh context done or armed by Err")
		}
		deadline := time.Now().Add(5 * time.Second)
		for c.Err() == nil && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if c.Err() != context.DeadlineExceeded || c.current() != nil {
			t.Fatalf("err %v", c.Err())
		}
		select {
		case <-c.Done():
		case <-time.After(time.Second):
			t.Fatal("Done not closed after Err reported the deadline")
		}
		if c.Err() != context.DeadlineExceeded {
			t.Fatalf("armed err %v", c.Err())
		}
	})
	t.Run("Done fires at the deadline", func(t *testing.T) {
		c := newLookupContext(context.Background(), 50*time.Millisecond, nil)
		defer c.release()
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done never closed")
		}
		if c.Err() != context.DeadlineExceeded {
			t.Fatalf("err %v", c.Err())
		}
	})
	t.Run("release cancels derived contexts", func(t *testing.T) {
		c := newLookupContext(context.Background(), time.Hour, nil)
		child, cancel := context.WithTimeout(c, time.Hour)
		defer cancel()
		if d, _ := child.Deadline(); d.After(time.Now().Add(2 * time.Hour)) {
			t.Fatal("child deadline later than the lookup's")
		}
		c.release()
		select {
		case <-child.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("child not cancelled by release")
		}
		if c.Err() != context.Canceled {
			t.Fatalf("err %v", c.Err())
		}
	})
	t.Run("released before armed", func(t *testing.T) {
		c := newLookupContext(context.Background(), time.Hour, nil)
		c.release()
		if c.Err() != context.Canceled {
			t.Fatalf("err %v", c.Err())
		}
		select {
		case <-c.Done():
		case <-time.After(time.Second):
			t.Fatal("released context not done")
		}
	})
	t.Run("reuse only when never armed", func(t *testing.T) {
		c := newLookupContext(context.Background(), time.Hour, nil)
		c.Err()
		c.release()
		if !c.reuse(context.Background(), time.Hour, nil) || c.Err() != nil {
			t.Fatalf("unarmed context not reusable (err %v)", c.Err())
		}
		done := c.Done()
		c.release()
		if c.reuse(context.Background(), time.Hour, nil) {
			t.Fatal("armed context reused")
		}
		select {
		case <-done:
		default:
			t.Fatal("release did not close Done")
		}
	})
	t.Run("parent cancel", func(t *testing.T) {
		p, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
		c := newLookupContext(p, time.Hour, nil)
		defer c.release()
		if c.Value(ctxKey{}) != "v" {
			t.Fatal("value not inherited")
		}
		done := c.Done()
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("parent cancel not seen")
		}
		if c.Value(ctxKey{}) != "v" || c.Err() != context.Canceled {
			t.Fatalf("after cancel: value %v err %v", c.Value(ctxKey{}), c.Err())
		}
	})
}

type ctxKey struct{}

// BenchmarkLookupContext is what the deadline adds to a lookup answered
// from memory (fast path), and to one whose backend asks Err.
func BenchmarkLookupContext(b *testing.B) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.Run("fast-path", func(b *testing.B) {
		b.ReportAllocs()
		c := newLookupContext(parent, time.Second, nil)
		for b.Loop() {
			if !c.reuse(parent, time.Second, nil) {
				b.Fatal("not reusable")
			}
			c.release()
		}
	})
	b.Run("err", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := newLookupContext(parent, time.Second, nil)
			if c.Err() != nil {
				b.Fatal("done")
			}
			c.release()
		}
	})
	b.Run("with-timeout", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, cancel := context.WithTimeout(parent, time.Second)
			cancel()
		}
	})
}

// TestWaitingLookupsBounded: with MaxWaitingLookups lookups stuck on the
// backend, the next one that would wait answers SERVFAIL at once instead
// of holding another goroutine for the whole deadline; once they end,
// lookups wait again.
func TestWaitingLookupsBounded(t *testing.T) {
	b := &stuckBackend{release: make(chan struct{})}
	t.Cleanup(func() { close(b.release) })
	cfg := testConfig()
	cfg.LookupTimeout = 2 * time.Second
	cfg.MaxWaitingLookups = 3
	s := newTestServer(t, cfg, b)
	q := new(dns.Msg)
	q.SetQuestion("web.service.consul.", dns.TypeA)
	stuck := make(chan time.Duration, cfg.MaxWaitingLookups)
	for range cfg.MaxWaitingLookups {
		go func() {
			start := time.Now()
			s.ServeDNS(&recorder{}, q)
			stuck <- time.Since(start)
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Waiting() != cfg.MaxWaitingLookups {
		if time.Now().After(deadline) {
			t.Fatalf("%d lookups waiting, want %d", s.Waiting(), cfg.MaxWaitingLookups)
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	r := ask(t, s, q, false)
	if took := time.Since(start); r.Rcode != dns.RcodeServerFailure || took > cfg.LookupTimeout/2 {
		t.Fatalf("lookup over the limit: rcode %s after %v", dns.RcodeToString[r.Rcode], took)
	}
	over := newLookupContext(context.Background(), time.Hour, &s.waiting)
	<-over.Done()
	if over.Err() != context.Canceled || !errors.Is(context.Cause(over), ErrTooManyWaiting) {
		t.Fatalf("context over the limit: err %v, cause %v", over.Err(), context.Cause(over))
	}
	over.release()
	for range cfg.MaxWaitingLookups {
		if took := <-stuck; took < cfg.LookupTimeout {
			t.Fatalf("a stuck lookup ended after %v, before its deadline", took)
		}
	}
	if s.Waiting() != 0 {
		t.Fatalf("%d lookups still counted as waiting", s.Waiting())
	}
	// Room again: a lookup waits its deadline (a short one here).
	s.cfg.LookupTimeout = 100 * time.Millisecond
	start = time.Now()
	if r := ask(t, s, q, false); r.Rcode != dns.RcodeServerFailure || time.Since(start) < s.cfg.LookupTimeout {
		t.Fatalf("after the stuck lookups ended: rcode %s after %v", dns.RcodeToString[r.Rcode], time.Since(start))
	}
}
