package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"consulate/chaos/netfault"
	"consulate/internal/testutil"
)

// twoDCs is dc1 (gateway .21) and dc2 (gateway .31, server .12).
func twoDCs(t testing.TB) (a, b *Gateway, srv *echoServer, l2 *fakeLocal) {
	t.Helper()
	srv = newEcho(t, "127.0.31.12")
	l2 = &fakeLocal{}
	l2.addServer("s2", srv.addr())
	b = startGW(t, testConfig("dc2", "127.0.31.31", l2))
	a = startGW(t, testConfig("dc1", "127.0.31.21", &fakeLocal{}, b.Advertise()))
	waitRoute(t, a, "dc2", "", b.Advertise())
	return a, b, srv, l2
}

func TestConnThroughTwoGateways(t *testing.T) {
	a, b, srv, _ := twoDCs(t)
	d := newDialer(t, a.Advertise())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	c, err := d.Dial(ctx, "dc2", srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echoCheck(t, c, strings.Repeat("hello through two gateways ", 5000))

	// The server saw the destination gateway's bind IP, and each gateway
	// counted its part.
	if got := srv.seen(); !slices.Equal(got, []string{"127.0.31.31"}) {
		t.Errorf("server saw %v, want the dc2 gateway's IP", got)
	}
	testutil.WaitFor(t, 2*time.Second, "splices closed", func() bool {
		return a.Stats().Open == 0 && b.Stats().Open == 0
	})
	if s := a.Stats(); s.Forwarded != 1 || s.Local != 0 {
		t.Errorf("dc1 gateway stats %+v", s)
	}
	if s := b.Stats(); s.Local != 1 || s.Forwarded != 0 {
		t.Errorf("dc2 gateway stats %+v", s)
	}

	// Addr "" is any alive server; DC "" the local gateway's own DC has
	// no server here.
	c2, err := d.Dial(ctx, "dc2", "")
	if err != nil {
		t.Fatal(err)
	}
	echoCheck(t, c2, "any server")
	c2.Close()
}

// Bytes a client writes before the status wait in the kernel until the
// path is up, and arrive after it.
func TestEarlyBytesArriveAfterThePath(t *testing.T) {
	a, _, srv, _ := twoDCs(t)
	c := rawDial(t, a.Advertise())
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := WriteHeader(c, &Header{Kind: KindConn, DC: "dc2", Addr: srv.addr()}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("early")); err != nil {
		t.Fatal(err)
	}
	st, err := ReadStatus(c)
	if err != nil || !st.OK {
		t.Fatalf("status %+v, %v", st, err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "early" {
		t.Fatalf("echo %q, %v", buf, err)
	}
}

func TestRefusals(t *testing.T) {
	a, b, srv, l2 := twoDCs(t)
	d := newDialer(t, a.Advertise())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	refused := func(dc, addr, want string) {
		t.Helper()
		c, err := d.Dial(ctx, dc, addr)
		if err == nil {
			c.Close()
			t.Fatalf("dial %s %s: no error", dc, addr)
		}
		var re *RefusedError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), want) {
			t.Fatalf("dial %s %s: %v, want a refusal with %q", dc, addr, err, want)
		}
	}
	refused("dc2", "127.0.31.99:8300", "gateway "+b.Advertise()+": 127.0.31.99:8300 is not a server of dc2")
	refused("dc9", "", "gateway "+a.Advertise()+`: no route to datacenter "dc9"`)
	refused("dc1", "", "gateway "+a.Advertise()+": no alive server of dc1")
	l2.setAlive(srv.addr(), false)
	refused("dc2", srv.addr(), "is not alive")
	refused("dc2", "", "no alive server of dc2")

	// Hops: a header that has been through MaxHops gateways is refused.
	c := rawDial(t, b.Advertise())
	c.SetDeadline(time.Now().Add(5 * time.Second))
	WriteHeader(c, &Header{Kind: KindConn, DC: "dc2", Hops: MaxHops})
	st, err := ReadStatus(c)
	if err != nil || st.OK || !strings.Contains(st.Error, "too many hops") {
		t.Fatalf("hops: %+v, %v", st, err)
	}
	if len(srv.seen()) != 0 {
		t.Errorf("server was dialled: %v", srv.seen())
	}
}

// A gateway drops a client that sends garbage or nothing, after the
// handshake timeout at most, and answers a too large header with an
// error.
func TestBadClients(t *testing.T) {
	cfg := testConfig("dc1", "127.0.31.21", &fakeLocal{})
	cfg.HandshakeTimeout = 600 * time.Millisecond
	g := startGW(t, cfg)
	dial := func() net.Conn {
		c := rawDial(t, g.Advertise())
		c.SetDeadline(time.Now().Add(3 * time.Second))
		return c
	}
	closedWithin := func(c net.Conn, d time.Duration) {
		t.Helper()
		start := time.Now()
		if _, err := io.ReadAll(c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read: %v", err)
		}
		if el := time.Since(start); el > d {
			t.Fatalf("closed after %v, want within %v", el, d)
		}
	}
	// Silent, and slow (half a header): dropped after the timeout, at
	// once for garbage (nothing answered).
	c1 := dial()
	c2 := dial()
	c2.Write([]byte("CGW1\x00\x10{"))
	c3 := dial()
	c3.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	closedWithin(c3, 400*time.Millisecond)
	closedWithin(c1, 2*time.Second)
	closedWithin(c2, 100*time.Millisecond)
	// Too large.
	c := dial()
	c.Write(binary.BigEndian.AppendUint16([]byte(Magic), MaxHeaderLen+1))
	st, err := ReadStatus(c)
	if err != nil || st.OK || !strings.Contains(st.Error, "header too large") {
		t.Fatalf("too large: %+v, %v", st, err)
	}
	// Not JSON.
	c = dial()
	c.Write(append(binary.BigEndian.AppendUint16([]byte(Magic), 3), "{{{"...))
	st, err = ReadStatus(c)
	if err != nil || st.OK || !strings.Contains(st.Error, "bad header") {
		t.Fatalf("bad JSON: %+v, %v", st, err)
	}
	if s := g.Stats(); s.Refused != 5 {
		t.Errorf("refused %d, want 5", s.Refused)
	}
}

func TestInfo(t *testing.T) {
	srv := newEcho(t, "127.0.31.12")
	l2 := &fakeLocal{}
	l2.addServer("s2", srv.addr())
	l2.setGateways("127.0.31.32:8443") // a second gateway of dc2 (not running)
	b := startGW(t, testConfig("dc2", "127.0.31.31", l2))
	// a knows no peer: the info through it names b as Next, which only
	// a local server (the test client's IP) may do.
	l1 := &fakeLocal{}
	l1.addServer("s1", net.JoinHostPort(ipClient, "8300"))
	a := startGW(t, testConfig("dc1", "127.0.31.21", l1))
	d := newDialer(t, a.Advertise())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	info, err := d.Info(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if info.DC != "dc1" || !slices.Equal(info.Gateways, []string{a.Advertise()}) || len(info.Servers) != 1 {
		t.Fatalf("local info %+v", info)
	}
	info, err = d.Info(ctx, b.Advertise())
	if err != nil {
		t.Fatal(err)
	}
	want := []InfoServer{{Name: "s2", Addr: srv.addr()}}
	if info.DC != "dc2" || !slices.Equal(info.Servers, want) ||
		!slices.Equal(info.Gateways, []string{b.Advertise(), "127.0.31.32:8443"}) {
		t.Fatalf("remote info %+v", info)
	}
	// a learned b (the join path) and routes dc2 through it.
	waitRoute(t, a, "dc2", "", b.Advertise())
	c, err := d.Dial(ctx, "dc2", srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	echoCheck(t, c, "after join")
	c.Close()
	local, rs, err := d.Routes(ctx)
	if err != nil || local != a.Advertise() || len(rs) != 1 || rs[0].DC != "dc2" || rs[0].Gateways[0] != b.Advertise() {
		t.Fatalf("routes from %q: %+v, %v", local, rs, err)
	}
	// Next is honoured only on the first hop: a header that arrives with
	// Hops 1 is answered by the gateway reached.
	raw := rawDial(t, a.Advertise())
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	WriteHeader(raw, &Header{Kind: KindInfo, Next: b.Advertise(), Hops: 1})
	st, err := ReadStatus(raw)
	if err != nil || st.Info == nil || st.Info.DC != "dc1" {
		t.Fatalf("info with hops 1: %+v, %v", st, err)
	}
}

// Hub and spoke: dc2 and dc3 reach each other only through dc1's
// gateway (nftables cuts the spokes apart), so dc2 → dc3 goes via dc1.
func TestHubAndSpoke(t *testing.T) {
	netfault.Require(t)
	nf, err := netfault.New("gateway_hub")
	if err != nil {
		t.Fatal(err)
	}
	defer nf.Close()
	if err := nf.Partition([]string{"127.0.31.31", "127.0.31.12"}, []string{"127.0.31.41", "127.0.31.13"}); err != nil {
		t.Fatal(err)
	}

	srv3 := newEcho(t, "127.0.31.13")
	l3 := &fakeLocal{}
	l3.addServer("s3", srv3.addr())
	hub := startGW(t, testConfig("dc1", "127.0.31.21", &fakeLocal{}))
	s2 := startGW(t, testConfig("dc2", "127.0.31.31", &fakeLocal{}, hub.Advertise()))
	s3 := startGW(t, testConfig("dc3", "127.0.31.41", l3, hub.Advertise()))

	// The hub learns both spokes from their probes and reaches both; each
	// spoke learns the other from the hub's advert but cannot probe it.
	waitRoute(t, hub, "dc3", "", s3.Advertise())
	waitRoute(t, s2, "dc3", "dc1", hub.Advertise())
	for _, r := range s2.Routes() {
		if r.DC == "dc3" && slices.Contains(r.Gateways, s3.Advertise()) {
			t.Fatalf("dc2 routes dc3 directly through a gateway it cannot reach: %+v", r)
		}
	}

	d := newDialer(t, s2.Advertise())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, "dc3", srv3.addr())
	if err != nil {
		t.Fatal(err)
	}
	echoCheck(t, c, "spoke to spoke")
	c.Close()
	if hub.Stats().Forwarded != 1 || s2.Stats().Forwarded != 1 || s3.Stats().Local != 1 {
		t.Fatalf("stats: hub %+v, dc2 %+v, dc3 %+v", hub.Stats(), s2.Stats(), s3.Stats())
	}
	if got := srv3.seen(); !slices.Equal(got, []string{"127.0.31.41"}) {
		t.Errorf("dc3 server saw %v", got)
	}
}

// Two gateways in dc2: when one dies, new conns go through the other at
// once, and the table marks it down within two probe intervals. Two
// gateways in dc1: the Dialer fails over between them.
func TestGatewayFailover(t *testing.T) {
	srv := newEcho(t, "127.0.31.12")
	l2 := &fakeLocal{}
	l2.addServer("s2", srv.addr())
	b1 := startGW(t, testConfig("dc2", "127.0.31.31", l2))
	b2 := startGW(t, testConfig("dc2", "127.0.31.32", l2))
	l2.setGateways(b1.Advertise(), b2.Advertise())
	l1 := &fakeLocal{}
	a1 := startGW(t, testConfig("dc1", "127.0.31.21", l1, b1.Advertise()))
	a2 := startGW(t, testConfig("dc1", "127.0.31.22", l1, b2.Advertise()))
	l1.setGateways(a1.Advertise(), a2.Advertise())
	for _, a := range []*Gateway{a1, a2} {
		testutil.WaitForErr(t, 5*time.Second, "both dc2 gateways routed", func() error {
			for _, r := range a.Routes() {
				if r.DC == "dc2" && len(r.Gateways) == 2 {
					return nil
				}
			}
			return errors.New(routesString(a.Routes()))
		})
	}
	d := newDialer(t, a1.Advertise(), a2.Advertise())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Kill whichever dc2 gateway a1 tries first.
	first := a1.Routes()[0].Gateways[0]
	dead, alive := b1, b2
	if first == b2.Advertise() {
		dead, alive = b2, b1
	}
	shutdown(t, dead)
	start := time.Now()
	c, err := d.Dial(ctx, "dc2", srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	echoCheck(t, c, "failover")
	c.Close()
	if el := time.Since(start); el > time.Second {
		t.Errorf("failover dial took %v", el)
	}
	if alive.Stats().Local != 1 {
		t.Errorf("the surviving gateway carried %d conns", alive.Stats().Local)
	}
	// Down within two intervals (and the probes' own time).
	killed := time.Now()
	testutil.WaitForErr(t, 2*time.Second, "dead gateway out of the route", func() error {
		for _, a := range []*Gateway{a1, a2} {
			for _, r := range a.Routes() {
				if r.DC == "dc2" && slices.Contains(r.Gateways, dead.Advertise()) {
					return errors.New(routesString(a.Routes()))
				}
			}
		}
		return nil
	})
	if el := time.Since(killed); el > 3*a1.cfg.ProbeInterval+500*time.Millisecond {
		t.Errorf("marked down after %v", el)
	}

	// A dead local gateway: the Dialer goes on to the next one.
	shutdown(t, a1)
	c, err = d.Dial(ctx, "dc2", srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	echoCheck(t, c, "local failover")
	c.Close()
	// The next dial tries the gateway that worked first.
	if got := d.order(); got[0] != a2.Advertise() {
		t.Errorf("dialer order %v", got)
	}
	// Every local gateway dead: the error names each.
	shutdown(t, a2)
	_, err = d.Dial(ctx, "dc2", srv.addr())
	if err == nil || !strings.Contains(err.Error(), a1.Advertise()) || !strings.Contains(err.Error(), a2.Advertise()) {
		t.Fatalf("all dead: %v", err)
	}
	if _, err := newDialer(t).Dial(ctx, "dc2", ""); !errors.Is(err, ErrNoGateway) {
		t.Fatalf("no gateways: %v", err)
	}
}

// Shutdown closes live splices and returns promptly.
func TestShutdownWithLiveSplices(t *testing.T) {
	a, b, srv, _ := twoDCs(t)
	d := newDialer(t, a.Advertise())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var conns []net.Conn
	for range 3 {
		c, err := d.Dial(ctx, "dc2", srv.addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("x"))
		conns = append(conns, c)
	}
	testutil.WaitFor(t, 2*time.Second, "splices open", func() bool { return a.Stats().Open == 3 && b.Stats().Open == 3 })
	start := time.Now()
	shutdown(t, a)
	if el := time.Since(start); el > time.Second {
		t.Errorf("shutdown took %v", el)
	}
	for _, c := range conns {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadAll(c); err != nil && !errors.Is(err, net.ErrClosed) {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("client conn still open after shutdown")
			}
		}
	}
	shutdown(t, a) // idempotent
	if err := a.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Errorf("start after shutdown: %v", err)
	}
}

func TestIdleTimeout(t *testing.T) {
	srv := newEcho(t, "127.0.31.12")
	l2 := &fakeLocal{}
	l2.addServer("s2", srv.addr())
	cfg := testConfig("dc2", "127.0.31.31", l2)
	cfg.IdleTimeout = 300 * time.Millisecond
	b := startGW(t, cfg)
	d := newDialer(t, b.Advertise())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, "dc2", srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Traffic keeps it open past the idle timeout...
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1)
	for range 6 {
		if _, err := c.Write([]byte("p")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // pacing the traffic, not waiting for a state
	}
	// ...silence closes it.
	start := time.Now()
	if _, err := io.ReadAll(c); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("idle close after %v", el)
	}
}

func TestMaxConns(t *testing.T) {
	cfg := testConfig("dc1", "127.0.31.21", &fakeLocal{})
	cfg.MaxConns = 1
	g := startGW(t, cfg)
	rawDial(t, g.Advertise())
	testutil.WaitFor(t, 2*time.Second, "first conn accepted", func() bool { return g.Stats().Accepted == 1 })
	c := rawDial(t, g.Advertise())
	c.SetDeadline(time.Now().Add(2 * time.Second))
	st, err := ReadStatus(c)
	if err != nil || st.OK || !strings.Contains(st.Error, "too many connections") {
		t.Fatalf("%+v, %v", st, err)
	}
}

func TestConfigValidate(t *testing.T) {
	l := &fakeLocal{}
	for name, mut := range map[string]func(*Config){
		"no dc":        func(c *Config) { c.Datacenter = "" },
		"no bind":      func(c *Config) { c.BindAddr = nil },
		"any no adv":   func(c *Config) { c.BindAddr = net.IPv4zero },
		"port":         func(c *Config) { c.Port = 70000 },
		"interval":     func(c *Config) { c.ProbeInterval = 0 },
		"dial":         func(c *Config) { c.DialTimeout = 0 },
		"handshake":    func(c *Config) { c.HandshakeTimeout = 0 },
		"idle":         func(c *Config) { c.IdleTimeout = 0 },
		"maxconns":     func(c *Config) { c.MaxConns = 0 },
		"local":        func(c *Config) { c.Local = nil },
		"bad peer":     func(c *Config) { c.Peers = []string{"nope"} },
		"bad advertis": func(c *Config) { c.Advertise = "nope" },
	} {
		cfg := testConfig("dc1", "127.0.31.21", l)
		mut(cfg)
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := testConfig("dc1", "127.0.31.21", l).Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDialer(DialerConfig{DialTimeout: time.Second}); !errors.Is(err, ErrInvalidDialerConfig) {
		t.Errorf("dialer without gateways: %v", err)
	}
}

// A gateway whose host is gone (packets dropped, so dials time out rather
// than being refused): new conns reach the other gateway of its DC after
// one dial timeout, and the table marks it down within two intervals.
func TestGatewayHostGone(t *testing.T) {
	netfault.Require(t)
	srv := newEcho(t, "127.0.31.12")
	l2 := &fakeLocal{}
	l2.addServer("s2", srv.addr())
	b1 := startGW(t, testConfig("dc2", "127.0.31.31", l2))
	b2 := startGW(t, testConfig("dc2", "127.0.31.32", l2))
	l2.setGateways(b1.Advertise(), b2.Advertise())
	a := startGW(t, testConfig("dc1", "127.0.31.21", &fakeLocal{}, b1.Advertise()))
	testutil.WaitForErr(t, 5*time.Second, "both dc2 gateways routed", func() error {
		if rs := a.Routes(); len(rs) == 1 && len(rs[0].Gateways) == 2 {
			return nil
		}
		return errors.New(routesString(a.Routes()))
	})
	gone, other := b1, b2
	if a.Routes()[0].Gateways[0] == b2.Advertise() {
		gone, other = b2, b1
	}
	goneIP := gone.Addr().(*net.TCPAddr).IP.String()
	nf, err := netfault.New("gateway_gone")
	if err != nil {
		t.Fatal(err)
	}
	defer nf.Close()
	if err := nf.Drop("127.0.31.21", goneIP); err != nil {
		t.Fatal(err)
	}
	d := newDialer(t, a.Advertise())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	c, err := d.Dial(ctx, "dc2", srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	echoCheck(t, c, "around a lost host")
	c.Close()
	if el := time.Since(start); el > a.cfg.DialTimeout+500*time.Millisecond {
		t.Errorf("dial took %v", el)
	}
	if other.Stats().Local != 1 || gone.Stats().Local != 0 {
		t.Errorf("conns: other %+v, gone %+v", other.Stats(), gone.Stats())
	}
	testutil.WaitForErr(t, 2*time.Second, "lost gateway out of the route", func() error {
		if rs := a.Routes(); len(rs) == 1 && slices.Equal(rs[0].Gateways, []string{other.Advertise()}) {
			return nil
		}
		return errors.New(routesString(a.Routes()))
	})
}

// A next hop that accepts and never answers: the local gateway gives up on
// it and says so before the client gives up on the local gateway.
func TestSilentNextHop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.31.33:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				<-done
				c.Close()
			}()
		}
	}()
	l1 := &fakeLocal{}
	l1.addServer("s1", net.JoinHostPort(ipClient, "8300"))
	cfg := testConfig("dc1", "127.0.31.21", l1)
	cfg.HandshakeTimeout = 300 * time.Millisecond
	a := startGW(t, cfg)
	d := newDialer(t, a.Advertise())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err = d.Info(ctx, ln.Addr().String())
	var re *RefusedError
	if !errors.As(err, &re) || !errors.Is(err, ErrNotGateway) || errors.Is(err, ErrNextUnreachable) ||
		!strings.Contains(err.Error(), "next gateway "+ln.Addr().String()+" did not answer as a gateway") {
		t.Fatalf("info through a silent gateway: %v", err)
	}
	if el, want := time.Since(start), a.statusWait(0); el < want || el > want+time.Second {
		t.Errorf("refused after %v, want about %v", el, want)
	}
}

// Eight datacenters whose gateways each know only the first one's: every
// gateway learns every other from the adverts and routes each directly.
func TestMeshLearnedFromOnePeer(t *testing.T) {
	const n = 8
	var gws []*Gateway
	for i := range n {
		var peers []string
		if i > 0 {
			peers = []string{gws[0].Advertise()}
		}
		cfg := testConfig(fmt.Sprintf("dc%d", i+1), fmt.Sprintf("127.0.31.%d", 60+i), &fakeLocal{}, peers...)
		cfg.ProbeInterval = 200 * time.Millisecond
		gws = append(gws, startGW(t, cfg))
	}
	testutil.WaitForErr(t, 10*time.Second, "full mesh", func() error {
		for _, g := range gws {
			rs := g.Routes()
			direct := 0
			for _, r := range rs {
				if r.Via == "" && len(r.Gateways) == 1 {
					direct++
				}
			}
			if direct != n-1 {
				return fmt.Errorf("%s: %s", g.Advertise(), routesString(rs))
			}
		}
		return nil
	})
}
