package netfault

import (
	"errors"
	"net"
	"testing"
	"time"
)

// A cut drops packets both ways between the named addresses only, and
// Heal lets them through again.
func TestPartitionCutsOnlyWhatItNames(t *testing.T) {
	Require(t)
	ln, err := net.Listen("tcp", "127.0.9.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dial := func(src string) error {
		d := net.Dialer{Timeout: 300 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err
	}

	n, err := New("test")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := dial("127.0.9.2"); err != nil {
		t.Fatalf("before the cut: %v", err)
	}
	if err := n.Partition([]string{"127.0.9.1"}, []string{"127.0.9.2"}); err != nil {
		t.Fatal(err)
	}
	if got := n.Cuts(); got != 2 {
		t.Fatalf("%d cuts, want 2", got)
	}
	err = dial("127.0.9.2")
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("a dial across the cut should time out (packets vanish), got %v", err)
	}
	if err := dial("127.0.9.3"); err != nil {
		t.Fatalf("an address outside the cut: %v", err)
	}
	if err := n.Heal(); err != nil {
		t.Fatal(err)
	}
	if err := dial("127.0.9.2"); err != nil {
		t.Fatalf("after heal: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestBadAddress(t *testing.T) {
	Require(t)
	n, err := New("bad")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Drop("127.0.0.1", "not-an-ip"); err == nil {
		t.Fatal("a bad address was accepted")
	}
	if err := n.Drop("127.0.0.1", "::1"); err == nil {
		t.Fatal("mixed families were accepted")
	}
}
