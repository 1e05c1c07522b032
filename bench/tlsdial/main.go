// Command tlsdial measures how many TLS handshakes per second a server
// port sustains: -c workers each dial, write the TLS byte, complete the
// handshake (with a client certificate) and close, for -d. Loopback only.
//
//	go run ./bench/tlsdial -addr 127.0.0.1:8300 -ca ca.pem -cert c.pem -key c-key.pem -c 8 -d 10s
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8300", "server port (loopback only)")
	caFile := flag.String("ca", "", "CA certificate (PEM)")
	certFile := flag.String("cert", "", "client certificate (PEM)")
	keyFile := flag.String("key", "", "client key (PEM)")
	serverName := flag.String("server-name", "server.dc1.consul", "name to verify")
	workers := flag.Int("c", 8, "concurrent dialers")
	dur := flag.Duration("d", 10*time.Second, "duration (at most 5m)")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fail("-addr must be a loopback host:port")
	}
	if *dur > 5*time.Minute || *workers < 1 || *workers > 256 {
		fail("-d at most 5m, -c 1..256")
	}
	caPEM, err := os.ReadFile(*caFile)
	if err != nil {
		fail(err.Error())
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fail(err.Error())
	}
	cfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, ServerName: *serverName,
		ClientSessionCache: nil} // every handshake a full one
	var ok, bad atomic.Int64
	deadline := time.Now().Add(*dur)
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if handshake(*addr, cfg) == nil {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("handshakes=%d errors=%d rate=%.0f/s c=%d d=%s\n", ok.Load(), bad.Load(),
		float64(ok.Load())/dur.Seconds(), *workers, *dur)
}

func handshake(addr string, cfg *tls.Config) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte{3}); err != nil {
		return err
	}
	tc := tls.Client(c, cfg)
	if err := tc.Handshake(); err != nil {
		return err
	}
	// The inner byte (plain RPC) so the server finishes its side too.
	_, err = tc.Write([]byte{0})
	return err
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "tlsdial:", msg)
	os.Exit(2)
}
