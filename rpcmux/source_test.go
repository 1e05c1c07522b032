package rpcmux

import (
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"consulate/internal/testutil"
)

// Outgoing connections carry the configured source address (the agent's
// bind address), as Consul's do, so rules on addresses cut what they name.
func TestDialsComeFromSourceAddr(t *testing.T) {
	const src = "127.0.0.52"
	srv := startServer(t, testConfig(), newTestHandler(), "127.0.0.51:0")

	pcfg := testPoolConfig()
	pcfg.SourceAddr = net.ParseIP(src)
	p := newTestPool(t, pcfg)
	var out echoArgs
	if err := p.Call(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{S: "x"}, &out); err != nil {
		t.Fatalf("pool call: %v", err)
	}

	mcfg := testConfig()
	mcfg.SourceAddr = net.ParseIP(src)
	dialer := mustMux(t, mcfg, newTestHandler()).RaftLayer()
	conn, err := dialer.Dial(raft.ServerAddress(srv.addr), 2*time.Second)
	if err != nil {
		t.Fatalf("raft dial: %v", err)
	}
	defer conn.Close()
	if got := conn.LocalAddr().(*net.TCPAddr).IP.String(); got != src {
		t.Fatalf("raft conn local address %s, want %s", got, src)
	}

	// The server saw both connections (pool session, raft) from src.
	testutil.WaitFor(t, 5*time.Second, "two accepted connections", func() bool { return len(srv.ln.remoteIPs()) >= 2 })
	ips := srv.ln.remoteIPs()
	if len(ips) != 2 {
		t.Fatalf("server accepted %d connections (%v), want 2", len(ips), ips)
	}
	for _, ip := range ips {
		if ip != src {
			t.Fatalf("server saw a connection from %s, want %s (all: %v)", ip, src, ips)
		}
	}
}

// An unspecified source address leaves the choice to the kernel.
func TestUnspecifiedSourceAddrIsNotBound(t *testing.T) {
	if d := dialer(net.IPv4zero, time.Second); d.LocalAddr != nil {
		t.Fatalf("0.0.0.0 bound the dialer to %v", d.LocalAddr)
	}
	if d := dialer(net.IPv6unspecified, time.Second); d.LocalAddr != nil {
		t.Fatalf(":: bound the dialer to %v", d.LocalAddr)
	}
	if d := dialer(nil, time.Second); d.LocalAddr != nil {
		t.Fatalf("nil bound the dialer to %v", d.LocalAddr)
	}
}
