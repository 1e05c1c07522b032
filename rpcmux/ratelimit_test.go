package rpcmux

import (
	"errors"
	"math"
	"testing"
	"time"

	"consulate/structs"
)

// A client gets its burst, then refusals the caller can tell apart and
// retry elsewhere; all its connections share one bucket.
func TestRPCRateLimitBurstThenRefusals(t *testing.T) {
	cfg := testConfig()
	cfg.RPCRate = 0.5 // one token every two seconds: none refills mid-test
	cfg.RPCMaxBurst = 5
	srv, logs := startLoggedServer(t, cfg, "127.0.0.88:0")
	p := newTestPool(t, testPoolConfig())
	for i := range 5 {
		if err := p.Call(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	err := p.Call(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil)
	var re *structs.RemoteError
	if !errors.Is(err, structs.ErrRateLimited) || !errors.As(err, &re) || re.Code != structs.CodeRateLimited {
		t.Fatalf("call over the burst = %v, want a remote ErrRateLimited", err)
	}
	// The same bucket holds on another connection from the same IP.
	p2 := newTestPool(t, testPoolConfig())
	if err := p2.Call(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); !errors.Is(err, structs.ErrRateLimited) {
		t.Fatalf("call on a new session = %v, want ErrRateLimited", err)
	}
	if st := srv.mux.Stats(); st.RateLimited != 2 {
		t.Fatalf("RateLimited = %d, want 2", st.RateLimited)
	}
	if got := srv.h.calls.Load(); got != 5 {
		t.Fatalf("handler ran %d calls, want 5", got)
	}
	if logs.lineWith("over its RPC rate", "127.0.0.1:") == "" {
		t.Fatalf("no rate-limit line; log:\n%s", logs)
	}
}

func TestRPCRateOffByDefault(t *testing.T) {
	cfg := DefaultConfig()
	if !math.IsInf(cfg.RPCRate, 1) || cfg.RPCMaxBurst != 1000 {
		t.Fatalf("defaults: rate %v burst %d", cfg.RPCRate, cfg.RPCMaxBurst)
	}
	m := mustMux(t, cfg, newTestHandler())
	if m.rates != nil {
		t.Fatal("rate limiter on with the default +Inf rate")
	}
	cfg.RPCRate = -1
	if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("negative rate: %v", err)
	}
	cfg.RPCRate, cfg.RPCMaxBurst = 10, 0
	if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("zero burst with a rate: %v", err)
	}
}

// The bucket refills at the rate, and the map forgets only buckets that
// have refilled, so it stays bounded without letting anyone gain.
func TestRateLimiterRefillAndSweep(t *testing.T) {
	l := newRateLimiter(10, 2) // full again 200ms after emptying
	t0 := time.Unix(1000, 0)
	for i, want := range []bool{true, true, false} {
		if got := l.allow("a", t0); got != want {
			t.Fatalf("call %d of a burst of 2: allowed %v", i, got)
		}
	}
	if !l.allow("a", t0.Add(100*time.Millisecond)) || l.allow("a", t0.Add(100*time.Millisecond)) {
		t.Fatal("one token per 100ms not refilled")
	}
	for i := range 1000 {
		l.allow(string(rune('b'+i)), t0.Add(time.Second))
	}
	if l.size() != 1001 {
		t.Fatalf("size = %d", l.size())
	}
	// A minute on every bucket is full; the next call sweeps them all.
	l.allow("y", t0.Add(2*time.Minute))
	if got := l.size(); got != 1 {
		t.Fatalf("size after sweep = %d, want 1", got)
	}
	// A bucket still refilling is kept by a sweep.
	l.allow("y", t0.Add(2*time.Minute)) // y is empty now
	if l.allow("y", t0.Add(3*time.Minute+time.Second)) != true {
		t.Fatal("y not refilled")
	}
	l.allow("y", t0.Add(3*time.Minute+time.Second))
	l.allow("z", t0.Add(3*time.Minute+time.Second+50*time.Millisecond))
	if got := l.size(); got != 2 {
		t.Fatalf("size = %d, want y and z", got)
	}
	l.allow("x", t0.Add(5*time.Minute))
	if got := l.size(); got != 1 {
		t.Fatalf("size after second sweep = %d, want 1", got)
	}
	l2 := newRateLimiter(0.001, 5) // 5000s to refill
	now := time.Unix(5000, 0)
	for range 5 {
		l2.allow("a", now)
	}
	if l2.allow("a", now.Add(10*time.Minute)) {
		t.Fatal("token refilled too soon")
	}
	l2.allow("b", now.Add(84*time.Minute)) // sweeps; a was seen 74 minutes ago, not surely full
	if got := l2.size(); got != 2 {
		t.Fatalf("refilling bucket dropped: size %d", got)
	}
}
