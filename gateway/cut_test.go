package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"consulate/chaos/netfault"
	"consulate/internal/testutil"
)

// Addresses of these tests: 127.0.38.x.

// cutDCs is dc1 (gateway .21) and dc2 (gateway .31, server .12), with a
// Dialer from .10 through the dc1 gateway.
func cutDCs(t *testing.T) (a, b *Gateway, srv *echoServer, d *Dialer) {
	t.Helper()
	srv = newEcho(t, "127.0.38.12")
	l2 := &fakeLocal{}
	l2.addServer("s2", srv.addr())
	b = startGW(t, testConfig("dc2", "127.0.38.31", l2))
	a = startGW(t, testConfig("dc1", "127.0.38.21", &fakeLocal{}, b.Advertise()))
	waitRoute(t, a, "dc2", "", b.Advertise())
	d, err := NewDialer(DialerConfig{Source: net.ParseIP("127.0.38.10"),
		Gateways: func() []string { return []string{a.Advertise()} }, DialTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return a, b, srv, d
}

// openConn dials dc2's server through the gateways and checks one echo.
func openConn(t *testing.T, d *Dialer, srv *echoServer) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, "dc2", srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q, %v", buf, err)
	}
	return c
}

// waitClosed expects c to end (EOF or an error other than its deadline)
// within limit.
func waitClosed(t *testing.T, c net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(limit))
	_, err := c.Read(make([]byte, 16))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("conn still open after %v (read: %v)", time.Since(start), err)
	}
	return time.Since(start)
}

// A splice through a next hop the routing table marks down is closed at
// once, both ways, so the client redials through another path.
func TestSpliceClosedWhenNextHopMarkedDown(t *testing.T) {
	a, b, srv, d := cutDCs(t)
	c := openConn(t, d, srv)
	c2 := openConn(t, d, srv)
	a.table.suspect(b.Advertise())
	a.table.suspect(b.Advertise()) // downAfter failures: down
	waitClosed(t, c, 2*time.Second)
	waitClosed(t, c2, 2*time.Second)
	left := a.via.hops()
	if left != 0 {
		t.Errorf("%d next hops still hold splices", left)
	}
	testutil.WaitFor(t, 2*time.Second, "splices ended", func() bool { return a.Stats().Open == 0 })
}

// The same with the next hop's host gone (its packets dropped): the
// probes fail, the table marks it down within two probe intervals and
// the splice through it ends, where TCP alone would go on for minutes.
func TestSpliceClosedWhenNextHopHostGone(t *testing.T) {
	netfault.Require(t)
	_, b, srv, d := cutDCs(t)
	c := openConn(t, d, srv)
	nf, err := netfault.New("fxpath_cut")
	if err != nil {
		t.Fatal(err)
	}
	defer nf.Close()
	if err := nf.Drop("127.0.38.21", "127.0.38.31"); err != nil {
		t.Fatal(err)
	}
	// The client keeps writing, as a gossip pipe does: the writes land in
	// kernel buffers and succeed.
	if _, err := c.Write([]byte("into the void")); err != nil {
		t.Fatal(err)
	}
	el := waitClosed(t, c, 3*time.Second)
	t.Logf("splice through %s closed %v after the cut", b.Advertise(), el)
}

// Dialer.CloseVia closes the connections through one local gateway and
// no other; a connection closed by its owner is forgotten.
func TestDialerCloseVia(t *testing.T) {
	_, _, srv, d := cutDCs(t)
	c1 := openConn(t, d, srv)
	c2 := openConn(t, d, srv)
	c3 := openConn(t, d, srv)
	c3.Close()
	if n := d.CloseVia("127.0.38.99:8443"); n != 0 {
		t.Fatalf("closed %d through an unknown gateway", n)
	}
	gw := d.cfg.Gateways()[0]
	if n := d.CloseVia(gw); n != 2 {
		t.Fatalf("closed %d, want 2", n)
	}
	waitClosed(t, c1, time.Second)
	waitClosed(t, c2, time.Second)
	left := d.via.hops()
	if left != 0 {
		t.Fatalf("dialer still tracks %d gateways", left)
	}
	// New dials work and are tracked again.
	openConn(t, d, srv)
	if n := d.CloseVia(gw); n != 1 {
		t.Fatalf("closed %d, want 1", n)
	}
}

// A local gateway whose connect hangs (its host gone) is blamed even when
// the caller's deadline ends first, so the next dial tries another
// gateway first; while another gateway remains, a hanging connect moves
// on to it after slowConnectAfter.
func TestDialerBlamesHangingConnect(t *testing.T) {
	netfault.Require(t)
	ln, err := net.Listen("tcp", "127.0.38.22:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	gone, other := ln.Addr().String(), "127.0.38.23:8443"
	nf, err := netfault.New("fxpath_dialer")
	if err != nil {
		t.Fatal(err)
	}
	defer nf.Close()
	if err := nf.Drop("127.0.38.10", "127.0.38.22"); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	gws := []string{gone}
	d, err := NewDialer(DialerConfig{Source: net.ParseIP("127.0.38.10"), DialTimeout: time.Second,
		Gateways: func() []string { mu.Lock(); defer mu.Unlock(); return gws }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	if _, err := d.Dial(ctx, "dc2", ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial: %v, want the caller's deadline", err)
	}
	mu.Lock()
	gws = []string{gone, other}
	mu.Unlock()
	if got := d.order(); got[0] != other {
		t.Fatalf("order %v: the hanging gateway still first", got)
	}
	d.succeeded(other)
	d.succeeded(gone) // forget: gone is first again
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	start := time.Now()
	_, err = d.Dial(ctx2, "dc2", "")
	if el := time.Since(start); el > slowConnectAfter+500*time.Millisecond {
		t.Errorf("moved on after %v", el)
	}
	if err == nil || !strings.Contains(err.Error(), gone) || !strings.Contains(err.Error(), other) {
		t.Fatalf("dial: %v, want both gateways tried", err)
	}
}
