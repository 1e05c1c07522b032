package rpcmux

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"consulate/internal/testutil"
	"consulate/structs"
)

// holdCalls starts n calls of method that stay in the handler until
// h.release is closed, and returns a func that waits for them and reports
// their errors.
func holdCalls(t *testing.T, p *Pool, addr structs.ServerAddr, method structs.Method, args any, n int) func() {
	t.Helper()
	ctx := ctxTimeout(t, 30*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() { errs <- p.Call(ctx, "dc1", addr, method, args, nil) })
	}
	return func() {
		t.Helper()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	}
}

// Calls never wait for a free stream: with hundreds parked in the
// handler, one more still runs at once. (The pool used to cap a session
// at 64 calls and make the rest wait.)
func TestCallsNeverQueueForStreams(t *testing.T) {
	h := newTestHandler()
	srv := startServer(t, testConfig(), h, "")
	p := newTestPool(t, testPoolConfig())
	wait := holdCalls(t, p, srv.addr, "Test.Hold", &blockArgs{}, 300)
	testutil.WaitFor(t, 10*time.Second, "300 calls in the handler", func() bool { return h.inFlight.Load() == 300 })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out echoArgs
	if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &echoArgs{S: "through"}, &out); err != nil || out.S != "through" {
		t.Fatalf("call beside 300 held ones: %v %+v", err, out)
	}
	close(h.release)
	wait()
}

