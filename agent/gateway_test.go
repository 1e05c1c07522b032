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
	if got := gatewaysOf(self, "dc1"); !slices.Equal(got, []string{adv}) {
		t.Fatalf("local gateways %v", got)
	}
	if got := gatewaysOf(self, "dc2"); len(got) != 0 {
		t.Fatalf("local gateways of dc2 %v", got)
	}
	l := a.gatewayLocal()
	if len(l.Servers) != 1 || l.Servers[0].Addr != a.rpcAddr() || !l.Servers[0].Alive ||
		l.Servers[0].GossipAddr != net.JoinHostPort(ip, fmt.Sprint(testSerfWAN)) {
		t.Fatalf("local view %+v", l)
	}

	d, err := gateway.NewDialer(gateway.DialerConfig{Source: net.ParseIP(ip),
		Gateways: func() []string { return gatewaysOf(a.lanMembers(), "dc1") }, DialTimeout: time.Second})
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
