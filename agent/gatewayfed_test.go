package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"consulate/config"
	"consulate/gateway"
	"consulate/gossip"
	"consulate/gossip/gossiptest"
	"consulate/lan"
	"consulate/structs"
	"consulate/wan"
)

// testGateway runs a gateway of dc on ip whose local view is the one
// server given, and puts a LAN member with the gateway tag into that
// server's LAN pool (what a gateway agent does), so the server finds it.
func testGateway(t *testing.T, dc, ip string, port int, srv *Agent, peers []string) *gateway.Gateway {
	t.Helper()
	gc := gateway.DefaultConfig()
	gc.Datacenter = dc
	gc.BindAddr = net.ParseIP(ip)
	gc.Port = port
	gc.Peers = peers
	gc.ProbeInterval = 100 * time.Millisecond
	gc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	rt := srv.cfg
	gc.Local = func() gateway.Local {
		return gateway.Local{Servers: []gateway.LocalServer{{
			Name: rt.NodeName, Addr: srv.rpcAddr(), Alive: true,
			GossipAddr: net.JoinHostPort(rt.AdvertiseAddrWAN.String(), fmt.Sprint(rt.SerfPortWAN)),
		}}}
	}
	g, err := gateway.New(gc)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
	})

	lc := lan.DefaultConfig()
	lc.Gossip.NodeName = "gw-" + strings.ReplaceAll(ip, ".", "-")
	lc.Gossip.BindAddr = ip
	lc.Gossip.BindPort = 0
	lc.Gossip.Memberlist = gossiptest.MemberlistConfig()
	lc.Gossip.Tags = map[string]string{structs.TagGateway: g.Advertise()}
	lc.Gossip.Logger = gc.Logger
	lc.Datacenter = dc
	lc.NodeID = fmt.Sprintf("00000000-0000-4000-8000-%012d", len(ip)*1000+int(ip[len(ip)-1]))
	lp, err := lan.New(lc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = lp.Shutdown(ctx)
	})
	if _, err := srv.lan.Join([]string{lp.Memberlist().LocalNode().FullAddress().Addr}, true); err != nil {
		t.Fatalf("gateway LAN join: %v", err)
	}
	return g
}

