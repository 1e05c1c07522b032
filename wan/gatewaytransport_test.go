package wan

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"consulate/gossip/gossiptest"
	"consulate/rpcmux"
	"consulate/structs"
)

// noCalls is an rpcmux.Handler without methods: the gateway tests only
// use the port's gossip byte.
type noCalls struct{}

func (noCalls) NewCall(structs.Method) (any, any, bool) { return nil, nil, false }
func (noCalls) RPC(context.Context, structs.Method, any, any) error {
	return errors.New("no calls")
}

// firewall is the innermost transport wrapper: it refuses packets and
// streams that would go directly to an address of another datacenter,
// as nftables rules between the servers of different datacenters do.
type firewall struct {
	memberlist.NodeAwareTransport
	dc      string
	dcOfIP  func(ip string) string
	refused *atomic.Int64
}

func (f *firewall) cut(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if dc := f.dcOfIP(host); dc != "" && dc != f.dc {
		f.refused.Add(1)
		return true
	}
	return false
}

func (f *firewall) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if f.cut(a.Addr) {
		return time.Now(), nil // lost, as a dropped UDP packet
	}
	return f.NodeAwareTransport.WriteToAddress(b, a)
}

func (f *firewall) WriteTo(b []byte, addr string) (time.Time, error) {
	if f.cut(addr) {
		return time.Now(), nil
	}
	return f.NodeAwareTransport.WriteTo(b, addr)
}

func (f *firewall) DialAddressTimeout(a memberlist.Address, d time.Duration) (net.Conn, error) {
	if f.cut(a.Addr) {
		return nil, errors.New("firewall: connection refused")
	}
	return f.NodeAwareTransport.DialAddressTimeout(a, d)
}

func (f *firewall) DialTimeout(addr string, d time.Duration) (net.Conn, error) {
	if f.cut(addr) {
		return nil, errors.New("firewall: connection refused")
	}
	return f.NodeAwareTransport.DialTimeout(addr, d)
}

// gwServer is one server of the gateway tests: a WAN pool in gateway
// mode and its server port (an rpcmux.Mux whose gossip handler is the
// transport's), dialing other datacenters through a counting seam.
type gwServer struct {
	pool    *Pool
	gw      *GatewayTransport
	rpcAddr string
	gossip  string
	dials   atomic.Int64 // through the seam, per destination DC summed
}

// gwCluster builds servers on 127.0.32.x; the DC of an IP is known to the
// firewall.
type gwCluster struct {
	t       *testing.T
	mu      sync.Mutex
	dcOfIP  map[string]string
	refused atomic.Int64
}

func (c *gwCluster) dcOf(ip string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dcOfIP[ip]
}

