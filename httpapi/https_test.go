package httpapi

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
	"consulate/structs"

	"consulate/internal/testcerts"
)

// startHTTPS serves cfg over HTTPS on host (port 0) and returns the
// address.
func startHTTPS(t *testing.T, cfg Config, host string) string {
	t.Helper()
	srv := mustNew(t, cfg, newFakeAgent())
	if err := srv.StartHTTPS([]string{host + ":0"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv.Addrs()[0].String()
}

func TestHTTPSWithOfficialClient(t *testing.T) {
	ca := testcerts.NewCA(t)
	var current atomic.Pointer[tls.Config]
	current.Store(ca.ServerConfig(ca.Leaf(t, "server.dc1.consul"), true))
	cfg := DefaultConfig()
	cfg.HTTPSConfig = current.Load
	addr := startHTTPS(t, cfg, "127.0.0.90")

	caFile, certFile, keyFile := ca.WriteFiles(t, "client.dc1.consul")
	newClient := func(tc api.TLSConfig) *api.Client {
		c, err := api.NewClient(&api.Config{Address: addr, Scheme: "https", TLSConfig: tc})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := newClient(api.TLSConfig{CAFile: caFile, CertFile: certFile, KeyFile: keyFile})
	leader, err := c.Status().Leader()
	if err != nil || leader != "127.0.0.11:8300" {
		t.Fatalf("leader over HTTPS = %q, %v", leader, err)
	}
	if _, err := c.Agent().Self(); err != nil {
		t.Fatalf("agent self over HTTPS: %v", err)
	}

	// verify_incoming: a client without a certificate is refused.
	if _, err := newClient(api.TLSConfig{CAFile: caFile}).Status().Leader(); err == nil {
		t.Fatal("client without certificate was served")
	}
	// A client that does not trust the CA refuses the server.
	if _, err := newClient(api.TLSConfig{CertFile: certFile, KeyFile: keyFile}).Status().Leader(); err == nil {
		t.Fatal("client without the CA trusted the server")
	}
	// Plain HTTP on the HTTPS port gets nothing useful.
	if resp, err := http.Get("http://" + addr + "/v1/status/leader"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served on the HTTPS port")
		}
	}

	// Reload: new connections get the new certificate; the client does
	// not need a certificate any more.
	before := peerSerial(t, addr, caFile, certFile, keyFile)
	current.Store(ca.ServerConfig(ca.Leaf(t, "server.dc1.consul"), false))
	after := peerSerial(t, addr, caFile, certFile, keyFile)
	if before == after {
		t.Fatalf("certificate serial %s unchanged after reload", before)
	}
	if _, err := newClient(api.TLSConfig{CAFile: caFile}).Status().Leader(); err != nil {
		t.Fatalf("after reload without verify_incoming: %v", err)
	}
	// The first client's pooled connection still works.
	if _, err := c.Status().Leader(); err != nil {
		t.Fatalf("old client after reload: %v", err)
	}

	// No config: handshakes fail, the listener stays up.
	current.Store(nil)
	if _, err := newClient(api.TLSConfig{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}).Status().Leader(); err == nil {
		t.Fatal("served without a TLS config")
	}
}

// peerSerial dials addr over TLS and returns the serial of the server's
// certificate.
func peerSerial(t *testing.T, addr, caFile, certFile, keyFile string) string {
	t.Helper()
	tc, err := api.SetupTLSConfig(&api.TLSConfig{CAFile: caFile, CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	tc.ServerName = "server.dc1.consul"
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, tc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func TestStartHTTPSNeedsConfig(t *testing.T) {
	srv := mustNew(t, DefaultConfig(), newFakeAgent())
	if err := srv.StartHTTPS([]string{"127.0.0.90:0"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("StartHTTPS without HTTPSConfig = %v", err)
	}
	cfg := DefaultConfig()
	cfg.MaxConnsPerClient = -1
	if _, err := New(cfg, newFakeAgent(), nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("negative MaxConnsPerClient = %v", err)
	}
}

// getOn sends a GET on an open connection and returns the status line.
func getOn(t *testing.T, c net.Conn, r *bufio.Reader) string {
	t.Helper()
	if _, err := io.WriteString(c, "GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Status
}

func TestMaxConnsPerClient(t *testing.T) {
	const limit = 3
	ca := testcerts.NewCA(t)
	cfg := DefaultConfig()
	cfg.MaxConnsPerClient = limit
	serverTLS := ca.ServerConfig(ca.Leaf(t, "server.dc1.consul"), false)
	cfg.HTTPSConfig = func() *tls.Config { return serverTLS }
	srv := mustNew(t, cfg, newFakeAgent())
	if err := srv.Start([]string{"127.0.0.91:0"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.StartHTTPS([]string{"127.0.0.91:0"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	httpAddr, httpsAddr := srv.Addrs()[0].String(), srv.Addrs()[1].String()
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	clientTLS := &tls.Config{RootCAs: pool, ServerName: "server.dc1.consul"}

	// The limit is per client IP across both listeners: two plain and
	// one TLS connection fill it.
	var open []net.Conn
	for i := range limit {
		var c net.Conn
		if i == limit-1 {
			tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", httpsAddr, clientTLS)
			if err != nil {
				t.Fatal(err)
			}
			c = tc
			t.Cleanup(func() { c.Close() })
		} else {
			c = dial(t, httpAddr)
		}
		c.SetDeadline(time.Now().Add(15 * time.Second))
		if st := getOn(t, c, bufio.NewReader(c)); st != "200 OK" {
			t.Fatalf("connection %d: %s", i, st)
		}
		open = append(open, c)
	}

	// One more, plain or TLS, reads a 429 and is closed.
	extra := dial(t, httpAddr)
	resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("connection over the limit: %+v, %v", resp, err)
	}
	tlsExtra, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", httpsAddr, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer tlsExtra.Close()
	tlsExtra.SetDeadline(time.Now().Add(5 * time.Second))
	body, _ := io.ReadAll(tlsExtra)
	if !strings.HasPrefix(string(body), "HTTP/1.1 429") {
		t.Fatalf("TLS connection over the limit read %q", body)
	}

	// After one closes, a new connection is served.
	open[0].Close()
	testutil.WaitForErr(t, 5*time.Second, "a new connection served after one closed", func() error {
		c, err := net.DialTimeout("tcp", httpAddr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(c, "GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	})
}

// limitedAgent refuses every RPC as a server over its request limits
// would, the error having crossed the wire.
type limitedAgent struct{ *fakeAgent }

func (limitedAgent) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	return structs.ToRemoteError(fmt.Errorf("%w: global/read", structs.ErrRateLimited))
}

func TestRateLimitedIs429(t *testing.T) {
	srv := mustNew(t, DefaultConfig(), limitedAgent{newFakeAgent()})
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/catalog/nodes", nil))
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "rate limit exceeded") {
		t.Fatalf("rate-limited RPC answered %d %q", rec.Code, rec.Body.String())
	}
}
