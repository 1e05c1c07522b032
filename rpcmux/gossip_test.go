package rpcmux

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

// gossipSink is a Config.Gossip handler that reads one line-free
// message ("hello") and answers "ack", counting the conns it got.
type gossipSink struct {
	got atomic.Int64
}

func (g *gossipSink) handle(conn net.Conn) {
	g.got.Add(1)
	defer conn.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "hello" {
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	_, _ = conn.Write([]byte("ack"))
	_, _ = io.Copy(io.Discard, conn)
}

// exchange writes hello on conn and reads the answer: "ack" when a
// gossip handler served it, "" when the port closed it.
func exchange(t *testing.T, conn net.Conn) string {
	t.Helper()
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("hello")); err != nil {
		return ""
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return ""
	}
	return string(buf)
}

// rawProto dials addr and writes the protocol byte t in plaintext.
func rawProto(t *testing.T, addr structs.ServerAddr, p RPCType) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", string(addr), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte{byte(p)}); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGossipByteServedByHandler(t *testing.T) {
	if RPCGossip.String() != "gossip" || RPCGossip != 6 {
		t.Fatalf("RPCGossip = %d %q", RPCGossip, RPCGossip)
	}
	var sink gossipSink
	cfg := testConfig()
	cfg.Gossip = sink.handle
	srv := startServer(t, cfg, newTestHandler(), "127.0.32.1:0")
	if got := exchange(t, rawProto(t, srv.addr, RPCGossip)); got != "ack" {
		t.Fatalf("plain gossip conn answered %q, want ack", got)
	}
	// Through the pool, with DialProto.
	p := newTestPool(t, testPoolConfig())
	conn, err := p.DialProto(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, RPCGossip)
	if err != nil {
		t.Fatal(err)
	}
	if got := exchange(t, conn); got != "ack" {
		t.Fatalf("DialProto gossip conn answered %q, want ack", got)
	}
	if sink.got.Load() != 2 {
		t.Fatalf("handler got %d conns, want 2", sink.got.Load())
	}
}

func TestGossipByteRefusedWithoutHandler(t *testing.T) {
	srv := startServer(t, testConfig(), newTestHandler(), "127.0.32.1:0")
	if got := exchange(t, rawProto(t, srv.addr, RPCGossip)); got != "" {
		t.Fatalf("gossip conn without a handler answered %q, want it closed", got)
	}
}

// A gossip conn inside TLS is served; a plain one is refused when TLS is
// required, as every other plaintext protocol.
func TestGossipInsideTLS(t *testing.T) {
	tp := newTLSPair(t)
	var sink gossipSink
	cfg := tlsServerConfig(tp, true)
	cfg.Gossip = sink.handle
	// Gossip comes from servers of other datacenters: the check that a
	// Raft peer is a server of this one does not apply.
	cfg.VerifyRaftPeer = func(tls.ConnectionState) error { return errors.New("not a server of this datacenter") }
	srv := startServer(t, cfg, newTestHandler(), "127.0.32.2:0")
	if got := exchange(t, rawProto(t, srv.addr, RPCGossip)); got != "" {
		t.Fatalf("plaintext gossip with TLS required answered %q, want it closed", got)
	}
	if srv.mux.Stats().PlainRefused != 1 {
		t.Fatalf("PlainRefused = %d, want 1", srv.mux.Stats().PlainRefused)
	}
	var dcs atomic.Value
	pcfg := testPoolConfig()
	pcfg.TLS = func(dc structs.Datacenter) (*tls.Config, error) { dcs.Store(dc); return tp.client, nil }
	// Through a Dialer (a gateway's place): TLS runs end to end on its conn.
	var dials atomic.Int64
	pcfg.Dialer = func(ctx context.Context, _ structs.Datacenter, addr structs.ServerAddr) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, "tcp", string(addr))
	}
	p := newTestPool(t, pcfg)
	conn, err := p.DialProto(ctxTimeout(t, 5*time.Second), "dc7", srv.addr, RPCGossip)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := conn.(*tls.Conn); !ok {
		t.Fatalf("DialProto with TLS returned %T", conn)
	}
	if got := exchange(t, conn); got != "ack" {
		t.Fatalf("gossip inside TLS answered %q, want ack", got)
	}
	if dcs.Load() != structs.Datacenter("dc7") || dials.Load() != 1 {
		t.Fatalf("TLS asked for %v, want dc7; %d dials", dcs.Load(), dials.Load())
	}
	// Calls too: a multiplexed session over TLS through the Dialer.
	if err := p.Call(ctxTimeout(t, 5*time.Second), "dc7", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil || dials.Load() != 2 {
		t.Fatalf("call over TLS through the Dialer: %v (%d dials)", err, dials.Load())
	}
	// VerifyGossipPeer refusing the peer's certificate closes the conn.
	cfg.VerifyGossipPeer = func(tls.ConnectionState) error { return errors.New("a client certificate") }
	strict := startServer(t, cfg, newTestHandler(), "127.0.32.2:0")
	sconn, err := p.DialProto(ctxTimeout(t, 5*time.Second), "dc7", strict.addr, RPCGossip)
	if err != nil {
		t.Fatal(err)
	}
	if got := exchange(t, sconn); got != "" {
		t.Fatalf("gossip from a refused peer answered %q, want it closed", got)
	}
	if n := sink.got.Load(); n != 1 {
		t.Fatalf("handler got %d conns, want 1", n)
	}
}