// Two servers in gateway mode, each with a gateway of its own: the dc2
// server joins dc1 through the gateways by naming dc1's gateway, the
// WAN pool converges, and cross-DC RPC works, all of it through the
// gateways (the gateways count the connections, the transport counts
// gossip). A WAN join naming a server instead of a gateway says so.
func TestGatewayFederationJoinAndRPC(t *testing.T) {
	gwMode := func(rt *config.Runtime) { rt.GatewayFederation = true }
	s1 := startAgent(t, testOpts(t, "127.0.32.61", ""), gwMode)
	s2 := startAgent(t, testOpts(t, "127.0.32.62", `, "datacenter": "dc2"`), gwMode)
	if s1.gwDialer == nil || s1.gwTransport == nil || s1.wan.Gateway() == nil {
		t.Fatal("gateway mode not wired")
	}
	g2 := testGateway(t, "dc2", "127.0.32.72", 0, s2, nil)
	g1 := testGateway(t, "dc1", "127.0.32.71", 0, s1, []string{g2.Advertise()})
	waitFor(t, "servers see their gateways", func() bool {
		return len(s1.cachedDialerGateways()) == 1 && len(s2.cachedDialerGateways()) == 1 &&
			s1.isLocalGatewayIP(net.ParseIP("127.0.32.71")) && !s1.isLocalGatewayIP(net.ParseIP("127.0.32.72"))
	})

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// A server's WAN gossip address is not a gateway.
	_, err := s2.Join(ctx, []string{"127.0.32.61:18302"}, true)
	if err == nil || !strings.Contains(err.Error(), "127.0.32.61:18302 is not a federation gateway (servers in gateway mode join other datacenters through their gateways)") {
		t.Fatalf("join -wan of a server: %v", err)
	}
	// A gateway address where nothing answers: down, not "not a gateway".
	_, err = s2.Join(ctx, []string{"127.0.32.69:1"}, true)
	if err == nil || !strings.Contains(err.Error(), "no answer from gateway 127.0.32.69:1 through local gateway "+g2.Advertise()+": ") ||
		strings.Contains(err.Error(), "not a federation gateway") {
		t.Fatalf("join -wan of a dead gateway: %v", err)
	}
	if n, err := s2.Join(ctx, []string{g1.Advertise()}, true); err != nil || n == 0 {
		t.Fatalf("join -wan through the gateway: %d, %v", n, err)
	}
	wanAlive(t, 2, s1, s2)
	// Cross-DC RPC both ways, through the pool's gateway dialer.
	for _, c := range []struct {
		a  *Agent
		dc string
	}{{s1, "dc2"}, {s2, "dc1"}} {
		var out structs.IndexedNodes
		err := c.a.RPC(ctx, structs.MethodCatalogListNodes, &structs.DCSpecificRequest{Datacenter: c.dc}, &out)
		if err != nil {
			t.Fatalf("%s → %s: %v", c.a.cfg.NodeName, c.dc, err)
		}
	}
	for _, g := range []*gateway.Gateway{g1, g2} {
		st := g.Stats()
		if st.Local == 0 || st.Forwarded == 0 {
			t.Errorf("gateway %s: %+v, want conns spliced both to its server and to the other gateway", g.Advertise(), st)
		}
	}
	// operator wan shows the route through the gateway (its next hop:
	// the dc1 gateway).
	var route string
	for _, h := range s2.router.HealthWithLeaders(ctx, s2.RPC) {
		if h.Datacenter == "dc1" {
			route = h.Route
			if !h.HasLeader || len(h.Gateways) != 1 || h.Gateways[0] != g1.Advertise() {
				t.Errorf("dc1 row %+v", h)
			}
		}
	}
	if route != "gateway" {
		t.Errorf("route to dc1 %q, want gateway", route)
	}
	// WAN probes go through the gateways too.
	gossiptest.WaitFor(t, 10*time.Second, func() (bool, string) {
		for _, a := range []*Agent{s1, s2} {
			if st := a.gwTransport.Stats(); st.PacketsSent == 0 || st.PacketsReceived == 0 {
				return false, fmt.Sprintf("%s gossip through the gateways: %+v", a.cfg.NodeName, st)
			}
		}
		return true, ""
	})
}

// wanAlive waits until every agent sees n alive WAN members.
func wanAlive(t *testing.T, n int, agents ...*Agent) {
	t.Helper()
	gossiptest.WaitFor(t, 15*time.Second, func() (bool, string) {
		for _, a := range agents {
			alive := 0
			for _, m := range a.Members(true) {
				if m.Status == structs.StatusAlive {
					alive++
				}
			}
			if alive != n {
				return false, fmt.Sprintf("%s sees %d alive WAN members", a.cfg.NodeName, alive)
			}
		}
		return true, ""
	})
}

// primary_gateways: a dc2 server started before any gateway exists keeps
// trying and joins dc1 once the gateways are up.
func TestGatewayFederationPrimaryGateways(t *testing.T) {
	const g1Addr = "127.0.32.73:18443"
	s1 := startAgent(t, testOpts(t, "127.0.32.63", ""), func(rt *config.Runtime) { rt.GatewayFederation = true })
	s2 := startAgent(t, testOpts(t, "127.0.32.64", `, "datacenter": "dc2"`), func(rt *config.Runtime) {
		rt.GatewayFederation = true
		rt.PrimaryGateways = []string{g1Addr}
		rt.PrimaryGatewaysInterval = 200 * time.Millisecond
	})
	g2 := testGateway(t, "dc2", "127.0.32.74", 18443, s2, nil)
	testGateway(t, "dc1", "127.0.32.73", 18443, s1, []string{g2.Advertise()})
	wanAlive(t, 2, s1, s2)
}

