package lan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"consulate/gossip"
	"consulate/gossip/gossiptest"
	"consulate/structs"
)

func testConfig(name, ip, dc string, server bool) *Config {
	c := DefaultConfig()
	c.Gossip.NodeName = name
	c.Gossip.BindAddr = ip
	c.Gossip.BindPort = 0
	c.Gossip.Memberlist = gossiptest.MemberlistConfig()
	c.Gossip.ReconnectInterval = 100 * time.Millisecond
	c.Gossip.ReapInterval = 50 * time.Millisecond
	c.Gossip.BroadcastTimeout = 500 * time.Millisecond
	c.Gossip.LeavePropagateDelay = 50 * time.Millisecond
	c.Gossip.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	c.Datacenter = dc
	c.NodeID = "00000000-0000-4000-8000-0000000000" + name[len(name)-2:]
	c.Server = server
	c.Build = "1.21.0:abcdef"
	if server {
		c.BootstrapExpect = 3
	}
	return c
}

func start(t *testing.T, cfg *Config) *Pool {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.Gossip.NodeName, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return p
}

func addrOf(p *Pool) string {
	n := p.Memberlist().LocalNode()
	return net.JoinHostPort(n.Addr.String(), fmt.Sprint(n.Port))
}

func TestServerAndClientTags(t *testing.T) {
	srv := start(t, testConfig("srv01", "127.0.0.91", "dc1", true))
	cli := start(t, testConfig("cli02", "127.0.0.92", "dc1", false))
	if _, err := cli.Join([]string{addrOf(srv)}, false); err != nil {
		t.Fatal(err)
	}
	gossiptest.WaitFor(t, 5*time.Second, func() (bool, string) {
		return len(cli.Members()) == 2 && len(srv.Members()) == 2, "members not converged"
	})
	servers := cli.Servers()
	if len(servers) != 1 {
		t.Fatalf("Servers() = %+v", servers)
	}
	s := servers[0]
	if s.Name != "srv01" || s.Datacenter != "dc1" || s.Addr != "127.0.0.91:8300" || s.Port != 8300 ||
		s.Expect != 3 || s.Build != "1.21.0:abcdef" || s.RaftVersion != 3 || s.WANJoinPort != 8302 ||
		s.Status != structs.StatusAlive || s.ID != "00000000-0000-4000-8000-000000000001" {
		t.Errorf("server info = %+v", s)
	}
	for _, m := range srv.Members() {
		if m.Name != "cli02" {
			continue
		}
		if _, ok := structs.ParseServer(m); ok {
			t.Error("client reported as server")
		}
		want := map[string]string{"role": "node", "dc": "dc1", "id": "00000000-0000-4000-8000-000000000002",
			"vsn": "2", "vsn_min": "2", "vsn_max": "3", "build": "1.21.0:abcdef", "segment": ""}
		for k, v := range want {
			if got, ok := m.Tags[k]; !ok || got != v {
				t.Errorf("client tag %s = %q (present %v), want %q", k, got, ok, v)
			}
		}
		if _, ok := m.Tags["port"]; ok {
			t.Error("client has a port tag")
		}
	}
	if srv.Datacenter() != "dc1" {
		t.Error("Datacenter()")
	}
}

func TestWrongDatacenterRefused(t *testing.T) {
	a := start(t, testConfig("a01", "127.0.0.93", "dc1", true))
	b := start(t, testConfig("b02", "127.0.0.94", "dc2", true))
	n, err := b.Join([]string{addrOf(a)}, false)
	if n != 0 || err == nil {
		t.Fatalf("cross-dc LAN join = %d, %v", n, err)
	}
	var wrong *WrongDatacenterError
	if !errors.As(err, &wrong) || !strings.Contains(err.Error(), "Member 'a01' part of wrong datacenter 'dc1'") {
		t.Fatalf("error = %v", err)
	}
	if !errors.Is(err, gossip.ErrJoinFailed) {
		t.Errorf("not ErrJoinFailed: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"no dc":      func(c *Config) { c.Datacenter = "" },
		"no id":      func(c *Config) { c.NodeID = "" },
		"bad port":   func(c *Config) { c.ServerPort = 0 },
		"no gossip":  func(c *Config) { c.Gossip = nil },
		"gossip bad": func(c *Config) { c.Gossip.NodeName = "" },
	} {
		c := testConfig("x01", "127.0.0.95", "dc1", true)
		mut(c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