// Shutdown closes a gossip conn its handler still holds, and a handler
// blocked elsewhere learns it from Closed and returns, so that Shutdown
// does not wait out its ctx.
func TestGossipConnClosedOnShutdown(t *testing.T) {
	held := make(chan net.Conn, 1)
	cfg := testConfig()
	cfg.Gossip = func(c net.Conn) {
		held <- c
		cn, ok := c.(interface{ Closed() <-chan struct{} })
		if !ok {
			t.Errorf("gossip conn %T has no Closed", c)
			return
		}
		<-cn.Closed() // as a handler stuck delivering would wait
	}
	srv := startServer(t, cfg, newTestHandler(), "127.0.32.1:0")
	c := rawProto(t, srv.addr, RPCGossip)
	defer c.Close()
	select {
	case <-held:
	case <-time.After(5 * time.Second):
		t.Fatal("handler not called")
	}
	t0 := time.Now()
	srv.stop(t)
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("Shutdown took %v with a handler waiting on Closed", d)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("read after Shutdown: %v, want the conn closed", err)
	}
}

// PoolConfig.Dialer opens every session and DialProto conn; the pool
// still speaks its preamble on what it returns.
func TestPoolDialerHook(t *testing.T) {
	var sink gossipSink
	cfg := testConfig()
	cfg.Gossip = sink.handle
	srv := startServer(t, cfg, newTestHandler(), "127.0.32.3:0")
	var dials atomic.Int64
	var lastDC atomic.Value
	pcfg := testPoolConfig()
	pcfg.Dialer = func(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr) (net.Conn, error) {
		dials.Add(1)
		lastDC.Store(dc)
		// The "gateway": the real server, whatever address was asked.
		return (&net.Dialer{}).DialContext(ctx, "tcp", string(srv.addr))
	}
	p := newTestPool(t, pcfg)
	ctx := ctxTimeout(t, 5*time.Second)
	var out echoArgs
	if err := p.Call(ctx, "dc2", "10.255.0.1:8300", "Test.Echo", &echoArgs{S: "via"}, &out); err != nil {
		t.Fatal(err)
	}
	if out.S != "via" || dials.Load() != 1 || lastDC.Load() != structs.Datacenter("dc2") {
		t.Fatalf("reply %q, dials %d, dc %v", out.S, dials.Load(), lastDC.Load())
	}
	conn, err := p.DialProto(ctx, "dc2", "10.255.0.1:8300", RPCGossip)
	if err != nil {
		t.Fatal(err)
	}
	if got := exchange(t, conn); got != "ack" || dials.Load() != 2 {
		t.Fatalf("DialProto answered %q after %d dials", got, dials.Load())
	}
	// A failing dialer fails the call as unreachable, without falling
	// back to a direct dial.
	pcfg.Dialer = func(context.Context, structs.Datacenter, structs.ServerAddr) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Err: io.ErrUnexpectedEOF}
	}
	p2 := newTestPool(t, pcfg)
	if err := p2.Call(ctx, "dc2", srv.addr, "Test.Echo", &echoArgs{}, nil); err == nil {
		t.Fatal("call through a failing dialer succeeded")
	}
	if _, err := p2.DialProto(ctx, "dc2", srv.addr, RPCGossip); err == nil {
		t.Fatal("DialProto through a failing dialer succeeded")
	}
	// ErrDialDirect hands the address back to the pool's own dial.
	pcfg.Dialer = func(context.Context, structs.Datacenter, structs.ServerAddr) (net.Conn, error) {
		return nil, ErrDialDirect
	}
	p3 := newTestPool(t, pcfg)
	if err := p3.Call(ctx, "dc1", srv.addr, "Test.Echo", &echoArgs{S: "direct"}, &out); err != nil || out.S != "direct" {
		t.Fatalf("call through ErrDialDirect: %q, %v", out.S, err)
	}
}

