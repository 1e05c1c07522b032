package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"consulate/config"
	"consulate/gateway"
	"consulate/gossip/gossiptest"
	"consulate/lan"
	"consulate/structs"
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
		return len(s1.dialerGateways()) == 1 && len(s2.dialerGateways()) == 1 &&
			s1.isLocalGatewayIP(net.ParseIP("127.0.32.71")) && !s1.isLocalGatewayIP(net.ParseIP("127.0.32.72"))
	})

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// A server's WAN gossip address is not a gateway.
	_, err := s2.Join(ctx, []string{"127.0.32.61:18302"}, true)
	if err == nil || !strings.Contains(err.Error(), "127.0.32.61:18302 is not a federation gateway (servers in gateway mode join other datacenters through their gateways)") {
		t.Fatalf("join -wan of a server: %v", err)
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
	waitFor(t, "dc2 server sees both gateways", func() bool { return len(s2.dialerGateways()) == 2 })
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
