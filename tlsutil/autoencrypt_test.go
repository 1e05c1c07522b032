package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

func signOpts(t *testing.T) SignOptions {
	t.Helper()
	caPEM, keyPEM, err := GenerateCA(AutoEncryptCAOptions("consul"))
	if err != nil {
		t.Fatal(err)
	}
	return SignOptions{CACertPEM: caPEM, CAKeyPEM: keyPEM, Datacenter: "dc1", Domain: "consul", TTL: 72 * time.Hour}
}

func parsePEMCert(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatal("no PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSignCSR(t *testing.T) {
	opts := signOpts(t)
	csr, _, err := GenerateCSR("client.dc1.consul", []string{"client.dc1.consul", "localhost", "web.example"}, []net.IP{net.ParseIP("10.0.0.7")})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, nb, na, err := SignCSR(opts, csr)
	if err != nil {
		t.Fatalf("SignCSR: %v", err)
	}
	cert := parsePEMCert(t, certPEM)
	if got := na.Sub(nb); got < 72*time.Hour || got > 72*time.Hour+2*time.Minute {
		t.Fatalf("validity %v", got)
	}
	for _, n := range []string{"client.dc1.consul", "localhost", "web.example"} {
		if !slices.Contains(cert.DNSNames, n) {
			t.Fatalf("DNS names %v lack %s", cert.DNSNames, n)
		}
	}
	if len(cert.IPAddresses) != 2 || !cert.IPAddresses[1].Equal(net.ParseIP("10.0.0.7")) {
		t.Fatalf("IPs %v", cert.IPAddresses)
	}
	if !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		t.Fatalf("ext key usage %v", cert.ExtKeyUsage)
	}
	pool := x509.NewCertPool()
	pool.AddCert(parsePEMCert(t, opts.CACertPEM))
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "client.dc1.consul", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

func TestSignCSRRefusesServerNames(t *testing.T) {
	opts := signOpts(t)
	for _, name := range []string{"server.dc1.consul", "SERVER.dc1.consul.", "node1.server.dc1.consul", "server.dc2.consul", "*.dc1.consul", "*.example"} {
		csr, _, err := GenerateCSR("x", []string{name}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := SignCSR(opts, csr); !errors.Is(err, ErrBadCSR) {
			t.Errorf("%s: %v, want ErrBadCSR", name, err)
		}
	}
	// Not a server name: a label that merely contains "server".
	csr, _, _ := GenerateCSR("x", []string{"myserver.dc1.consul"}, nil)
	if _, _, _, err := SignCSR(opts, csr); err != nil {
		t.Errorf("myserver.dc1.consul: %v", err)
	}
}

func TestSignCSRRefusesBadRequests(t *testing.T) {
	opts := signOpts(t)
	if _, _, _, err := SignCSR(opts, "garbage"); !errors.Is(err, ErrBadCSR) {
		t.Fatalf("garbage: %v", err)
	}
	// A P-224 key is too small.
	small, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, small)
	if err != nil {
		t.Fatal(err)
	}
	csr := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	if _, _, _, err := SignCSR(opts, csr); !errors.Is(err, ErrBadCSR) {
		t.Fatalf("P-224: %v", err)
	}
	// A tampered request fails its signature check.
	good, _, _ := GenerateCSR("client.dc1.consul", []string{"localhost"}, nil)
	b, _ := pem.Decode([]byte(good))
	b.Bytes[len(b.Bytes)-5] ^= 0xff
	if _, _, _, err := SignCSR(opts, string(pem.EncodeToMemory(b))); !errors.Is(err, ErrBadCSR) {
		t.Fatalf("tampered: %v", err)
	}
}

// TestAutoEncryptHandshakes: a server trusting the auto-encrypt CA as an
// extra root accepts a client holding only a certificate it signed, and
// that certificate cannot pose as a server for Raft; a client with the
// certificate installed dials with TLS and trusts the returned roots.
func TestAutoEncryptHandshakes(t *testing.T) {
	p := newPKI(t)
	srv := mustConfigurator(t, rpcCfg(p.ca, p.cert(t, "srv", CertServer, "dc1", false), true, true, false))
	opts := signOpts(t)

	cli := mustConfigurator(t, Config{Datacenter: "dc1", Domain: "consul",
		InternalRPC: ProtocolConfig{CAFile: p.ca, VerifyServerHostname: true}})
	if got := cli.AutoEncryptLeaf(); got != nil {
		t.Fatal("leaf before SetAutoEncrypt")
	}
	dial, err := cli.AutoEncryptDialConfig()
	if err != nil {
		t.Fatal(err)
	}
	// Over the insecure config no client certificate is needed.
	wantHandshakeOK(t, srv.InsecureRPCConfig(), dial)
	// Over the normal one it is.
	wantHandshakeFail(t, srv.IncomingRPCConfig(), dial)

	csr, key, err := GenerateCSR("client.dc1.consul", []string{"client.dc1.consul"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, _, err := SignCSR(opts, csr)
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.SetAutoEncrypt([]byte(certPEM), []byte(key), append(srv.ManualCARoots(), opts.CACertPEM)); err != nil {
		t.Fatal(err)
	}
	if cli.AutoEncryptLeaf() == nil {
		t.Fatal("no leaf after SetAutoEncrypt")
	}
	out, err := cli.OutgoingRPCConfig("dc1")
	if err != nil || out == nil {
		t.Fatalf("OutgoingRPCConfig: %v %v", out, err)
	}
	// Not trusted yet by the server.
	wantHandshakeFail(t, srv.IncomingRPCConfig(), out)
	if err := srv.SetExtraIncomingRoots([]byte(opts.CACertPEM)); err != nil {
		t.Fatal(err)
	}
	_, sc, se, ce := handshake(t, srv.IncomingRPCConfig(), out)
	if se != nil || ce != nil {
		t.Fatalf("handshake with the auto-encrypt certificate: server=%v client=%v", se, ce)
	}
	if err := srv.VerifyServerPeer(sc.ConnectionState()); err == nil {
		t.Fatal("an auto-encrypt certificate was accepted as a Raft peer")
	}
	// A real server certificate still is.
	peer := mustConfigurator(t, rpcCfg(p.ca, p.cert(t, "srv2", CertServer, "dc1", false), true, true, false))
	pout, _ := peer.OutgoingRPCConfig("dc1")
	_, sc, se, ce = handshake(t, srv.IncomingRPCConfig(), pout)
	if se != nil || ce != nil {
		t.Fatalf("server handshake: %v %v", se, ce)
	}
	if err := srv.VerifyServerPeer(sc.ConnectionState()); err != nil {
		t.Fatalf("server peer refused: %v", err)
	}
	// Removing the extra roots refuses the client again.
	if err := srv.SetExtraIncomingRoots(nil); err != nil {
		t.Fatal(err)
	}
	wantHandshakeFail(t, srv.IncomingRPCConfig(), out)
}

func TestAutoEncryptDialNeedsCA(t *testing.T) {
	c := mustConfigurator(t, Config{Datacenter: "dc1"})
	if _, err := c.AutoEncryptDialConfig(); !errors.Is(err, ErrNoCA) {
		t.Fatalf("%v, want ErrNoCA", err)
	}
}
