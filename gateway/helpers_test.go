package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"consulate/internal/testutil"
)

// Test addresses: 127.0.31.x only.
const (
	ipClient = "127.0.31.10"
)

// fakeLocal is a mutable Local view.
type fakeLocal struct {
	mu    sync.Mutex
	local Local
}

func (f *fakeLocal) get() Local {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := Local{Gateways: append([]string(nil), f.local.Gateways...)}
	l.Servers = append(l.Servers, f.local.Servers...)
	return l
}

func (f *fakeLocal) addServer(name, addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.local.Servers = append(f.local.Servers, LocalServer{Name: name, Addr: addr, GossipAddr: "", Alive: true})
}

func (f *fakeLocal) setAlive(addr string, alive bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.local.Servers {
		if f.local.Servers[i].Addr == addr {
			f.local.Servers[i].Alive = alive
		}
	}
}

func (f *fakeLocal) setGateways(gws ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.local.Gateways = gws
}

// echoServer is a fake server: it echoes every byte and, on EOF, closes
// its write side. It records the remote IPs it saw.
type echoServer struct {
	ln    net.Listener
	mu    sync.Mutex
	peers []string
	wg    sync.WaitGroup
}

func newEcho(t testing.TB, ip string) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{ln: ln}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.peers = append(e.peers, c.RemoteAddr().(*net.TCPAddr).IP.String())
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		e.wg.Wait()
	})
	return e
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }

func (e *echoServer) seen() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.peers...)
}

// testConfig has shrunken timers.
func testConfig(dc, ip string, local *fakeLocal, peers ...string) *Config {
	cfg := DefaultConfig()
	cfg.Datacenter = dc
	cfg.BindAddr = net.ParseIP(ip)
	cfg.Port = 0
	cfg.Peers = peers
	cfg.ProbeInterval = 100 * time.Millisecond
	cfg.DialTimeout = 300 * time.Millisecond
	cfg.HandshakeTimeout = time.Second
	cfg.Local = local.get
	return cfg
}

// startGW starts a gateway and shuts it down at the end of the test.
func startGW(t testing.TB, cfg *Config) *Gateway {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, g) })
	return g
}

func shutdown(t testing.TB, g *Gateway) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Errorf("shutdown of %s: %v", g.Advertise(), err)
	}
}

func newDialer(t *testing.T, gws ...string) *Dialer {
	t.Helper()
	d, err := NewDialer(DialerConfig{Source: net.ParseIP(ipClient), Gateways: func() []string { return gws }, DialTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// waitRoute waits until g routes dc with the given via and first hop
// ("" any).
func waitRoute(t testing.TB, g *Gateway, dc, via, first string) {
	t.Helper()
	testutil.WaitForErr(t, 5*time.Second, "route to "+dc, func() error {
		for _, r := range g.Routes() {
			if r.DC == dc && r.Via == via && len(r.Gateways) > 0 && (first == "" || r.Gateways[0] == first) {
				return nil
			}
		}
		return errors.New(routesString(g.Routes()))
	})
}

func routesString(rs []Route) string {
	s := "routes:"
	for _, r := range rs {
		s += " " + r.DC + "(via=" + r.Via + ")"
		for _, g := range r.Gateways {
			s += " " + g
		}
		s += ";"
	}
	return s
}

// echoCheck writes msg on c, half-closes, and expects msg back then EOF.
func echoCheck(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading echo: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
}

// rawDial connects from the test client's address.
func rawDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ipClient)}, Timeout: time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// hops is how many hops hold connections in s.
func (s *viaSet) hops() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.via)
}
