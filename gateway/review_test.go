package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
)

// silentListener accepts connections and never answers; closed at the
// end of the test.
func silentListener(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-accepted
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// exchange sends h from the test client's IP and reads the status.
func exchange(t *testing.T, gw string, h *Header) *Status {
	t.Helper()
	c := rawDial(t, gw)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := WriteHeader(c, h); err != nil {
		t.Fatal(err)
	}
	st, err := ReadStatus(c)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A gateway is no open relay: a conn may not name a Next at all, an
// info only from a local server, and a Next that does not answer is
// refused without the dial's error (no port-scan oracle).
func TestNextIsNoOpenRelay(t *testing.T) {
	target := newEcho(t, "127.0.31.12")
	local := &fakeLocal{}
	a := startGW(t, testConfig("dc1", "127.0.31.21", local))

	st := exchange(t, a.Advertise(), &Header{Kind: KindConn, DC: "dc2", Next: target.addr()})
	if st.OK || !strings.Contains(st.Error, "may not name a next gateway") {
		t.Fatalf("conn with Next: %+v", st)
	}
	st = exchange(t, a.Advertise(), &Header{Kind: KindInfo, Next: target.addr()})
	if st.OK || !strings.Contains(st.Error, "only a server of dc1") {
		t.Fatalf("info with Next from a stranger: %+v", st)
	}
	if got := target.seen(); len(got) != 0 {
		t.Fatalf("the gateway dialled the target: %v", got)
	}
	// From a local server: allowed; a closed port is "unreachable" (the
	// joining server says so to its operator), a port that answers as
	// something else "did not answer as a gateway".
	local.addServer("s1", net.JoinHostPort(ipClient, "8300"))
	st = exchange(t, a.Advertise(), &Header{Kind: KindInfo, Next: "127.0.31.99:1"})
	want := "gateway " + a.Advertise() + ": next gateway 127.0.31.99:1 is unreachable: "
	if st.OK || !strings.HasPrefix(st.Error, want) || st.Code != CodeNextUnreachable {
		t.Fatalf("info with a dead Next: %+v, want %q…", st, want)
	}
	st = exchange(t, a.Advertise(), &Header{Kind: KindInfo, Next: target.addr()})
	want = "gateway " + a.Advertise() + ": next gateway " + target.addr() + " did not answer as a gateway"
	if st.OK || st.Error != want || st.Code != CodeNotGateway {
		t.Fatalf("info with a Next that is no gateway: %+v, want %q", st, want)
	}
}

// An inbound probe teaches only the prober's own addresses (host = the
// connection's remote IP), not the third parties it names.
func TestInboundProbeLearnsOnlyProber(t *testing.T) {
	a := startGW(t, testConfig("dc1", "127.0.31.21", &fakeLocal{}))
	self := net.JoinHostPort(ipClient, "8443")
	st := exchange(t, a.Advertise(), &Header{Kind: KindProbe, From: Advert{DC: "dc7",
		Gateways: []string{"127.0.31.99:8443", self},
		Direct:   []Reach{{DC: "dc8", Gateways: []string{"127.0.31.98:8443"}}}}})
	if !st.OK || st.Advert == nil {
		t.Fatalf("probe: %+v", st)
	}
	a.table.mu.Lock()
	defer a.table.mu.Unlock()
	var got []string
	for addr := range a.table.peers {
		got = append(got, addr)
	}
	if !slices.Equal(got, []string{self}) {
		t.Fatalf("learned %v, want only %s", got, self)
	}
}

// A learned gateway is a gateway of the datacenter it answers as only if
// vouched for by that datacenter (listed by one of its gateways,
// itself included).
func TestLearnedGatewayNeedsVouching(t *testing.T) {
	tb := newTable("dc1", time.Second, nil)
	tb.setSelf("me:1")
	tb.learn(&Advert{DC: "dc2", Gateways: []string{"g2:1"}, Direct: []Reach{{DC: "dc3", Gateways: []string{"x:1", "y:1"}}}})
	// x answers as dc3 without listing itself: nothing of dc3 vouched.
	tb.ok("x:1", time.Millisecond, &Advert{DC: "dc3", Gateways: []string{"other:1"}})
	if c := tb.route("dc3", false); len(c) != 0 {
		t.Fatalf("unvouched gateway routed: %+v", c)
	}
	// y lists itself.
	tb.ok("y:1", time.Millisecond, &Advert{DC: "dc3", Gateways: []string{"y:1"}})
	if c := tb.route("dc3", false); len(c) != 1 || c[0].addr != "y:1" {
		t.Fatalf("route dc3 %+v", c)
	}
	// g2 was listed by dc2's advert, and answers as dc2.
	tb.ok("g2:1", time.Millisecond, &Advert{DC: "dc2"})
	if c := tb.route("dc2", false); len(c) != 1 {
		t.Fatalf("route dc2 %+v", c)
	}
}

// What an advert says is bounded: RTTs clamped, lists capped.
func TestAdvertBounds(t *testing.T) {
	tb := newTable("dc1", time.Second, []string{"p:1"})
	a := &Advert{DC: "dc2", Gateways: []string{"p:1"}}
	for i := range 300 {
		r := Reach{DC: fmt.Sprintf("x%d", i), RTT: time.Duration(i-1) * time.Hour}
		for j := range 20 {
			r.Gateways = append(r.Gateways, fmt.Sprintf("h%d-%d:1", i, j))
		}
		a.Direct = append(a.Direct, r)
	}
	for range 70 {
		a.Gateways = append(a.Gateways, "z:1")
	}
	tb.ok("p:1", time.Millisecond, a)
	got := tb.peers["p:1"].advert
	if len(got.Direct) != maxAdvertDirect || len(got.Gateways) != maxAdvertGateways {
		t.Fatalf("direct %d gateways %d", len(got.Direct), len(got.Gateways))
	}
	for _, r := range got.Direct {
		if len(r.Gateways) > maxReachGateways || r.RTT < 0 || r.RTT > maxAdvertRTT {
			t.Fatalf("reach %s: %d gateways, rtt %v", r.DC, len(r.Gateways), r.RTT)
		}
	}
}

// Learned gateways that never answered: at most maxUnanswered, probed
// with a backoff, and evicted first from a full table.
func TestUnansweredQuota(t *testing.T) {
	tb := newTable("dc1", 100*time.Millisecond, []string{"cfg:1"})
	var gws []string
	for i := range 200 {
		gws = append(gws, fmt.Sprintf("10.0.0.%d:1", i))
	}
	tb.learn(&Advert{DC: "dc2", Gateways: gws[:64]})
	tb.learn(&Advert{DC: "dc3", Gateways: gws[64:]})
	if n := len(tb.addrs()); n != maxUnanswered+1 {
		t.Fatalf("%d peers to probe, want %d", n, maxUnanswered+1)
	}
	// A failed probe of a never-answered one delays its next probe.
	tb.suspect(gws[0])
	if slices.Contains(tb.addrs(), gws[0]) {
		t.Fatal("never-answered gateway probed again at once")
	}
	// Answers free the quota.
	for _, g := range gws[1:11] {
		tb.ok(g, time.Millisecond, &Advert{DC: "dc2", Gateways: []string{g}})
	}
	tb.learn(&Advert{DC: "dc3", Gateways: gws[100:120]})
	if n := tb.unanswered; n != maxUnanswered {
		t.Fatalf("unanswered %d, want %d", n, maxUnanswered)
	}
	// Learned before the table knew its own address: not counted after.
	st := newTable("dc1", time.Second, nil)
	st.learn(&Advert{DC: "dc2", Gateways: []string{"me:1"}})
	st.setSelf("me:1")
	if st.unanswered != 0 || len(st.peers) != 0 {
		t.Fatalf("self kept: %d unanswered, %d peers", st.unanswered, len(st.peers))
	}
	// A full table evicts a never-answered peer for a new one.
	full := newTable("dc1", time.Second, nil)
	full.learn(&Advert{DC: "dc2", Gateways: []string{"old:1"}})
	full.mu.Lock()
	for i := 0; len(full.peers) < maxPeers; i++ {
		a := fmt.Sprintf("10.1.%d.%d:1", i/250, i%250)
		full.peers[a] = &peer{addr: a, dc: "dc4", lastOK: time.Now()}
	}
	full.mu.Unlock()
	full.learn(&Advert{DC: "dc5", Gateways: []string{"new:1"}})
	if _, ok := full.peers["new:1"]; !ok || len(full.peers) != maxPeers {
		t.Fatalf("new peer not added (%d peers)", len(full.peers))
	}
	if _, ok := full.peers["old:1"]; ok {
		t.Fatal("never-answered peer not evicted")
	}
}

// Several candidates that never answer share one deadline: the gateway
// answers within statusWait, whatever their number, naming them.
func TestForwardOneDeadline(t *testing.T) {
	cfg := testConfig("dc1", "127.0.31.21", &fakeLocal{})
	cfg.HandshakeTimeout = 300 * time.Millisecond
	cfg.DialTimeout = 100 * time.Millisecond
	a := startGW(t, cfg)
	s1, s2 := silentListener(t, "127.0.31.33"), silentListener(t, "127.0.31.34")
	start := time.Now()
	_, _, _, err := a.forward([]candidate{{addr: s1}, {addr: s2}}, &Header{Kind: KindConn, DC: "dc2", Hops: 1})
	el := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), s1) || !strings.Contains(err.Error(), "1 more gateway") {
		t.Fatalf("forward: %v", err)
	}
	if want := a.statusWait(0); el > want+300*time.Millisecond {
		t.Fatalf("forward took %v, want about %v", el, want)
	}
}

