package wan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"consulate/gossip"
	"consulate/gossip/gossiptest"
	"consulate/structs"
)

func testConfig(node, dc, ip string, n int) *Config {
	c := DefaultConfig()
	c.Gossip.BindAddr = ip
	c.Gossip.BindPort = 0
	c.Gossip.Memberlist = gossiptest.MemberlistConfig()
	c.Gossip.ReconnectInterval = 100 * time.Millisecond
	c.Gossip.ReapInterval = 50 * time.Millisecond
	c.Gossip.BroadcastTimeout = 500 * time.Millisecond
	c.Gossip.LeavePropagateDelay = 50 * time.Millisecond
	c.Gossip.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	c.NodeName = node
	c.Datacenter = dc
	c.NodeID = fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
	c.ServerPort = 8300 + n
	c.Build = "1.21.0"
	return c
}

func start(t *testing.T, cfg *Config) *Pool {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return p
}

func addrOf(p interface{ LocalName() string }, g *gossip.Pool) string {
	n := g.Memberlist().LocalNode()
	return net.JoinHostPort(n.Addr.String(), fmt.Sprint(n.Port))
}

func TestDatacentersAndNames(t *testing.T) {
	a := start(t, testConfig("s1", "dc1", "127.0.0.101", 1))
	b := start(t, testConfig("s2", "dc1", "127.0.0.102", 2))
	c := start(t, testConfig("s1", "dc2", "127.0.0.103", 3))
	if a.LocalName() != "s1.dc1" || c.LocalName() != "s1.dc2" {
		t.Fatalf("names %q %q", a.LocalName(), c.LocalName())
	}
	for _, p := range []*Pool{b, c} {
		if _, err := p.Join([]string{addrOf(p, a.Pool)}, false); err != nil {
			t.Fatal(err)
		}
	}
	gossiptest.WaitFor(t, 5*time.Second, func() (bool, string) {
		for _, p := range []*Pool{a, b, c} {
			dcs := p.Datacenters()
			if len(dcs["dc1"]) != 2 || len(dcs["dc2"]) != 1 {
				return false, fmt.Sprintf("%s sees %v", p.LocalName(), dcs)
			}
		}
		return true, ""
	})
	dc1 := c.Datacenters()["dc1"]
	if dc1[0].Name != "s1.dc1" || dc1[1].Name != "s2.dc1" || dc1[0].Addr != "127.0.0.101:8301" ||
		dc1[0].Status != structs.StatusAlive || dc1[0].Datacenter != "dc1" {
		t.Errorf("dc1 = %+v", dc1)
	}
	// A failed server stays listed with its status.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	gossiptest.WaitFor(t, 5*time.Second, func() (bool, string) {
		for _, s := range c.Datacenters()["dc1"] {
			if s.Name == "s2.dc1" && s.Status == structs.StatusFailed {
				return true, ""
			}
		}
		return false, fmt.Sprintf("dc1 = %+v", c.Datacenters()["dc1"])
	})
}

func TestNonServerRefused(t *testing.T) {
	a := start(t, testConfig("s1", "dc1", "127.0.0.104", 4))
	// A LAN client (client tags, a plain gossip pool) trying to join the
	// WAN pool.
	gc := gossip.DefaultConfig()
	gc.NodeName = "client1"
	gc.BindAddr = "127.0.0.105"
	gc.BindPort = 0
	gc.Memberlist = gossiptest.MemberlistConfig()
	gc.Logger = slog.New(slog.DiscardHandler)
	gc.Tags = structs.MemberTags{Datacenter: "dc1", NodeID: "00000000-0000-4000-8000-999999999999"}.Tags(nil)
	cl, err := gossip.New(gc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = cl.Shutdown(ctx)
	})
	// The client's side sees a server and may count the join; the WAN side
	// refuses the client both in the push/pull and in later alive gossip.
	_, _ = cl.Join([]string{addrOf(a, a.Pool)}, false)
	// Give the client several gossip and push/pull rounds to sneak in.
	until := time.Now().Add(3 * gc.Memberlist.PushPullInterval)
	for time.Now().Before(until) {
		for _, m := range a.Members() {
			if m.Name == "client1" {
				t.Fatalf("WAN pool admitted a client: %+v", m)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	var ns *NotServerError
	if err := checkWANMember(structs.Member{Name: "x", Status: structs.StatusAlive, Tags: map[string]string{"role": "node"}}); !errors.As(err, &ns) {
		t.Errorf("client member: %v", err)
	}
	srv := structs.Member{Name: "s9.dc3", Status: structs.StatusAlive, Addr: "127.0.0.1",
		Tags: map[string]string{"role": "consul", "port": "8300", "dc": "dc4"}}
	if err := checkWANMember(srv); !errors.As(err, &ns) {
		t.Errorf("name/dc mismatch accepted: %v", err)
	}
	srv.Tags["dc"] = "dc3"
	if err := checkWANMember(srv); err != nil {
		t.Errorf("good member refused: %v", err)
	}
}

// TestServerRestartSeenAgain: a WAN server that dies is seen failed, and
// the same server restarted on its port is seen alive again (the router
// counts that as a flap; see federation).
func TestServerRestartSeenAgain(t *testing.T) {
	a := start(t, testConfig("s1", "dc1", "127.0.0.106", 6))
	cfgB := testConfig("s2", "dc2", "127.0.0.107", 7)
	b, err := New(cfgB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join([]string{addrOf(a, a.Pool)}, false); err != nil {
		t.Fatal(err)
	}
	gossiptest.WaitFor(t, 5*time.Second, func() (bool, string) {
		return len(a.Datacenters()["dc2"]) == 1, "dc2 not seen"
	})
	port := b.Memberlist().LocalNode().Port
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	gossiptest.WaitFor(t, 5*time.Second, func() (bool, string) {
		s := a.Datacenters()["dc2"]
		return len(s) == 1 && s[0].Status == structs.StatusFailed, "s2.dc2 not failed"
	})
	cfgB2 := testConfig("s2", "dc2", "127.0.0.107", 7)
	cfgB2.Gossip.BindPort = int(port)
	b2 := start(t, cfgB2)
	if _, err := b2.Join([]string{addrOf(a, a.Pool)}, false); err != nil {
		t.Fatal(err)
	}
	gossiptest.WaitFor(t, 5*time.Second, func() (bool, string) {
		s := a.Datacenters()["dc2"]
		return len(s) == 1 && s[0].Status == structs.StatusAlive, fmt.Sprintf("s2.dc2 not alive again: %+v", s)
	})
}

func TestValidateAndNames(t *testing.T) {
	if n, dc, ok := SplitMemberName("web.a.dc1"); !ok || n != "web.a" || dc != "dc1" {
		t.Errorf("split = %q %q %v", n, dc, ok)
	}
	for _, bad := range []string{"nodc", ".dc1", "node."} {
		if _, _, ok := SplitMemberName(bad); ok {
			t.Errorf("split(%q) ok", bad)
		}
	}
	for name, mut := range map[string]func(*Config){
		"no node": func(c *Config) { c.NodeName = "" },
		"dot dc":  func(c *Config) { c.Datacenter = "a.b" },
		"no id":   func(c *Config) { c.NodeID = "" },
		"no port": func(c *Config) { c.ServerPort = 0 },
	} {
		c := testConfig("s", "dc1", "127.0.0.108", 8)
		mut(c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