func freeGossipPort(t *testing.T, ip string) int {
	t.Helper()
	for range 20 {
		tl, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		tl.Close()
		if err == nil {
			ul.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func (c *gwCluster) start(node, dc, ip string, n int) *gwServer {
	t := c.t
	t.Helper()
	c.mu.Lock()
	c.dcOfIP[ip] = dc
	c.mu.Unlock()
	s := &gwServer{}

	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	s.rpcAddr = ln.Addr().String()
	port := freeGossipPort(t, ip)
	s.gossip = net.JoinHostPort(ip, strconv.Itoa(port))

	pcfg := rpcmux.DefaultPoolConfig()
	pcfg.DialTimeout = 2 * time.Second
	// The seam a gateway.Dialer fills in the agent: here the "gateway"
	// dials the server directly, and counts.
	pcfg.Dialer = func(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr) (net.Conn, error) {
		s.dials.Add(1)
		return (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext(ctx, "tcp", string(addr))
	}
	rpool, err := rpcmux.NewPool(pcfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	gcfg := DefaultGatewayConfig()
	gcfg.Datacenter = dc
	gcfg.AdvertiseAddr = s.gossip
	gcfg.IdleTimeout = 2 * time.Second
	gcfg.MinBackoff = 20 * time.Millisecond
	gcfg.MaxBackoff = 200 * time.Millisecond
	gcfg.Dial = func(ctx context.Context, dc, rpcAddr string) (net.Conn, error) {
		return rpool.DialProto(ctx, structs.Datacenter(dc), structs.ServerAddr(rpcAddr), rpcmux.RPCGossip)
	}
	if s.gw, err = NewGatewayTransport(gcfg); err != nil {
		t.Fatal(err)
	}
	mcfg := rpcmux.DefaultConfig()
	mcfg.Gossip = s.gw.HandleConn
	mux, err := rpcmux.New(mcfg, noCalls{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = mux.Serve(ln) }()

	cfg := testConfig(node, dc, ip, n)
	cfg.Gossip.BindPort = port
	cfg.ServerPort = ln.Addr().(*net.TCPAddr).Port
	cfg.Gossip.WrapTransport = func(b memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
		return &firewall{NodeAwareTransport: b, dc: dc, dcOfIP: c.dcOf, refused: &c.refused}
	}
	cfg.Gateway = s.gw
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.pool = p
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
		_ = mux.Shutdown(ctx)
		_ = rpool.Shutdown(ctx)
	})
	return s
}

func (s *gwServer) remote() RemoteServer {
	return RemoteServer{Name: s.pool.LocalName(), RPCAddr: s.rpcAddr, GossipAddr: s.gossip}
}

func aliveNames(p *Pool) []string {
	var out []string
	for _, m := range p.Members() {
		if m.Status == structs.StatusAlive {
			out = append(out, m.Name)
		}
	}
	return out
}

// Three datacenters whose servers cannot reach each other directly
// federate through the gateway seam: they join, converge, and a dead
// server of another datacenter is detected; every cross-DC packet and
// stream went through the seam and none directly.
func TestGatewayTransportFederates(t *testing.T) {
	c := &gwCluster{t: t, dcOfIP: map[string]string{}}
	a1 := c.start("s1", "dc1", "127.0.32.41", 1)
	a2 := c.start("s2", "dc1", "127.0.32.42", 2)
	b1 := c.start("s1", "dc2", "127.0.32.43", 3)
	c1 := c.start("s1", "dc3", "127.0.32.44", 4)
	all := []*gwServer{a1, a2, b1, c1}

	// Same datacenter: direct, by address.
	if _, err := a2.pool.Join([]string{a1.gossip}, true); err != nil {
		t.Fatalf("dc1 join: %v", err)
	}
	// A plain join of another datacenter's address is cut off.
	if _, err := b1.pool.Join([]string{a1.gossip}, true); err == nil {
		t.Fatal("direct cross-DC join got through the firewall")
	}
	// Through the gateways: by name, RPC address hinted.
	for _, s := range []*gwServer{b1, c1} {
		if _, err := s.pool.JoinThroughGateways([]RemoteServer{a1.remote()}); err != nil {
			t.Fatalf("%s join through gateways: %v", s.pool.LocalName(), err)
		}
	}
	gossiptest.WaitFor(t, 15*time.Second, func() (bool, string) {
		for _, s := range all {
			if n := aliveNames(s.pool); len(n) != 4 {
				return false, fmt.Sprintf("%s sees alive %v", s.pool.LocalName(), n)
			}
		}
		return true, ""
	})
	// dc2 and dc3 talk to each other too (probes, gossip), through the
	// gateways; they learned each other's RPC address from the members.
	gossiptest.WaitFor(t, 10*time.Second, func() (bool, string) {
		for _, s := range []*gwServer{b1, c1} {
			st := s.gw.Stats()
			if st.PacketsSent == 0 || st.PacketsReceived == 0 || st.StreamsDialed == 0 || st.StreamsAccepted == 0 {
				return false, fmt.Sprintf("%s: %+v", s.pool.LocalName(), st)
			}
		}
		return true, ""
	})
	for _, s := range all {
		st := s.gw.Stats()
		t.Logf("%s: seam dials %d, %+v", s.pool.LocalName(), s.dials.Load(), st)
		if s.dials.Load() == 0 {
			t.Errorf("%s never dialed through the seam", s.pool.LocalName())
		}
	}
	refusedBefore := c.refused.Load()
	sentBefore := b1.gw.Stats().PacketsSent
	gossiptest.WaitFor(t, 5*time.Second, func() (bool, string) {
		return b1.gw.Stats().PacketsSent > sentBefore+20, "dc2 sends little through the gateways"
	})
	// Once everyone knows everyone's RPC address nothing tries the
	// direct way any more.
	if r := c.refused.Load() - refusedBefore; r != 0 {
		t.Errorf("%d direct cross-DC attempts after convergence", r)
	}

	// A dead server of dc3 is detected by the others through the
	// gateways.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c1.pool.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	gossiptest.WaitFor(t, 15*time.Second, func() (bool, string) {
		for _, s := range []*gwServer{a1, a2, b1} {
			for _, m := range s.pool.Members() {
				if m.Name == "s1.dc3" && m.Status != structs.StatusFailed {
					return false, fmt.Sprintf("%s sees s1.dc3 %s", s.pool.LocalName(), m.Status)
				}
			}
		}
		return true, ""
	})
}

// pipeEnd accepts gossip conns as the server port would hand them over
// (after the gossip byte) and serves them with a receiving transport.
func pipeEnd(t *testing.T, recv *GatewayTransport) (addr string, dials *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.32.51:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go recv.HandleConn(c)
		}
	}()
	return ln.Addr().String(), new(atomic.Int64)
}

