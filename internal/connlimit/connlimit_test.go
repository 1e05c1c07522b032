package connlimit

import (
	"net"
	"testing"
)

type addrConn struct {
	net.Conn
	addr net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.addr }
func (c addrConn) Close() error         { return nil }

func tcp(ip string, port int) net.Conn {
	return addrConn{addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: port}}
}

func TestLimiter(t *testing.T) {
	l := New(2)
	a, _, ok1 := l.Acquire(tcp("127.0.0.5", 1))
	b, _, ok2 := l.Acquire(tcp("127.0.0.5", 2))
	if !ok1 || !ok2 {
		t.Fatal("first two refused")
	}
	if _, ip, ok := l.Acquire(tcp("127.0.0.5", 3)); ok || ip != "127.0.0.5" {
		t.Fatalf("third admitted (%q)", ip)
	}
	if _, _, ok := l.Acquire(tcp("127.0.0.6", 1)); !ok {
		t.Fatal("another IP refused")
	}
	if l.Open() != 3 {
		t.Fatalf("open = %d", l.Open())
	}
	a.Close()
	a.Close() // a second Close frees nothing more
	if l.Open() != 2 {
		t.Fatalf("open after close = %d", l.Open())
	}
	if _, _, ok := l.Acquire(tcp("127.0.0.5", 4)); !ok {
		t.Fatal("slot not given back")
	}
	b.Close()
	if c, ip, ok := l.Acquire(addrConn{addr: &net.UnixAddr{Name: "@", Net: "unix"}}); !ok || ip != "" || c == nil {
		t.Fatal("a Unix socket must not be counted")
	}
	unlimited := New(0)
	for i := 0; i < 100; i++ {
		if _, _, ok := unlimited.Acquire(tcp("127.0.0.7", i)); !ok {
			t.Fatal("unlimited refused")
		}
	}
	if unlimited.Open() != 100 {
		t.Fatalf("unlimited open = %d", unlimited.Open())
	}
}