// Two gateways in dc2: when the one in use dies, RPC and WAN gossip move
// to the other one and the WAN pool stays (or becomes again) whole.
func TestGatewayFederationFailover(t *testing.T) {
	gwMode := func(rt *config.Runtime) { rt.GatewayFederation = true }
	s1 := startAgent(t, testOpts(t, "127.0.32.65", ""), gwMode)
	s2 := startAgent(t, testOpts(t, "127.0.32.66", `, "datacenter": "dc2"`), gwMode)
	g2a := testGateway(t, "dc2", "127.0.32.76", 0, s2, nil)
	g2b := testGateway(t, "dc2", "127.0.32.77", 0, s2, nil)
	g1 := testGateway(t, "dc1", "127.0.32.75", 0, s1, []string{g2a.Advertise(), g2b.Advertise()})
	waitFor(t, "dc2 server sees both gateways", func() bool { return len(s2.cachedDialerGateways()) == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s2.Join(ctx, []string{g1.Advertise()}, true); err != nil {
		t.Fatal(err)
	}
	wanAlive(t, 2, s1, s2)
	call := func() error {
		var out structs.IndexedNodes
		return s2.RPC(ctx, structs.MethodCatalogListNodes, &structs.DCSpecificRequest{Datacenter: "dc1"}, &out)
	}
	// The router may have probed dc1 before the gateways had a route.
	t0 := time.Now()
	gossiptest.WaitFor(t, 15*time.Second, func() (bool, string) {
		if err := call(); err != nil {
			return false, "cross-DC call: " + err.Error()
		}
		return true, ""
	})
	t.Logf("first cross-DC call succeeded after %v", time.Since(t0))
	// Which one carries dc2's traffic now; kill it.
	used, spare := g2a, g2b
	if g2b.Stats().Accepted > g2a.Stats().Accepted {
		used, spare = g2b, g2a
	}
	before := spare.Stats().Accepted
	sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
	defer scancel()
	if err := used.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	gossiptest.WaitFor(t, 10*time.Second, func() (bool, string) {
		if err := call(); err != nil {
			return false, "cross-DC call after the gateway died: " + err.Error()
		}
		return true, ""
	})
	gossiptest.WaitFor(t, 10*time.Second, func() (bool, string) {
		return spare.Stats().Accepted > before, "the other gateway carries nothing"
	})
	// Gossip moved too: packets keep flowing both ways.
	sent, recv := s2.gwTransport.Stats().PacketsSent, s2.gwTransport.Stats().PacketsReceived
	gossiptest.WaitFor(t, 10*time.Second, func() (bool, string) {
		st := s2.gwTransport.Stats()
		return st.PacketsSent > sent+5 && st.PacketsReceived > recv+5, fmt.Sprintf("%+v", st)
	})
	wanAlive(t, 2, s1, s2)
}

// The cached view of the local gateways: alive members of this DC with a
// gw tag; only their LAN address is exempt, never the host their tag
// declares.
func TestLocalGatewaysOf(t *testing.T) {
	gw := func(name, addr, tag, dc string, st structs.MemberStatus) structs.Member {
		return structs.Member{Name: name, Addr: addr, Status: st,
			Tags: map[string]string{structs.TagGateway: tag, structs.TagDatacenter: dc}}
	}
	lg := localGatewaysOf([]structs.Member{
		gw("g1", "127.0.32.81", "127.0.32.99:8443", "dc1", structs.StatusAlive),
		gw("g2", "127.0.32.82", "127.0.32.82:8443", "dc1", structs.StatusFailed),
		gw("g3", "127.0.32.83", "127.0.32.83:8443", "dc2", structs.StatusAlive),
		gw("s1", "127.0.32.84", "", "dc1", structs.StatusAlive),
	}, "dc1")
	if len(lg.addrs) != 1 || lg.addrs[0] != "127.0.32.81:8443" { // the LAN address, the tag's port
		t.Fatalf("addrs %v", lg.addrs)
	}
	a := &Agent{cfg: &config.Runtime{ServerMode: true, GatewayFederation: true, Datacenter: "dc1"}}
	a.gwLocal.Store(lg)
	for ip, want := range map[string]bool{"127.0.32.81": true, "::ffff:127.0.32.81": true,
		"127.0.32.99": false, "127.0.32.82": false, "127.0.32.83": false, "127.0.32.84": false} {
		if got := a.isLocalGatewayIP(net.ParseIP(ip)); got != want {
			t.Errorf("isLocalGatewayIP(%s) = %v, want %v", ip, got, want)
		}
	}
}

// In gateway mode the WAN snapshot's servers of this datacenter are
// rejoined directly, those of other datacenters by name through the
// gateways (with the RPC address the snapshot kept), and those without
// one (a snapshot from before it kept them) not at all.
func TestGatewayRejoinSplit(t *testing.T) {
	addrs, remote, skipped := localRejoinAddrs([]gossip.PreviousMember{
		{Name: "s1.dc1", Addr: "127.0.32.91:8302", RPCAddr: "127.0.32.91:8300"},
		{Name: "s2.dc2", Addr: "127.0.32.92:8302", RPCAddr: "127.0.32.92:8300"},
		{Name: "s3.dc3", Addr: "127.0.32.93:8302"},
	}, "dc1")
	if !slices.Equal(addrs, []string{"s1.dc1/127.0.32.91:8302"}) || !slices.Equal(skipped, []string{"s3.dc3"}) ||
		len(remote) != 1 || remote[0] != (wan.RemoteServer{Name: "s2.dc2", RPCAddr: "127.0.32.92:8300", GossipAddr: "127.0.32.92:8302"}) {
		t.Fatalf("rejoin %q, remote %+v, skipped %q", addrs, remote, skipped)
	}
}

// A dc2 server in gateway mode restarted from its data dir (no
// primary_gateways, joined once by hand) rejoins dc1 from its WAN
// snapshot through its gateways, before dc1's reconnect loop (30 s)
// would bring it back.
func TestGatewaySnapshotRejoin(t *testing.T) {
	dir := t.TempDir()
	persistent := func(rt *config.Runtime) {
		rt.GatewayFederation = true
		rt.DevMode, rt.DataDir = false, dir
	}
	s1 := startAgent(t, testOpts(t, "127.0.32.101", ""), func(rt *config.Runtime) { rt.GatewayFederation = true })
	opts2 := testOpts(t, "127.0.32.102", `, "datacenter": "dc2"`)
	s2 := startAgent(t, opts2, persistent)
	g2 := testGateway(t, "dc2", "127.0.32.104", 0, s2, nil)
	g1 := testGateway(t, "dc1", "127.0.32.103", 0, s1, []string{g2.Advertise()})
	waitFor(t, "servers see their gateways", func() bool {
		return len(s1.cachedDialerGateways()) == 1 && len(s2.cachedDialerGateways()) == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if n, err := s2.Join(ctx, []string{g1.Advertise()}, true); err != nil || n == 0 {
		t.Fatalf("join -wan through the gateway: %d, %v", n, err)
	}
	wanAlive(t, 2, s1, s2)
	var snap struct {
		Alive []gossip.PreviousMember `json:"alive"`
	}
	snapPath := filepath.Join(dir, "serf", "remote.snapshot")
	gossiptest.WaitFor(t, 5*time.Second, func() (bool, string) {
		raw, err := os.ReadFile(snapPath)
		if err != nil || json.Unmarshal(raw, &snap) != nil {
			return false, fmt.Sprintf("snapshot: %v", err)
		}
		for _, m := range snap.Alive {
			if m.Name == s1.cfg.NodeName+".dc1" && m.RPCAddr == s1.rpcAddr() {
				return true, ""
			}
		}
		return false, fmt.Sprintf("snapshot %+v has no RPC address for dc1's server", snap.Alive)
	})

	// Stop without leaving (the snapshot keeps dc1), start again.
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := s2.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	// Until dc1 holds it dead it would still gossip to it (and so teach
	// the restarted server of itself): wait for that first.
	gossiptest.WaitFor(t, 20*time.Second, func() (bool, string) {
		for _, m := range s1.Members(true) {
			if m.Name == s2.cfg.NodeName+".dc2" && m.Status == structs.StatusFailed {
				return true, ""
			}
		}
		return false, "dc1 does not hold dc2's server failed"
	})
	s2b := startAgent(t, opts2, persistent)
	testGateway(t, "dc2", "127.0.32.105", 0, s2b, []string{g1.Advertise()})
	start := time.Now()
	wanAlive(t, 2, s2b)
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("rejoined after %s", d)
	}
	var out structs.IndexedNodes
	if err := s2b.RPC(ctx, structs.MethodCatalogListNodes, &structs.DCSpecificRequest{Datacenter: "dc1"}, &out); err != nil {
		t.Fatalf("dc2 → dc1 after the rejoin: %v", err)
	}
}

// joinInfoError: a reply that is not a gateway's says "not a federation
// gateway"; no answer says the gateway is unreachable; the rest passes.
func TestJoinInfoError(t *testing.T) {
	refused := func(code, reason string) error {
		return &gateway.DialError{What: "info from 10.0.0.1:8443", Tries: []error{
			&gateway.RefusedError{Gateway: "127.0.32.71:8443", Reason: "gateway 127.0.32.71:8443: " + reason, Code: code}}}
	}
	for _, tc := range []struct{ code, reason, want string }{
		{gateway.CodeNotGateway, "next gateway 10.0.0.1:8443 did not answer as a gateway", "10.0.0.1:8443 is not a federation gateway"},
		{gateway.CodeNextUnreachable, "next gateway 10.0.0.1:8443 is unreachable: dial tcp 10.0.0.1:8443: connect: connection refused",
			"no answer from gateway 10.0.0.1:8443 through local gateway 127.0.32.71:8443: gateway 127.0.32.71:8443: next gateway"},
		{gateway.CodeNextUnreachable, "next gateway 10.0.0.1:8443 is unreachable: dial tcp 10.0.0.1:8443: i/o timeout",
			"no answer from gateway 10.0.0.1:8443 through local gateway 127.0.32.71:8443"},
		{"", "too many connections (4096)", "gateway: info from 10.0.0.1:8443: gateway 127.0.32.71:8443: too many connections"},
	} {
		if got := joinInfoError("10.0.0.1:8443", refused(tc.code, tc.reason)).Error(); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s %s: %q, want prefix %q", tc.code, tc.reason, got, tc.want)
		}
	}
	// No local gateway answered: as it is.
	derr := &gateway.DialError{What: "info", Tries: []error{errors.New("via 127.0.32.71:8443: connection refused")}}
	if got := joinInfoError("10.0.0.1:8443", derr); got != error(derr) {
		t.Errorf("local failure reworded: %v", got)
	}
}

// A server in gateway mode whose WAN pool fails to start (after the
// server port is serving gossip) still shuts its gateway transport down:
// an incoming pipe then ends at once instead of waiting forever for a
// WAN pool to take its packets, which would hold the server port's
// Shutdown up.
func TestGatewayTransportShutdownWithoutWANPool(t *testing.T) {
	const ip = "127.0.32.67"
	busy, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(testSerfWAN)))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	opts := testOpts(t, ip, "")
	rt, err := config.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	rt.GatewayFederation = true
	a, err := New(rt, Options{LoadOpts: opts, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "1.2.3-test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Start(ctx); err == nil {
		a.Shutdown(ctx)
		t.Fatal("started with the WAN port taken")
	}
	if a.gwTransport == nil || a.wan != nil {
		t.Fatalf("want a gateway transport and no WAN pool: %v %v", a.gwTransport, a.wan)
	}
	cli, srv := net.Pipe()
	defer cli.Close()
	done := make(chan struct{})
	go func() { a.gwTransport.HandleConn(srv); close(done) }()
	from := "127.0.32.68:8302"
	msg := append([]byte{wan.GossipPacketPipe, 0, byte(len(from))}, from...)
	msg = append(msg, 0, 0, 0, 1, 'x')
	go func() { _, _ = cli.Write(msg) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("incoming pipe still held after the agent shut down")
	}
}
