package rpcmux

import (
	"context"
	"errors"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

// CloseSession fails the calls waiting on every session to the address at
// once (a short call and a blocking query, each on its own lane), and the
// next call dials a new connection.
func TestCloseSessionFailsWaitingCallsAndRedials(t *testing.T) {
	h := newTestHandler()
	srv := startServer(t, testConfig(), h, "")
	p := newTestPool(t, testPoolConfig())
	if err := p.Call(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	short := make(chan error, 1)
	go func() {
		short <- p.Call(ctxTimeout(t, 10*time.Second), "dc1", srv.addr, "Test.Block", &blockArgs{}, nil)
	}()
	<-h.blockCtxCh
	blocking := make(chan error, 1)
	q := &holdQuery{QueryOptions: structs.QueryOptions{MinQueryIndex: 5, MaxQueryTime: time.Minute}}
	go func() { blocking <- p.Call(ctxTimeout(t, 10*time.Second), "dc1", srv.addr, "Test.HoldQuery", q, nil) }()
	testutil.WaitFor(t, 5*time.Second, "both calls under way", func() bool { return h.inFlight.Load() == 2 })
	before := srv.ln.accepted.Load()

	start := time.Now()
	if n := p.CloseSession(srv.addr); n != 2 {
		t.Fatalf("CloseSession closed %d sessions, want 2 (one per lane)", n)
	}
	for name, ch := range map[string]chan error{"short call": short, "blocking query": blocking} {
		select {
		case err := <-ch:
			if err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s: err = %v, want a closed-session error", name, err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("%s still waiting 2s after CloseSession", name)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("waiting calls failed %v after CloseSession", took)
	}
	if n := p.CloseSession(srv.addr); n != 0 {
		t.Fatalf("second CloseSession closed %d", n)
	}
	if err := p.Call(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		t.Fatalf("call after CloseSession: %v", err)
	}
	if got := srv.ln.accepted.Load(); got != before+1 {
		t.Fatalf("accepted %d connections after CloseSession, want one new dial", got-before)
	}
}
