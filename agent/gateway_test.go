package agent

import (
	"context"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"consulate/gateway"
	"consulate/internal/testutil"
	"consulate/structs"
)

// An agent with gateway.enabled runs a gateway on bind_addr:gateway.port,
// tags its LAN member with it, and the gateway's local view comes from
// the LAN pool: it carries a conn to this datacenter's server and
// answers info.
func TestAgentGateway(t *testing.T) {
	const ip = "127.0.31.50"
	port := testutil.FreePort(t, ip)
	extra := fmt.Sprintf(`, "gateway": {"enabled": true, "port": %d, "probe_interval": "100ms"}`, port)
	a := startAgent(t, testOpts(t, ip, extra), nil)
	if a.gateway == nil {
		t.Fatal("gateway not started")
	}
	adv := net.JoinHostPort(ip, fmt.Sprint(port))
	if got := a.gateway.Addr().String(); got != adv {
		t.Fatalf("gateway listens on %s, want %s", got, adv)
	}
	self := a.lanMembers()
	if len(self) != 1 || self[0].Tags[structs.TagGateway] != adv {
		t.Fatalf("LAN members %+v", self)
	}
	if got := localGatewaysOf(self, "dc1").local.Gateways; !slices.Equal(got, []string{adv}) {
		t.Fatalf("local gateways %v", got)
	}
	if got := localGatewaysOf(self, "dc2").local.Gateways; len(got) != 0 {
		t.Fatalf("local gateways of dc2 %v", got)
	}
	l := a.gatewayLocal()
	if len(l.Servers) != 1 || l.Servers[0].Addr != a.rpcAddr() || !l.Servers[0].Alive ||
		l.Servers[0].GossipAddr != net.JoinHostPort(ip, fmt.Sprint(testSerfWAN)) {
		t.Fatalf("local view %+v", l)
	}

	d, err := gateway.NewDialer(gateway.DialerConfig{Source: net.ParseIP(ip),
		Gateways: func() []string { return localGatewaysOf(a.lanMembers(), "dc1").local.Gateways }, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := d.Info(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if info.DC != "dc1" || len(info.Servers) != 1 || info.Servers[0].Addr != a.rpcAddr() {
		t.Fatalf("info %+v", info)
	}
	c, err := d.Dial(ctx, "dc1", a.rpcAddr())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	routes, err := gatewayRoutes(d)(ctx)
	if err != nil || len(routes) != 0 {
		t.Fatalf("routes %+v, %v", routes, err)
	}
}

// A server whose advertise_addr_wan differs from its LAN address
// publishes it in the LAN tag wan_addr; the gateway then carries a conn
// naming the server's WAN RPC address to its LAN address, gives the WAN
// gossip address in Info, and local servers dial the gateway at its LAN
// address (not the advertised WAN one, which may not route back in).
func TestAgentGatewayWANAddr(t *testing.T) {
	const ip, wanIP = "127.0.31.52", "127.0.31.152"
	port := testutil.FreePort(t, ip)
	extra := fmt.Sprintf(`, "advertise_addr_wan": %q, "gateway": {"enabled": true, "port": %d, "probe_interval": "100ms"}`, wanIP, port)
	a := startAgent(t, testOpts(t, ip, extra), nil)
	self := a.lanMembers()
	if len(self) != 1 || self[0].Tags[structs.TagWANAddr] != wanIP ||
		self[0].Tags[structs.TagGateway] != net.JoinHostPort(wanIP, fmt.Sprint(port)) {
		t.Fatalf("LAN members %+v", self)
	}
	lanGW := net.JoinHostPort(ip, fmt.Sprint(port))
	if got := localGatewaysOf(self, "dc1").addrs; !slices.Equal(got, []string{lanGW}) {
		t.Fatalf("gateways to dial %v, want %s", got, lanGW)
	}
	wanRPC := net.JoinHostPort(wanIP, fmt.Sprint(testServerPort))
	l := a.gatewayLocal()
	if len(l.Servers) != 1 || l.Servers[0].Addr != a.rpcAddr() || l.Servers[0].WANAddr != wanRPC ||
		l.Servers[0].GossipAddr != net.JoinHostPort(wanIP, fmt.Sprint(testSerfWAN)) {
		t.Fatalf("local view %+v", l)
	}

	d, err := gateway.NewDialer(gateway.DialerConfig{Source: net.ParseIP(ip),
		Gateways: func() []string { return localGatewaysOf(a.lanMembers(), "dc1").addrs }, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := d.Info(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Servers) != 1 || info.Servers[0].GossipAddr != net.JoinHostPort(wanIP, fmt.Sprint(testSerfWAN)) {
		t.Fatalf("info %+v", info)
	}
	c, err := d.Dial(ctx, "dc1", wanRPC)
	if err != nil {
		t.Fatalf("conn to the WAN address: %v", err)
	}
	c.Close()
	local, _, err := d.Routes(ctx)
	if err != nil || local != lanGW {
		t.Fatalf("routes from %q: %v", local, err)
	}
}
