package gossip

import (
	"fmt"
	"log"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"consulate/gossip/gossiptest"
	"consulate/structs"
)

// Stream dials (push-pull, fallback probes, joins) leave from the bind
// address, like the UDP packets, so rules on the agent's address cut them.
func TestBoundTransportDialsFromBindAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Addr, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		accepted <- c.RemoteAddr()
		c.Close()
	}()

	mc := memberlist.DefaultLANConfig()
	mc.Logger = log.New(testWriter{t}, "", 0)
	bind := net.ParseIP("127.0.0.57")
	bt, err := newBoundTransport(mc, bind, freePort(t, bind))
	if err != nil {
		t.Fatal(err)
	}
	defer bt.Shutdown()

	conn, err := bt.DialAddressTimeout(memberlist.Address{Addr: ln.Addr().String(), Name: "x"}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	select {
	case ra := <-accepted:
		if got := ra.(*net.TCPAddr).IP; !got.Equal(bind) {
			t.Fatalf("stream came from %v, want the bind address %v", got, bind)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("listener saw no connection")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// freePort finds a port free for both TCP and UDP on ip.
func freePort(t *testing.T, ip net.IP) int {
	t.Helper()
	for range 20 {
		tl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip})
		if err != nil {
			t.Fatal(err)
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
		tl.Close()
		if err == nil {
			ul.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// countingTransport counts what memberlist sends through it.
type countingTransport struct {
	memberlist.NodeAwareTransport
	packets, streams atomic.Int64
}

func (c *countingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	c.packets.Add(1)
	return c.NodeAwareTransport.WriteToAddress(b, a)
}

func (c *countingTransport) DialAddressTimeout(a memberlist.Address, d time.Duration) (net.Conn, error) {
	c.streams.Add(1)
	return c.NodeAwareTransport.DialAddressTimeout(a, d)
}

// WrapTransport wraps the transport memberlist runs on, bound (a fixed
// port) or not (port 0).
func TestWrapTransport(t *testing.T) {
	for _, fixed := range []bool{true, false} {
		var wraps []*countingTransport
		var bases []memberlist.NodeAwareTransport
		mk := func(name, ip string) *Pool {
			cfg := testConfig(name, ip)
			if fixed {
				cfg.BindPort = freePort(t, net.ParseIP(ip))
			}
			cfg.WrapTransport = func(base memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
				bases = append(bases, base)
				w := &countingTransport{NodeAwareTransport: base}
				wraps = append(wraps, w)
				return w
			}
			return newTestPool(t, cfg)
		}
		a := mk("a", "127.0.32.21")
		b := mk("b", "127.0.32.22")
		if _, err := a.Join([]string{addrOf(b)}, false); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, []*Pool{a, b}, "b", structs.StatusAlive, 5*time.Second)
		if len(wraps) != 2 {
			t.Fatalf("WrapTransport called %d times, want 2", len(wraps))
		}
		if _, ok := bases[0].(*boundTransport); ok != fixed {
			t.Fatalf("fixed port %v: base is %T", fixed, bases[0])
		}
		gossiptest.WaitFor(t, 5*time.Second, func() (bool, string) {
			return wraps[0].packets.Load() > 0 && wraps[0].streams.Load() > 0,
				fmt.Sprintf("packets %d streams %d", wraps[0].packets.Load(), wraps[0].streams.Load())
		})
	}
}