// nullBase is a base transport that must not be used.
type nullBase struct {
	memberlist.NodeAwareTransport
	used atomic.Int64
	pch  chan *memberlist.Packet
	sch  chan net.Conn
}

func newNullBase() *nullBase {
	return &nullBase{pch: make(chan *memberlist.Packet), sch: make(chan net.Conn)}
}
func (n *nullBase) WriteToAddress([]byte, memberlist.Address) (time.Time, error) {
	n.used.Add(1)
	return time.Now(), nil
}
func (n *nullBase) DialAddressTimeout(memberlist.Address, time.Duration) (net.Conn, error) {
	n.used.Add(1)
	return nil, errors.New("null")
}
func (n *nullBase) PacketCh() <-chan *memberlist.Packet { return n.pch }
func (n *nullBase) StreamCh() <-chan net.Conn           { return n.sch }
func (n *nullBase) Shutdown() error                     { return nil }

func newTestGateway(t *testing.T, dc, adv string, dial GatewayDialFunc, mod func(*GatewayConfig)) (*GatewayTransport, *nullBase) {
	t.Helper()
	cfg := DefaultGatewayConfig()
	cfg.Datacenter, cfg.AdvertiseAddr, cfg.Dial = dc, adv, dial
	cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	if mod != nil {
		mod(&cfg)
	}
	g, err := NewGatewayTransport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := newNullBase()
	g.Wrap(base)
	t.Cleanup(func() { _ = g.Shutdown() })
	return g, base
}

