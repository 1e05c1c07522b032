package rpcmux

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

func TestPoolCallOverTCP(t *testing.T) {
	srv := startServer(t, testConfig(), newTestHandler(), "")
	p := newTestPool(t, testPoolConfig())
	ctx := ctxTimeout(t, 10*time.Second)
	var out echoArgs
	for i := range 5 {
		in := echoArgs{S: "hi", D: time.Duration(i)}
		if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &in, &out); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if out.S != "hi" || out.D != time.Duration(i) {
			t.Fatalf("call %d: reply %+v", i, out)
		}
	}
	if got := srv.ln.accepted.Load(); got != 1 {
		t.Fatalf("server accepted %d connections, want 1", got)
	}
	if rtt, err := p.Ping(ctx, "dc1", srv.addr); err != nil || rtt <= 0 {
		t.Fatalf("ping: %v %v", rtt, err)
	}
}

func TestPlainRPCConnection(t *testing.T) {
	srv := startServer(t, testConfig(), newTestHandler(), "")
	conn, err := net.Dial("tcp", string(srv.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte{byte(RPCPlain)}); err != nil {
		t.Fatal(err)
	}
	c := newWireCodec(DefaultMaxMessageSize)
	// Several sequential calls on one connection.
	for seq := uint64(1); seq <= 3; seq++ {
		if err := c.writeFrame(conn, &requestHeader{Method: "Test.Echo", Seq: seq}, &echoArgs{S: "plain"}); err != nil {
			t.Fatal(err)
		}
		payload, err := c.readFrame(conn)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		dec := c.decoder(payload)
		var rh responseHeader
		var out echoArgs
		if err := dec.decode(&rh); err != nil {
			t.Fatal(err)
		}
		if err := dec.decode(&out); err != nil {
			t.Fatal(err)
		}
		if rh.Seq != seq || rh.Error != nil || out.S != "plain" {
			t.Fatalf("seq %d: header %+v body %+v", seq, rh, out)
		}
	}
}

func TestParallelCallsShareOneConnection(t *testing.T) {
	srv := startServer(t, testConfig(), newTestHandler(), "")
	p := newTestPool(t, testPoolConfig())
	ctx := ctxTimeout(t, 20*time.Second)

	// Start all 100 from a cold pool: they must share one dial.
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	start := make(chan struct{})
	for i := range 100 {
		wg.Go(func() {
			<-start
			var out echoArgs
			in := echoArgs{S: "p", D: time.Duration(i)}
			if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &in, &out); err != nil {
				errs <- err
				return
			}
			if out.D != time.Duration(i) {
				errs <- errors.New("reply crossed with another call")
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := srv.ln.accepted.Load(); got != 1 {
		t.Fatalf("server accepted %d connections for 100 parallel calls, want 1", got)
	}
	if st := p.Stats(); st.Sessions != 1 || st.Calls != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestDeadlineOnBlockingHandler(t *testing.T) {
	h := newTestHandler()
	srv := startServer(t, testConfig(), h, "")
	p := newTestPool(t, testPoolConfig())
	// Establish the session first so the deadline covers only the call.
	if err := p.Call(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		t.Fatal(err)
	}

	const d = 150 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	err := p.Call(ctx, "dc1", srv.addr, "Test.Block", &blockArgs{}, nil)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if took > d+500*time.Millisecond {
		t.Fatalf("call returned after %v, deadline was %v", took, d)
	}
	// The handler saw the caller's deadline on its ctx.
	hctx := <-h.blockCtxCh
	dl, ok := hctx.Deadline()
	want, _ := ctx.Deadline()
	// The deadline travels as time left, so the handler's is the caller's
	// plus the request's transit time: never earlier, and on loopback
	// later by far less than the call's whole budget even on a busy host.
	if skew := dl.Sub(want); !ok || skew < -time.Millisecond || skew > d/2 {
		t.Fatalf("handler deadline = %v (%v), want %v plus transit time", dl, ok, want)
	}
	testutil.WaitFor(t, 2*time.Second, "handler ctx done", func() bool { return hctx.Err() != nil })
}

func TestCancelStopsServerHandler(t *testing.T) {
	h := newTestHandler()
	srv := startServer(t, testConfig(), h, "")
	p := newTestPool(t, testPoolConfig())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errCh := make(chan error, 1)
	go func() { errCh <- p.Call(ctx, "dc1", srv.addr, "Test.Block", &blockArgs{}, nil) }()
	var hctx context.Context
	select {
	case hctx = <-h.blockCtxCh:
	case <-time.After(5 * time.Second):
		t.Fatal("handler never called")
	}
	if _, ok := hctx.Deadline(); ok {
		t.Fatal("handler ctx has a deadline, caller set none")
	}
	cancel()
	select {
	case err := <-errCh:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("cancelled call did not return")
	}
	// Closing the stream cancels the server's ctx for the call.
	testutil.WaitFor(t, 2*time.Second, "handler ctx cancelled", func() bool { return hctx.Err() != nil })
	// And the session is still good.
	if err := p.Call(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestDeadlineTravelsToServer(t *testing.T) {
	srv := startServer(t, testConfig(), newTestHandler(), "")
	p := newTestPool(t, testPoolConfig())
	ctx := ctxTimeout(t, 3*time.Second)
	var got int64
	if err := p.Call(ctx, "dc1", srv.addr, "Test.Deadline", &struct{}{}, &got); err != nil {
		t.Fatal(err)
	}
	// The remaining time travels, so the server's deadline is the
	// caller's plus the time in transit.
	want, _ := ctx.Deadline()
	if d := time.Duration(got - want.UnixNano()); d < 0 || d > 500*time.Millisecond {
		t.Fatalf("server deadline %v off the caller's", d)
	}
}

func TestIdleSessionsAreReaped(t *testing.T) {
	srv := startServer(t, testConfig(), newTestHandler(), "")
	cfg := testPoolConfig()
	cfg.IdleTimeout = 50 * time.Millisecond
	p := newTestPool(t, cfg)
	ctx := ctxTimeout(t, 10*time.Second)
	if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "idle session reaped", func() bool { return p.Stats().Sessions == 0 })
	if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		t.Fatalf("call after reap: %v", err)
	}
	if got := srv.ln.accepted.Load(); got != 2 {
		t.Fatalf("accepted %d connections, want 2 (one redial after reaping)", got)
	}
}

func TestReapSparesSessionsInUse(t *testing.T) {
	h := newTestHandler()
	srv := startServer(t, testConfig(), h, "")
	p := newTestPool(t, testPoolConfig()) // IdleTimeout: minutes
	ctx := ctxTimeout(t, 10*time.Second)
	errCh := make(chan error, 1)
	go func() { errCh <- p.Call(ctx, "dc1", srv.addr, "Test.Hold", &blockArgs{}, nil) }()
	testutil.WaitFor(t, 5*time.Second, "call in handler", func() bool { return h.inFlight.Load() == 1 })
	if n := p.reapIdle(time.Now().Add(time.Hour)); n != 0 {
		t.Fatalf("reaped %d sessions with a call in progress", n)
	}
	close(h.release)
	if err := <-errCh; err != nil {
		t.Fatal(err)
	}
	if n := p.reapIdle(time.Now()); n != 0 {
		t.Fatalf("reaped a session used just now")
	}
	if n := p.reapIdle(time.Now().Add(time.Hour)); n != 1 {
		t.Fatalf("reaped %d, want 1 idle session", n)
	}
	if st := p.Stats(); st.Sessions != 0 {
		t.Fatalf("stats after reap: %+v", st)
	}
}

func TestServerRestartRedials(t *testing.T) {
	h := newTestHandler()
	srv := startServer(t, testConfig(), h, "")
	p := newTestPool(t, testPoolConfig())
	ctx := ctxTimeout(t, 10*time.Second)
	if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	srv.stop(t)
	// The dead session is noticed and dropped.
	testutil.WaitFor(t, 5*time.Second, "dead session dropped", func() bool { return p.Stats().Sessions == 0 })
	// While the server is down, calls fail fast.
	if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err == nil {
		t.Fatal("call succeeded with the server down")
	}
	srv2 := startServer(t, testConfig(), h, string(srv.addr))
	if err := p.Call(ctx, "dc1", srv2.addr, "Test.Echo", &echoArgs{S: "back"}, nil); err != nil {
		t.Fatalf("call after restart: %v", err)
	}
	if got := srv2.ln.accepted.Load(); got != 1 {
		t.Fatalf("new server accepted %d connections, want 1", got)
	}
}

// A session that dies under a call that has not sent anything yet is
// replaced transparently.
func TestDeadSessionReplacedBeforeSend(t *testing.T) {
	srv := startServer(t, testConfig(), newTestHandler(), "")
	p := newTestPool(t, testPoolConfig())
	ctx := ctxTimeout(t, 10*time.Second)
	if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	s := p.addrs[sessKey{addr: srv.addr, lane: laneShort}].sess
	p.mu.Unlock()
	s.ys.Close() // as if keepalive had failed; the pool has not noticed yet
	if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		t.Fatalf("call on a replaced session: %v", err)
	}
	if got := srv.ln.accepted.Load(); got != 2 {
		t.Fatalf("accepted %d, want 2", got)
	}
}

func TestBadFirstBytesCloseConnection(t *testing.T) {
	cfg := testConfig()
	cfg.HandshakeTimeout = 100 * time.Millisecond
	srv := startServer(t, cfg, newTestHandler(), "")
	for _, first := range [][]byte{{0xFF}, {byte(RPCTLS)}, {42, 1, 2, 3}, nil} {
		conn, err := net.Dial("tcp", string(srv.addr))
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if len(first) > 0 {
			if _, err := conn.Write(first); err != nil {
				t.Fatal(err)
			}
		}
		// nil sends nothing: the handshake timeout must close it.
		if n, err := conn.Read(make([]byte, 16)); err == nil {
			t.Fatalf("first bytes %v: read %d bytes, want closed connection", first, n)
		} else if isTimeout(err) {
			t.Fatalf("first bytes %v: connection left open", first)
		}
		conn.Close()
	}
	// The server still serves.
	p := newTestPool(t, testPoolConfig())
	if err := p.Call(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestPlainConnectionOversizedRequest(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageSize = 1024
	srv := startServer(t, cfg, newTestHandler(), "")
	conn, err := net.Dial("tcp", string(srv.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	// Only the length is sent; the server must not wait for 16 MiB.
	if _, err := conn.Write([]byte{byte(RPCPlain), 0x01, 0x00, 0x00, 0x00}); err != nil {
		t.Fatal(err)
	}
	c := newWireCodec(DefaultMaxMessageSize)
	payload, err := c.readFrame(conn)
	if err != nil {
		t.Fatalf("reading refusal: %v", err)
	}
	var rh responseHeader
	if err := c.decoder(payload).decode(&rh); err != nil {
		t.Fatal(err)
	}
	if rh.Error == nil || rh.Error.Code != structs.CodeTooLarge {
		t.Fatalf("refusal = %+v", rh)
	}
	if _, err := io.ReadAll(conn); err != nil && isTimeout(err) {
		t.Fatal("connection left open after refusal")
	}
}

func TestCallErrors(t *testing.T) {
	p := newTestPool(t, testPoolConfig())
	// Nothing listens on this port once the listener is closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := structs.ServerAddr(ln.Addr().String())
	ln.Close()
	if err := p.Call(ctxTimeout(t, 5*time.Second), "dc1", addr, "Test.Echo", &echoArgs{}, nil); err == nil {
		t.Fatal("call to a closed port succeeded")
	}
	if st := p.Stats(); st.Sessions != 0 || st.Dialing != 0 {
		t.Fatalf("stats after failed dial: %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Call(ctx, "dc1", addr, "Test.Echo", &echoArgs{}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
}

func TestShutdownIdempotent(t *testing.T) {
	srv := startServer(t, testConfig(), newTestHandler(), "")
	p := mustPool(t, testPoolConfig(), nil)
	ctx := ctxTimeout(t, 5*time.Second)
	if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := p.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after shutdown: %v, want ErrClosed", err)
	}
	srv.stop(t)
	srv.stop(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.mux.Serve(ln); !errors.Is(err, ErrClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

func TestShutdownCancelsRunningHandlers(t *testing.T) {
	h := newTestHandler()
	srv := startServer(t, testConfig(), h, "")
	p := newTestPool(t, testPoolConfig())
	errCh := make(chan error, 1)
	go func() {
		errCh <- p.Call(ctxTimeout(t, 10*time.Second), "dc1", srv.addr, "Test.Block", &blockArgs{}, nil)
	}()
	hctx := <-h.blockCtxCh
	srv.stop(t)
	if hctx.Err() == nil {
		t.Fatal("handler ctx still live after Shutdown")
	}
	select {
	case err := <-errCh:
		if err == nil {
			t.Fatal("call succeeded though the server shut down under it")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("call hung after server shutdown")
	}
}
