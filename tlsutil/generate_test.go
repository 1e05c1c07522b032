package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func parseCert(t *testing.T, s string) *x509.Certificate {
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

func TestGenerateCA(t *testing.T) {
	certPEM, keyPEM, err := GenerateCA(CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ca := parseCert(t, certPEM)
	if !ca.IsCA || !ca.BasicConstraintsValid || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Fatal("not a CA")
	}
	if want := "Consul Agent CA " + ca.SerialNumber.String(); ca.Subject.CommonName != want {
		t.Fatalf("CN %q want %q", ca.Subject.CommonName, want)
	}
	if d := time.Until(ca.NotAfter); d < 1824*24*time.Hour || d > 1826*24*time.Hour {
		t.Fatalf("validity %v", d)
	}
	if len(ca.PermittedDNSDomains) != 0 {
		t.Fatal("no name constraint by default")
	}
	pub, ok := ca.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatal("want ECDSA P-256")
	}
	if !strings.Contains(keyPEM, "EC PRIVATE KEY") {
		t.Fatal("key PEM type")
	}

	certPEM, _, err = GenerateCA(CAOptions{Days: 10, NameConstraint: true, Domain: "example", AdditionalNameConstraints: []string{"ui.example.com"}, CommonName: "My CA"})
	if err != nil {
		t.Fatal(err)
	}
	ca = parseCert(t, certPEM)
	if ca.Subject.CommonName != "My CA" || !ca.PermittedDNSDomainsCritical || !slices.Equal(ca.PermittedDNSDomains, []string{"example", "localhost", "ui.example.com"}) {
		t.Fatalf("constraints %v %q", ca.PermittedDNSDomains, ca.Subject.CommonName)
	}
}

func TestGenerateCertKinds(t *testing.T) {
	caPEM, caKey, err := GenerateCA(CAOptions{NameConstraint: true})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(caPEM))
	cases := []struct {
		opts  CertOptions
		names []string
		usage []x509.ExtKeyUsage
	}{
		{CertOptions{Kind: CertServer, NodeName: "n1", DNSNames: []string{"extra.consul"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}},
			[]string{"server.dc1.consul", "n1.server.dc1.consul", "localhost", "extra.consul"},
			[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}},
		{CertOptions{Kind: CertClient, Datacenter: "dc2"}, []string{"client.dc2.consul", "localhost"},
			[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}},
		{CertOptions{Kind: CertCLI}, []string{"cli.client.dc1.consul", "localhost"}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
	}
	for _, tc := range cases {
		tc.opts.CACertPEM, tc.opts.CAKeyPEM = caPEM, caKey
		c, _, err := GenerateCert(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		cert := parseCert(t, c)
		if !slices.Equal(cert.DNSNames, tc.names) || !slices.Equal(cert.ExtKeyUsage, tc.usage) {
			t.Fatalf("%s: names %v usage %v", tc.opts.Kind, cert.DNSNames, cert.ExtKeyUsage)
		}
		if !cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
			t.Fatalf("IPs %v", cert.IPAddresses)
		}
		if d := time.Until(cert.NotAfter); d < 364*24*time.Hour || d > 366*24*time.Hour {
			t.Fatalf("validity %v", d)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: tc.names[0], KeyUsages: tc.usage}); err != nil {
			t.Fatalf("%s does not verify: %v", tc.opts.Kind, err)
		}
	}
	// The name constraint refuses a foreign name.
	if _, _, err := GenerateCert(CertOptions{CACertPEM: caPEM, CAKeyPEM: caKey, Kind: CertServer, DNSNames: []string{"evil.example.com"}}); err == nil {
		c, _, _ := GenerateCert(CertOptions{CACertPEM: caPEM, CAKeyPEM: caKey, Kind: CertServer, DNSNames: []string{"evil.example.com"}})
		if _, err := parseCert(t, c).Verify(x509.VerifyOptions{Roots: roots, DNSName: "evil.example.com"}); err == nil {
			t.Fatal("name-constrained CA vouches for a foreign name")
		}
	}
	if _, _, err := GenerateCert(CertOptions{CACertPEM: caPEM, CAKeyPEM: caKey, Kind: "bogus"}); err == nil {
		t.Fatal("unknown kind accepted")
	}
	_, otherKey, _ := GenerateCA(CAOptions{})
	if _, _, err := GenerateCert(CertOptions{CACertPEM: caPEM, CAKeyPEM: otherKey, Kind: CertServer}); err == nil {
		t.Fatal("mismatched CA key accepted")
	}
}