// Packets to a member of another DC travel the pipe with the sender's
// address as From; local-DC and unknown names go to the base; an idle
// pipe closes and the next packet dials again.
func TestGatewayPipeRoutingAndIdle(t *testing.T) {
	recv, _ := newTestGateway(t, "dc2", "127.0.32.51:9000", func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("unused")
	}, nil)
	addr, _ := pipeEnd(t, recv)
	var dials atomic.Int64
	send, base := newTestGateway(t, "dc1", "127.0.32.50:8302", func(ctx context.Context, dc, rpcAddr string) (net.Conn, error) {
		if dc != "dc2" || rpcAddr != "10.0.0.9:8300" {
			return nil, fmt.Errorf("dial %s %s", dc, rpcAddr)
		}
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}, func(c *GatewayConfig) { c.IdleTimeout = 300 * time.Millisecond })
	send.HintRPCAddr("n1.dc2", "10.0.0.9:8300")

	for i := range 5 {
		if _, err := send.WriteToAddress([]byte("pkt"+strconv.Itoa(i)), memberlist.Address{Addr: "10.0.0.9:8302", Name: "n1.dc2"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		select {
		case p := <-recv.PacketCh():
			if string(p.Buf) != "pkt"+strconv.Itoa(i) || p.From.String() != "127.0.32.50:8302" || p.From.Network() != "udp" {
				t.Fatalf("packet %d: %q from %v", i, p.Buf, p.From)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("packet %d not delivered", i)
		}
	}
	// Local DC, unknown names, names without a DC: the base.
	for _, name := range []string{"n2.dc1", "n9.dc2", "nodc", ""} {
		_, _ = send.WriteToAddress([]byte("x"), memberlist.Address{Addr: "10.0.0.1:8302", Name: name})
	}
	if base.used.Load() != 4 {
		t.Fatalf("base used %d times, want 4", base.used.Load())
	}
	if dials.Load() != 1 || send.Stats().Pipes != 1 {
		t.Fatalf("dials %d pipes %d", dials.Load(), send.Stats().Pipes)
	}
	gossiptest.WaitFor(t, 5*time.Second, func() (bool, string) {
		return send.Stats().Pipes == 0, "idle pipe still open"
	})
	_, _ = send.WriteToAddress([]byte("again"), memberlist.Address{Addr: "10.0.0.9:8302", Name: "n1.dc2"})
	select {
	case p := <-recv.PacketCh():
		if string(p.Buf) != "again" {
			t.Fatalf("got %q", p.Buf)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("packet after idle close not delivered")
	}
	if dials.Load() != 2 {
		t.Fatalf("dials %d, want 2 (one after the idle close)", dials.Load())
	}

	// A stream: 's', handed to the receiver's StreamCh.
	conn, err := send.DialAddressTimeout(memberlist.Address{Addr: "10.0.0.9:8302", Name: "n1.dc2"}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	select {
	case sc := <-recv.StreamCh():
		defer sc.Close()
		_, _ = conn.Write([]byte("hi"))
		buf := make([]byte, 2)
		_ = sc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(sc, buf); err != nil || string(buf) != "hi" {
			t.Fatalf("stream read %q %v", buf, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream not delivered")
	}
}

// A dial that hangs never blocks memberlist's caller: packets queue,
// those over the queue are dropped, and WriteToAddress returns at once.
func TestGatewayPipeNeverBlocksSender(t *testing.T) {
	release := make(chan struct{})
	send, _ := newTestGateway(t, "dc1", "127.0.32.50:8302", func(ctx context.Context, dc, rpcAddr string) (net.Conn, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, errors.New("no gateway")
	}, func(c *GatewayConfig) { c.QueueSize = 8 })
	defer close(release)
	send.HintRPCAddr("n1.dc2", "10.0.0.9:8300")
	t0 := time.Now()
	for range 100 {
		_, _ = send.WriteToAddress([]byte("p"), memberlist.Address{Addr: "10.0.0.9:8302", Name: "n1.dc2"})
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("100 writes took %v", d)
	}
	if st := send.Stats(); st.PacketsDropped < 100-8-1 {
		t.Fatalf("dropped %d, want at least %d", st.PacketsDropped, 100-8-1)
	}
}

// A bad pipe preamble or an oversized frame closes the connection.
func TestGatewayHandleConnRefusesGarbage(t *testing.T) {
	recv, _ := newTestGateway(t, "dc2", "127.0.32.51:9000", func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("unused")
	}, nil)
	for name, pre := range map[string][]byte{
		"unknown kind": {'x'},
		"bad from":     append([]byte{'p', 0, 3}, "abc"...),
		"huge frame":   binary.BigEndian.AppendUint32(append([]byte{'p', 0, 14}, "127.0.0.1:8302"...), MaxGossipPacket+1),
	} {
		cli, srv := net.Pipe()
		done := make(chan struct{})
		go func() { recv.HandleConn(srv); close(done) }()
		go func() { _, _ = cli.Write(pre) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: HandleConn did not return", name)
		}
		_ = cli.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := cli.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
			t.Fatalf("%s: conn not closed: %v", name, err)
		}
		cli.Close()
	}
}
