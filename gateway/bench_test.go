package gateway

import (
	"context"
	"io"
	"testing"
	"time"
)

// BenchmarkThroughTwoGateways: bytes from a client through its gateway
// and a remote one to an echo server and back (64 KiB per op).
func BenchmarkThroughTwoGateways(b *testing.B) {
	a, _, srv, _ := twoDCs(b)
	d, err := NewDialer(DialerConfig{Gateways: func() []string { return []string{a.Advertise()} }, DialTimeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	c, err := d.Dial(context.Background(), "dc2", srv.addr())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	back := make([]byte, len(buf))
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		go c.Write(buf)
		if _, err := io.ReadFull(c, back); err != nil {
			b.Fatal(err)
		}
	}
}