// LimitExempt lifts MaxConnsPerClient for the IPs it names; they still
// count as open connections.
func TestLimitExempt(t *testing.T) {
	const gw, other = "127.0.32.11", "127.0.32.12"
	cfg := testConfig()
	cfg.HandshakeTimeout = time.Minute
	cfg.MaxConnsPerClient = 2
	cfg.MaxConnsPerExemptClient = 6
	cfg.LimitExempt = func(ip net.IP) bool { return ip.Equal(net.ParseIP(gw)) }
	srv := startServer(t, cfg, newTestHandler(), "127.0.32.10:0")
	dialFrom := func(ip string) net.Conn {
		t.Helper()
		c, err := dialer(net.ParseIP(ip), 5*time.Second).Dial("tcp", string(srv.addr))
		if err != nil {
			t.Fatalf("dial from %s: %v", ip, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	for range 5 {
		dialFrom(gw)
	}
	dialFrom(other)
	dialFrom(other)
	testutil.WaitFor(t, 5*time.Second, "7 connections open", func() bool { return srv.mux.Stats().Conns == 7 })
	over := dialFrom(other)
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := over.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("3rd connection from %s: %v; want it closed", other, err)
	}
	if srv.mux.Stats().ConnsRejected != 1 {
		t.Fatalf("ConnsRejected = %d, want 1", srv.mux.Stats().ConnsRejected)
	}
	// The exempt IP still gets calls served (its 6th connection).
	pcfg := testPoolConfig()
	pcfg.SourceAddr = net.ParseIP(gw)
	if err := newTestPool(t, pcfg).Call(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		t.Fatalf("call from exempt %s: %v", gw, err)
	}
	// ... up to its own, larger cap.
	overExempt := dialFrom(gw)
	_ = overExempt.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := overExempt.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("7th connection from exempt %s: %v; want it closed", gw, err)
	}
	if srv.mux.Stats().ConnsRejected != 2 {
		t.Fatalf("ConnsRejected = %d, want 2", srv.mux.Stats().ConnsRejected)
	}
	// The default: 16 × MaxConnsPerClient; unlimited only when that is.
	if c := (Config{MaxConnsPerClient: 100}); c.exemptCap() != 1600 {
		t.Fatalf("default exempt cap %d, want 1600", c.exemptCap())
	}
	if c := (Config{}); c.exemptCap() != 0 {
		t.Fatalf("exempt cap with unlimited clients %d, want 0", c.exemptCap())
	}
}

// With MinDialTime, a caller with a short deadline does not cut the dial
// it starts shorter than that: a slow path (a hung gateway passed over
// after a second) comes up for the callers after it, in one dial.
func TestDialOutlivesShortCaller(t *testing.T) {
	srv := startServer(t, testConfig(), newTestHandler(), "127.0.32.4:0")
	var dials atomic.Int64
	pcfg := testPoolConfig()
	pcfg.Dialer = func(ctx context.Context, _ structs.Datacenter, _ structs.ServerAddr) (net.Conn, error) {
		dials.Add(1)
		select { // the slow path
		case <-time.After(400 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return (&net.Dialer{}).DialContext(ctx, "tcp", string(srv.addr))
	}
	pcfg.MinDialTime = func(structs.Datacenter) time.Duration { return 2 * time.Second }
	p := newTestPool(t, pcfg)
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Call(short, "dc2", "10.255.0.2:8300", "Test.Echo", &echoArgs{S: "x"}, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("short caller: %v", err)
	}
	var out echoArgs
	if err := p.Call(ctxTimeout(t, 5*time.Second), "dc2", "10.255.0.2:8300", "Test.Echo", &echoArgs{S: "later"}, &out); err != nil || out.S != "later" {
		t.Fatalf("later caller: %q, %v", out.S, err)
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d dials, want the short caller's one to serve the later caller", n)
	}
}
