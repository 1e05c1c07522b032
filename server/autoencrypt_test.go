package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"sync"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
	"consulate/tlsutil"
)

// fakeAutoTLS records the extra roots the server sets.
type fakeAutoTLS struct {
	mu    sync.Mutex
	extra []byte
}

func (f *fakeAutoTLS) ManualCARoots() []string { return []string{"manual-root"} }
func (f *fakeAutoTLS) SetExtraIncomingRoots(p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.extra = p
	return nil
}
func (f *fakeAutoTLS) InsecureRPCConfig() *tls.Config { return nil }
func (f *fakeAutoTLS) trusted() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.extra
}

func autoEncryptServer(t *testing.T) (*Server, *fakeAutoTLS) {
	t.Helper()
	cfg := testConfig("ae1")
	cfg.Bootstrap = true
	cfg.AutoEncryptAllowTLS = true
	fake := &fakeAutoTLS{}
	s := startServer(t, cfg, Deps{AutoEncrypt: fake})
	waitLeader(t, s)
	return s, fake
}

// The leader creates the CA, the port trusts it, and AutoEncrypt.Sign
// signs a client's request with it, returning both kinds of roots.
func TestAutoEncryptSign(t *testing.T) {
	s, fake := autoEncryptServer(t)
	testutil.WaitFor(t, 5*time.Second, "CA created and trusted", func() bool {
		_, ca, _ := s.State().AutoEncryptCA(nil)
		return ca != nil && string(fake.trusted()) == ca.CertPEM
	})
	csr, _, err := tlsutil.GenerateCSR("client.dc1.consul", []string{"client.dc1.consul"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var reply structs.AutoEncryptSignResponse
	rpc(t, s, structs.MethodAutoEncryptSign, &structs.AutoEncryptSignRequest{Datacenter: "dc1", NodeName: "c1", CSR: csr}, &reply)
	if len(reply.ManualCARoots) != 1 || reply.ManualCARoots[0] != "manual-root" || len(reply.Roots) != 1 {
		t.Fatalf("roots %v %v", reply.ManualCARoots, reply.Roots)
	}
	if d := reply.IssuedCert.ValidBefore.Sub(reply.IssuedCert.ValidAfter); d < 72*time.Hour || d > 73*time.Hour {
		t.Fatalf("validity %v", d)
	}
	b, _ := pem.Decode([]byte(reply.IssuedCert.CertPEM))
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(reply.Roots[0]))
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "client.dc1.consul", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("issued certificate does not verify: %v", err)
	}

	// A request for a server's name is a bad request.
	evil, _, _ := tlsutil.GenerateCSR("server.dc1.consul", []string{"server.dc1.consul"}, nil)
	var bad *structs.BadRequestError
	err = s.RPC(context.Background(), structs.MethodAutoEncryptSign, &structs.AutoEncryptSignRequest{CSR: evil}, &reply)
	if !errors.As(err, &bad) {
		t.Fatalf("server name: %v, want a bad request", err)
	}
	// Another datacenter is refused, not forwarded.
	err = s.RPC(context.Background(), structs.MethodAutoEncryptSign, &structs.AutoEncryptSignRequest{Datacenter: "dc2", CSR: csr}, &reply)
	if !errors.As(err, &bad) {
		t.Fatalf("other datacenter: %v, want a bad request", err)
	}
}

// Without allow_tls the endpoint refuses, and allow_tls without the TLS
// dependency is a config error.
func TestAutoEncryptSignNeedsAllowTLS(t *testing.T) {
	s := devServer(t)
	csr, _, _ := tlsutil.GenerateCSR("client.dc1.consul", nil, nil)
	err := s.RPC(context.Background(), structs.MethodAutoEncryptSign, &structs.AutoEncryptSignRequest{CSR: csr}, &structs.AutoEncryptSignResponse{})
	if !errors.Is(err, structs.ErrPermissionDenied) {
		t.Fatalf("%v, want ErrPermissionDenied", err)
	}
	if _, ca, _ := s.State().AutoEncryptCA(nil); ca != nil {
		t.Fatal("a CA was created without allow_tls")
	}
	cfg := testConfig("x")
	cfg.AutoEncryptAllowTLS = true
	if _, err := New(cfg, Deps{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("%v, want ErrInvalidConfig", err)
	}
}