// The Dialer: one deadline for all its local gateways; the caller's
// giving up is the caller's error and blames no gateway.
func TestDialerDeadlines(t *testing.T) {
	s1, s2 := silentListener(t, "127.0.31.33"), silentListener(t, "127.0.31.34")
	d, err := NewDialer(DialerConfig{Source: net.ParseIP(ipClient), Gateways: func() []string { return []string{s1, s2} },
		DialTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = d.Dial(context.Background(), "dc2", "")
	if el := time.Since(start); el > 800*time.Millisecond {
		t.Errorf("dial took %v, want about %v", el, 10*d.cfg.DialTimeout)
	}
	if err == nil || !strings.Contains(err.Error(), "conn to dc2 any server: via "+s1) || !strings.Contains(err.Error(), s2) {
		t.Fatalf("dial: %v", err)
	}
	// s1 ran into the request's own deadline: not blamed (a gateway may
	// rightly wait that long on a next hop that is down).
	if len(d.fails) != 0 {
		t.Fatalf("blamed at the deadline: %+v", d.fails)
	}

	d2 := newDialer(t, s1)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err = d2.Dial(ctx, "dc2", "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial after the caller gave up: %v", err)
	}
	if got := d2.order(); len(d2.fails) != 0 || !slices.Equal(got, []string{s1}) {
		t.Fatalf("gateway blamed: %+v", d2.fails)
	}
}

// Routes asks the local gateways at once and says which answered: a
// hanging one does not eat the caller's time.
func TestRoutesFirstAnswer(t *testing.T) {
	silent := silentListener(t, "127.0.31.33")
	a := startGW(t, testConfig("dc1", "127.0.31.21", &fakeLocal{}))
	d := newDialer(t, silent, a.Advertise())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	local, _, err := d.Routes(ctx)
	if err != nil || local != a.Advertise() {
		t.Fatalf("routes from %q: %v", local, err)
	}
}

// Errors stay on one line; dropped conns count as refused.
func TestErrorTextAndDropMetric(t *testing.T) {
	local := &fakeLocal{}
	local.addServer("s1", "127.0.31.97:1")
	local.addServer("s2", "127.0.31.98:1")
	a := startGW(t, testConfig("dc1", "127.0.31.21", local))
	st := exchange(t, a.Advertise(), &Header{Kind: KindConn, DC: "dc1"})
	if st.OK || strings.Contains(st.Error, "\n") || !strings.Contains(st.Error, "; ") {
		t.Fatalf("status %q", st.Error)
	}

	sink := gometrics.NewInmemSink(time.Minute, time.Minute)
	mcfg := gometrics.DefaultConfig("consul")
	mcfg.EnableHostname = false
	mcfg.EnableRuntimeMetrics = false
	if _, err := gometrics.NewGlobal(mcfg, sink); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gometrics.NewGlobal(mcfg, &gometrics.BlackholeSink{}) })
	c := rawDial(t, a.Advertise())
	c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	c.SetDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 1)
	c.Read(buf) // until the gateway drops it
	found := false
	for _, iv := range sink.Data() {
		iv.RLock()
		if c, ok := iv.Counters["consul.gateway.conns.refused"]; ok && c.Count >= 1 {
			found = true
		}
		iv.RUnlock()
	}
	if !found {
		t.Fatal("dropped conn not counted as refused")
	}
}

// A local gateway that accepts and then says nothing (its process hung)
// does not hold a dial up: after HedgeAfter the next gateway is tried
// alongside it, the first answer wins, and the silent one, blamed, is
// tried last by the next dial.
func TestDialerHedgesSilentGateway(t *testing.T) {
	a, _, srv, _ := twoDCs(t)
	silent := silentListener(t, "127.0.31.35")
	d := newDialer(t, silent, a.Advertise())
	d.cfg.DialTimeout = time.Second // 10 s for the whole dial: the hedge, not the deadline, must decide
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	start := time.Now()
	c, err := d.Dial(ctx, "dc2", srv.addr())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if el := time.Since(start); el < HedgeAfter || el > HedgeAfter+time.Second {
		t.Errorf("answered after %v, want a little over %v", el, HedgeAfter)
	}
	echoCheck(t, c, "hedged")
	c.Close()
	if got := d.order(); got[0] != a.Advertise() {
		t.Fatalf("order %v: the silent gateway still first", got)
	}
	start = time.Now()
	c, err = d.Dial(ctx, "dc2", srv.addr())
	if err != nil {
		t.Fatalf("second dial: %v", err)
	}
	c.Close()
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Errorf("second dial took %v", el)
	}
}
