package autoencrypt

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"consulate/internal/testutil"
	"consulate/rpcmux"
	"consulate/server"
	"consulate/structs"
	"consulate/tlsutil"
)

func TestServerAddrs(t *testing.T) {
	got := ServerAddrs([]string{"10.0.0.1", "10.0.0.1:8301", "[::1]:8301", "::2", "provider=aws tag_key=x", " ", "h.example"}, 8300)
	want := []string{"10.0.0.1:8300", "[::1]:8300", "[::2]:8300", "h.example:8300"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestRenewAt(t *testing.T) {
	now := time.Now()
	nb, na := now.Add(-time.Minute), now.Add(4*time.Second)
	if got := renewAt(now, nb, na); !got.Equal(now.Add(2 * time.Second)) {
		t.Fatalf("renewAt %v, want half of what is left", got.Sub(now))
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(DefaultConfig(), Deps{}); err == nil {
		t.Fatal("empty config accepted")
	}
}

func TestBootstrapWithoutServersFailsAtOnce(t *testing.T) {
	dir := t.TempDir()
	caPEM, _, err := tlsutil.GenerateCA(tlsutil.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, []byte(caPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	conf, err := tlsutil.NewConfigurator(tlsutil.Config{Datacenter: "dc1", InternalRPC: tlsutil.ProtocolConfig{CAFile: caFile}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Datacenter, cfg.NodeName = "dc1", "n"
	cfg.Servers = func() []string { return nil }
	c, err := New(cfg, Deps{TLS: conf})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Bootstrap(context.Background()); !errors.Is(err, ErrNoServers) {
		t.Fatalf("%v, want ErrNoServers", err)
	}
}

// TestBootstrapAndRenew runs a real server with allow_tls and every
// verification on: a client with only the CA obtains a certificate, makes
// TLS calls with it, and renews it before it expires.
func TestBootstrapAndRenew(t *testing.T) {
	dir := t.TempDir()
	caPEM, caKey, err := tlsutil.GenerateCA(tlsutil.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := tlsutil.GenerateCert(tlsutil.CertOptions{CACertPEM: caPEM, CAKeyPEM: caKey, Kind: tlsutil.CertServer, Datacenter: "dc1"})
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", caPEM)
	srvTLS, err := tlsutil.NewConfigurator(tlsutil.Config{Datacenter: "dc1", InternalRPC: tlsutil.ProtocolConfig{
		CAFile: caFile, CertFile: write("s.pem", certPEM), KeyFile: write("s-key.pem", keyPEM),
		VerifyIncoming: true, VerifyOutgoing: true, VerifyServerHostname: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}

	scfg := server.DefaultConfig()
	scfg.NodeName = "ae-srv"
	scfg.Bootstrap = true
	scfg.AutoEncryptAllowTLS = true
	scfg.AutoEncryptCertTTL = 3 * time.Second
	rc := raft.DefaultConfig()
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	scfg.RaftConfig = rc
	scfg.RPC.TLS = srvTLS.IncomingRPCConfig
	scfg.RPC.RequireTLS = srvTLS.RequireIncomingRPCTLS
	ln, err := net.Listen("tcp", "127.0.0.154:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(scfg, server.Deps{Listener: ln, AutoEncrypt: srvTLS})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	addr := ln.Addr().String()

	cliTLS, err := tlsutil.NewConfigurator(tlsutil.Config{Datacenter: "dc1", InternalRPC: tlsutil.ProtocolConfig{
		CAFile: caFile, VerifyServerHostname: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pcfg := rpcmux.DefaultPoolConfig()
	pcfg.TLS = func(dc structs.Datacenter) (*tls.Config, error) { return cliTLS.OutgoingRPCConfig(string(dc)) }
	pool, err := rpcmux.NewPool(pcfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pool.Shutdown(ctx)
	})
	call := func(ctx context.Context, method structs.Method, args, reply any) error {
		return pool.Call(ctx, "dc1", structs.ServerAddr(addr), method, args, reply)
	}

	// Before a certificate, the pool dials plaintext, which is refused.
	var ok bool
	kv := &structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "k", Value: []byte("v")}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := call(ctx, structs.MethodKVSApply, kv, &ok); err == nil {
		t.Fatal("a call without a certificate succeeded")
	}
	cancel()

	cfg := DefaultConfig()
	cfg.Datacenter, cfg.NodeName = "dc1", "ae-cli"
	cfg.Servers = func() []string { return []string{"127.0.0.154:1", addr} } // the first refuses
	cfg.RetryMin, cfg.RetryMax = 50*time.Millisecond, 500*time.Millisecond
	c, err := New(cfg, Deps{TLS: cliTLS, RPC: call})
	if err != nil {
		t.Fatal(err)
	}
	bctx, bcancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer bcancel()
	if err := c.Bootstrap(bctx); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	first := cliTLS.AutoEncryptLeaf()
	if first == nil || !slices.Contains(first.DNSNames, "client.dc1.consul") {
		t.Fatalf("leaf %v", first)
	}
	testutil.WaitForErr(t, 5*time.Second, "a KV write over TLS with the certificate", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return call(ctx, structs.MethodKVSApply, kv, &ok)
	})

	c.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	testutil.WaitFor(t, 10*time.Second, "the certificate renewed", func() bool {
		cur := cliTLS.AutoEncryptLeaf()
		return cur != nil && cur.SerialNumber.Cmp(first.SerialNumber) != 0
	})
}
