package gossip

import (
	"log"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
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
