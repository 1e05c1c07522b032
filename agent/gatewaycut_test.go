package agent

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"consulate/config"
	"consulate/gateway"
)

// fakeLocalGateway answers every conn request OK and then holds the
// connection open, silent, until the test ends. Addresses: 127.0.38.x.
func fakeLocalGateway(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := gateway.ReadHeader(c); err != nil {
					return
				}
				if gateway.WriteStatus(c, &gateway.Status{OK: true}) != nil {
					return
				}
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}

// A local gateway that leaves the LAN view (failed or left) has the
// connections through it closed; those through the others stay.
func TestLocalGatewayGoneClosesConns(t *testing.T) {
	gw1 := fakeLocalGateway(t, "127.0.38.41")
	gw2 := fakeLocalGateway(t, "127.0.38.42")
	gws := []string{gw1}
	d, err := gateway.NewDialer(gateway.DialerConfig{Source: net.ParseIP("127.0.38.40"),
		Gateways: func() []string { return gws }, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c1, err := d.Dial(ctx, "dc2", "127.0.38.50:8300")
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	gws = []string{gw2}
	c2, err := d.Dial(ctx, "dc2", "127.0.38.50:8300")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()

	a := &Agent{cfg: &config.Runtime{ServerMode: true, GatewayFederation: true, Datacenter: "dc1"},
		logger: slog.New(slog.DiscardHandler), gwDialer: d}
	a.storeLocalGateways(&localGateways{addrs: []string{gw1, gw2}, at: time.Now()})
	a.storeLocalGateways(&localGateways{addrs: []string{gw2}, at: time.Now()})

	c1.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c1.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("conn through the gone gateway: read %v, want it closed", err)
	}
	c2.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c2.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("conn through the alive gateway: read %v, want it open (timeout)", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