// Blocking queries run on a session of their own, so they never share a
// session (its stream cap, its TCP connection) with short calls.
func TestBlockingQueriesGetTheirOwnSession(t *testing.T) {
	h := newTestHandler()
	srv := startServer(t, testConfig(), h, "")
	p := newTestPool(t, testPoolConfig())
	q := &holdQuery{QueryOptions: structs.QueryOptions{MinQueryIndex: 7, MaxQueryTime: time.Minute}}
	wait := holdCalls(t, p, srv.addr, "Test.HoldQuery", q, 200)
	testutil.WaitFor(t, 10*time.Second, "200 blocking queries in the handler", func() bool { return h.inFlight.Load() == 200 })
	if err := p.Call(ctxTimeout(t, 2*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Sessions != 2 || st.BlockingSessions != 1 {
		t.Fatalf("stats %+v, want 2 sessions, 1 of them for blocking queries", st)
	}
	if got := srv.ln.accepted.Load(); got != 2 {
		t.Fatalf("server accepted %d connections, want 2", got)
	}
	// A read without MinQueryIndex is a short call.
	if laneOf(&holdQuery{}) != laneShort || laneOf(q) != laneBlocking || laneOf(&echoArgs{}) != laneShort {
		t.Fatal("laneOf misclassifies")
	}
	close(h.release)
	wait()
}

// A session holding MaxCallsPerSession calls makes the pool open another.
func TestPoolOpensAnotherSessionWhenFull(t *testing.T) {
	h := newTestHandler()
	srv := startServer(t, testConfig(), h, "")
	cfg := testPoolConfig()
	cfg.MaxCallsPerSession = 5
	p := newTestPool(t, cfg)
	wait := holdCalls(t, p, srv.addr, "Test.Hold", &blockArgs{}, 12)
	testutil.WaitFor(t, 10*time.Second, "12 calls in the handler", func() bool { return h.inFlight.Load() == 12 })
	if got := srv.ln.accepted.Load(); got != 3 {
		t.Fatalf("server accepted %d connections for 12 calls at 5 per session, want 3", got)
	}
	close(h.release)
	wait()
}

// The server refuses a stream beyond MaxStreamsPerSession with
// ErrTooManyStreams, without running it, and serves again once a stream
// ends.
func TestServerBoundsStreamsPerSession(t *testing.T) {
	h := newTestHandler()
	cfg := testConfig()
	cfg.MaxStreamsPerSession = 4
	srv := startServer(t, cfg, h, "")
	conn, err := net.Dial("tcp", string(srv.addr))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte{byte(RPCMultiplex)}); err != nil {
		t.Fatal(err)
	}
	ys, err := yamux.Client(conn, yamuxConfig(time.Second, 2*time.Second, 16))
	if err != nil {
		t.Fatal(err)
	}
	defer ys.Close()
	c := newWireCodec(DefaultMaxMessageSize)
	call := func(method structs.Method, args any) (*yamux.Stream, error) {
		st, err := ys.OpenStream()
		if err != nil {
			return nil, err
		}
		_ = st.SetDeadline(time.Now().Add(10 * time.Second))
		return st, c.writeFrame(st, &requestHeader{Method: method, Seq: 1}, args)
	}
	answer := func(st *yamux.Stream) responseHeader {
		t.Helper()
		payload, err := c.readFrame(st)
		if err != nil {
			t.Fatalf("reading answer: %v", err)
		}
		var rh responseHeader
		if err := c.decoder(payload).decode(&rh); err != nil {
			t.Fatal(err)
		}
		return rh
	}
	var held []*yamux.Stream
	for range 4 {
		st, err := call("Test.Hold", &blockArgs{})
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, st)
	}
	testutil.WaitFor(t, 5*time.Second, "4 calls in the handler", func() bool { return h.inFlight.Load() == 4 })

	st, err := call("Test.Echo", &echoArgs{})
	if err != nil {
		t.Fatal(err)
	}
	rh := answer(st)
	if rh.Error == nil || rh.Error.Code != structs.CodeTooManyStreams || !errors.Is(fromRemote(rh.Error), ErrTooManyStreams) {
		t.Fatalf("5th stream answered %+v, want %s", rh, structs.CodeTooManyStreams)
	}
	if n := h.calls.Load(); n != 4 {
		t.Fatalf("handler ran %d calls, want 4 (the refused one must not run)", n)
	}
	if got := srv.mux.Stats().StreamsRejected; got != 1 {
		t.Fatalf("StreamsRejected = %d, want 1", got)
	}
	st.Close()

	// One held stream ends; its slot serves a new stream.
	held[0].Close()
	testutil.WaitFor(t, 5*time.Second, "3 calls in the handler", func() bool { return h.inFlight.Load() == 3 })
	testutil.WaitFor(t, 5*time.Second, "a stream slot to free up", func() bool {
		st, err := call("Test.Echo", &echoArgs{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		rh := answer(st)
		if rh.Error != nil && rh.Error.Code == structs.CodeTooManyStreams {
			return false // the slot is freed just after the handler returns
		}
		if rh.Error != nil {
			t.Fatalf("echo: %+v", rh.Error)
		}
		return true
	})
	close(h.release)
}

// A pool whose MaxCallsPerSession is above the server's cap spreads its
// calls over more sessions when refused, instead of failing them.
func TestPoolMovesOnWhenServerRefusesStream(t *testing.T) {
	h := newTestHandler()
	cfg := testConfig()
	cfg.MaxStreamsPerSession = 4
	srv := startServer(t, cfg, h, "")
	p := newTestPool(t, testPoolConfig())
	wait := holdCalls(t, p, srv.addr, "Test.Hold", &blockArgs{}, 10)
	testutil.WaitFor(t, 10*time.Second, "10 calls in the handler", func() bool { return h.inFlight.Load() == 10 })
	if got := srv.ln.accepted.Load(); got < 3 {
		t.Fatalf("server accepted %d connections, want at least 3 for 10 calls at 4 streams each", got)
	}
	close(h.release)
	wait()
}

// Connections beyond MaxConnsPerClient from one IP are closed at once,
// while another IP still connects, and a closed connection frees its slot.
func TestMaxConnsPerClient(t *testing.T) {
	const ipA, ipB = "127.0.0.55", "127.0.0.56"
	cfg := testConfig()
	cfg.HandshakeTimeout = time.Minute // the held connections send nothing
	if cfg.MaxConnsPerClient != 100 {
		t.Fatalf("default MaxConnsPerClient %d, want Consul's 100", cfg.MaxConnsPerClient)
	}
	srv := startServer(t, cfg, newTestHandler(), "127.0.0.1:0")
	dialFrom := func(ip string) net.Conn {
		t.Helper()
		d := dialer(net.ParseIP(ip), 5*time.Second)
		c, err := d.Dial("tcp", string(srv.addr))
		if err != nil {
			t.Fatalf("dial from %s: %v", ip, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var held []net.Conn
	for range 100 {
		held = append(held, dialFrom(ipA))
	}
	testutil.WaitFor(t, 10*time.Second, "100 connections open", func() bool { return srv.mux.Stats().Conns == 100 })

	over := dialFrom(ipA)
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	t0 := time.Now()
	if n, err := over.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("101st connection from %s: read %d, %v; want it closed", ipA, n, err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("101st connection closed after %v, want at once", d)
	}
	if got := srv.mux.Stats().ConnsRejected; got != 1 {
		t.Fatalf("ConnsRejected = %d, want 1", got)
	}

	// Another IP is not affected.
	pcfg := testPoolConfig()
	pcfg.SourceAddr = net.ParseIP(ipB)
	pb := newTestPool(t, pcfg)
	if err := pb.Call(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		t.Fatalf("call from %s: %v", ipB, err)
	}

	// Closing one of A's connections lets A connect again.
	held[0].Close()
	testutil.WaitFor(t, 5*time.Second, "a slot of A freed", func() bool { return srv.mux.Stats().Conns == 100 })
	pcfg.SourceAddr = net.ParseIP(ipA)
	pa := newTestPool(t, pcfg)
	if err := pa.Call(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		t.Fatalf("call from %s after a slot freed: %v", ipA, err)
	}
}

// Zero MaxConnsPerClient means no cap.
func TestMaxConnsPerClientZeroIsUnlimited(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnsPerClient = 0
	cfg.HandshakeTimeout = time.Minute
	srv := startServer(t, cfg, newTestHandler(), "")
	for range 120 {
		c, err := net.Dial("tcp", string(srv.addr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	testutil.WaitFor(t, 10*time.Second, "120 connections open", func() bool { return srv.mux.Stats().Conns == 120 })
	if got := srv.mux.Stats().ConnsRejected; got != 0 {
		t.Fatalf("ConnsRejected = %d with no cap", got)
	}
}

// The handshake deadline covers the whole preamble: a connection that
// sends its protocol byte, or part of what follows, and then stalls is
// closed at the deadline.
func TestHandshakeDeadlineCoversPreamble(t *testing.T) {
	const timeout = 300 * time.Millisecond
	cfg := testConfig()
	cfg.HandshakeTimeout = timeout
	// Keepalive would close a silent session too, later; keep it out of
	// the way so only the handshake deadline can close these.
	cfg.KeepAliveInterval = time.Minute
	srv := startServer(t, cfg, newTestHandler(), "")
	cases := []struct {
		name string
		sent []byte
	}{
		{"nothing", nil},
		{"plain byte only", []byte{byte(RPCPlain)}},
		{"plain, half a frame length", []byte{byte(RPCPlain), 0, 0}},
		{"plain, frame length without payload", []byte{byte(RPCPlain), 0, 0, 0, 40, 1, 2}},
		{"multiplex byte only", []byte{byte(RPCMultiplex)}},
		{"multiplex, part of a yamux header", []byte{byte(RPCMultiplex), 0, 1, 0, 1, 0}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", string(srv.addr))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			t0 := time.Now()
			if _, err := conn.Write(tc.sent); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := io.Copy(io.Discard, conn)
			d := time.Since(t0)
			if isTimeout(err) {
				t.Fatalf("connection still open after 5s (read %d bytes)", n)
			}
			if d < timeout-50*time.Millisecond || d > 3*time.Second {
				t.Fatalf("closed after %v, want at the %v deadline", d, timeout)
			}
			// The count follows the close by a moment.
			testutil.WaitFor(t, 2*time.Second, "the timeout counted", func() bool {
				return srv.mux.Stats().HandshakeTimeouts == uint64(i+1)
			})
		})
	}

	// A session that finished its preamble outlives the deadline.
	p := newTestPool(t, testPoolConfig())
	ctx := ctxTimeout(t, 10*time.Second)
	if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * timeout) // past the deadline: nothing to wait on but time
	if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := srv.ln.accepted.Load(); got != int64(len(cases))+1 {
		t.Fatalf("accepted %d connections, want %d: the pool's session was cut", got, len(cases)+1)
	}
}

// A plain RPC connection with no call in progress is closed after
// PlainIdleTimeout, but a long call on it is not cut off.
func TestIdlePlainConnectionClosed(t *testing.T) {
	const idle = 300 * time.Millisecond
	h := newTestHandler()
	cfg := testConfig()
	cfg.PlainIdleTimeout = idle
	srv := startServer(t, cfg, h, "")
	conn, err := net.Dial("tcp", string(srv.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := newWireCodec(DefaultMaxMessageSize)
	if _, err := conn.Write([]byte{byte(RPCPlain)}); err != nil {
		t.Fatal(err)
	}
	roundTrip := func(method structs.Method, args any) {
		t.Helper()
		if err := c.writeFrame(conn, &requestHeader{Method: method, Seq: 1}, args); err != nil {
			t.Fatal(err)
		}
		payload, err := c.readFrame(conn)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		var rh responseHeader
		if err := c.decoder(payload).decode(&rh); err != nil || rh.Error != nil {
			t.Fatalf("%s: %v %+v", method, err, rh.Error)
		}
	}

	// A call that runs for several idle timeouts completes.
	go func() {
		waitUntil := time.Now().Add(3 * idle)
		for time.Now().Before(waitUntil) && h.inFlight.Load() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Until(waitUntil))
		close(h.release)
	}()
	roundTrip("Test.Hold", &blockArgs{})
	roundTrip("Test.Echo", &echoArgs{})

	// Then silence closes the connection.
	t0 := time.Now()
	n, err := io.Copy(io.Discard, conn)
	d := time.Since(t0)
	if isTimeout(err) {
		t.Fatalf("idle plain connection still open after 10s (read %d bytes)", n)
	}
	if d < idle-50*time.Millisecond || d > 3*time.Second {
		t.Fatalf("closed after %v idle, want about %v", d, idle)
	}
	if got := srv.mux.Stats().IdleClosed; got != 1 {
		t.Fatalf("IdleClosed = %d, want 1", got)
	}
}
