// Package testcerts makes throwaway certificates for tests: a CA and
// leaves signed by it (ECDSA P-256, valid for an hour, usable by servers
// and clients alike). Only tests import it; `consulate tls` and tlsutil
// make the real ones.
package testcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// serial numbers every certificate this package makes, across CAs, so
// that tests can tell certificates apart.
var serial atomic.Int64

// LeafIPs are the addresses every leaf certificate carries: 127.0.0.1
// and the loopback addresses the TLS tests of httpapi and cmd/consulate
// listen on.
var LeafIPs = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 90), net.IPv4(127, 0, 0, 91),
	net.IPv4(127, 0, 0, 92), net.IPv4(127, 0, 0, 93)}

// CA is a throwaway certificate authority.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	Pool    *x509.CertPool // holds Cert
	key     *ecdsa.PrivateKey
}

// NewCA generates a CA valid for an hour.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: "Consulate Test CA"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Pool: pool, key: key}
}

// LeafPEM signs a certificate with common name cn and the DNS names cn,
// server.dc1.consul, localhost and dnsNames, and the addresses LeafIPs;
// it returns the PEM certificate and key.
func (ca *CA) LeafPEM(t testing.TB, cn string, dnsNames ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     append([]string{cn, "server.dc1.consul", "localhost"}, dnsNames...),
		IPAddresses:  LeafIPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// Leaf is LeafPEM as a tls.Certificate.
func (ca *CA) Leaf(t testing.TB, cn string, dnsNames ...string) tls.Certificate {
	t.Helper()
	certPEM, keyPEM := ca.LeafPEM(t, cn, dnsNames...)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// WriteFiles writes the CA and a new leaf for cn into a temporary
// directory and returns their paths.
func (ca *CA) WriteFiles(t testing.TB, cn string) (caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM := ca.LeafPEM(t, cn)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, cn+".pem"), filepath.Join(dir, cn+"-key.pem")
	for name, b := range map[string][]byte{caFile: ca.CertPEM, certFile: certPEM, keyFile: keyPEM} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}

// ServerConfig serves cert; with verifyIncoming, clients must present a
// certificate of ca (as verify_incoming).
func (ca *CA) ServerConfig(cert tls.Certificate, verifyIncoming bool) *tls.Config {
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	if verifyIncoming {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg
}

// ClientConfig trusts ca, presents cert and verifies server.dc1.consul.
func (ca *CA) ClientConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.Pool, ServerName: "server.dc1.consul",
		MinVersion: tls.VersionTLS12}
}
