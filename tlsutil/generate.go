package tlsutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// Default validity periods, as `consul tls` uses.
const (
	DefaultCADays   = 1825 // about 5 years
	DefaultCertDays = 365
)

// CAOptions describes a CA to generate.
type CAOptions struct {
	// Days of validity; 0 means DefaultCADays.
	Days int
	// Domain is the agent domain ("" = "consul"); used for name constraints.
	Domain string
	// NameConstraint limits the CA to DNS names under Domain, localhost and
	// AdditionalNameConstraints.
	NameConstraint            bool
	AdditionalNameConstraints []string
	// CommonName; "" means "Consul Agent CA <serial>".
	CommonName string
}

// CertKind is the role an agent certificate is for.
type CertKind string

// The kinds `consulate tls cert create` makes.
const (
	CertServer CertKind = "server"
	CertClient CertKind = "client"
	CertCLI    CertKind = "cli"
)

// CertOptions describes an agent certificate to generate and sign.
type CertOptions struct {
	// CACertPEM and CAKeyPEM are the signing CA.
	CACertPEM, CAKeyPEM string
	Kind                CertKind
	// Datacenter ("" = "dc1") and Domain ("" = "consul") form the names
	// server.<dc>.<domain>, client.<dc>.<domain>, cli.client.<dc>.<domain>.
	Datacenter, Domain string
	// NodeName adds <node>.server.<dc>.<domain> to a server certificate.
	NodeName string
	// DNSNames and IPAddresses are added to the SANs; localhost and
	// 127.0.0.1 are always present.
	DNSNames    []string
	IPAddresses []net.IP
	// Days of validity; 0 means DefaultCertDays.
	Days int
}

// GenerateCA makes a self-signed ECDSA P-256 CA and returns the certificate
// and its private key, PEM encoded.
func GenerateCA(opts CAOptions) (certPEM, keyPEM string, err error) {
	days := opts.Days
	if days == 0 {
		days = DefaultCADays
	}
	if days < 0 {
		return "", "", fmt.Errorf("tlsutil: CA validity must be positive, got %d days", days)
	}
	domain := strings.TrimSuffix(opts.Domain, ".")
	if domain == "" {
		domain = "consul"
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	sn, err := serialNumber()
	if err != nil {
		return "", "", err
	}
	name := opts.CommonName
	if name == "" {
		name = fmt.Sprintf("Consul Agent CA %d", sn)
	}
	skid, err := keyID(key.Public())
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Consulate"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.AddDate(0, 0, days),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		SubjectKeyId:          skid,
		AuthorityKeyId:        skid,
	}
	if opts.NameConstraint {
		tmpl.PermittedDNSDomainsCritical = true
		tmpl.PermittedDNSDomains = append([]string{domain, "localhost"}, opts.AdditionalNameConstraints...)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return "", "", err
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), keyPEM, nil
}

// GenerateCert makes an ECDSA P-256 agent certificate signed by the CA in
// opts and returns it and its private key, PEM encoded. Server and client
// certificates carry both server and client auth (clients serve HTTPS);
// CLI certificates client auth only.
func GenerateCert(opts CertOptions) (certPEM, keyPEM string, err error) {
	ca, signer, err := parseCA(opts.CACertPEM, opts.CAKeyPEM)
	if err != nil {
		return "", "", err
	}
	days := opts.Days
	if days == 0 {
		days = DefaultCertDays
	}
	if days < 0 {
		return "", "", fmt.Errorf("tlsutil: certificate validity must be positive, got %d days", days)
	}
	dc, domain := opts.Datacenter, strings.TrimSuffix(opts.Domain, ".")
	if dc == "" {
		dc = "dc1"
	}
	if domain == "" {
		domain = "consul"
	}
	var names []string
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	switch opts.Kind {
	case CertServer:
		names = append(names, "server."+dc+"."+domain)
		if opts.NodeName != "" {
			names = append(names, opts.NodeName+".server."+dc+"."+domain)
		}
	case CertClient:
		names = append(names, "client."+dc+"."+domain)
	case CertCLI:
		names = append(names, "cli.client."+dc+"."+domain)
		usage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		return "", "", fmt.Errorf("tlsutil: unknown certificate kind %q (want server, client or cli)", opts.Kind)
	}
	if opts.NodeName != "" && opts.Kind != CertServer {
		return "", "", errors.New("tlsutil: a node name is only used in server certificates")
	}
	names = appendUnique(names, "localhost")
	for _, n := range opts.DNSNames {
		names = appendUnique(names, n)
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1)}
	for _, ip := range opts.IPAddresses {
		dup := false
		for _, have := range ips {
			dup = dup || have.Equal(ip)
		}
		if !dup {
			ips = append(ips, ip)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	sn, err := serialNumber()
	if err != nil {
		return "", "", err
	}
	skid, err := keyID(key.Public())
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: names[0]},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.AddDate(0, 0, days),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:           usage,
		DNSNames:              names,
		IPAddresses:           ips,
		SubjectKeyId:          skid,
		AuthorityKeyId:        ca.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), signer)
	if err != nil {
		return "", "", fmt.Errorf("tlsutil: signing certificate: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), keyPEM, nil
}

func appendUnique(list []string, s string) []string {
	for _, have := range list {
		if have == s {
			return list
		}
	}
	return append(list, s)
}

// parseCA reads the signing CA's certificate and private key.
func parseCA(certPEM, keyPEM string) (*x509.Certificate, crypto.Signer, error) {
	cb, _ := pem.Decode([]byte(certPEM))
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("tlsutil: CA certificate: %w", ErrNotPEM)
	}
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: CA certificate: %w", err)
	}
	if !ca.IsCA {
		return nil, nil, errors.New("tlsutil: the CA certificate is not a CA (basic constraints)")
	}
	kb, _ := pem.Decode([]byte(keyPEM))
	if kb == nil {
		return nil, nil, fmt.Errorf("tlsutil: CA key: %w", ErrNotPEM)
	}
	var key any
	switch kb.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(kb.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(kb.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: CA key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("tlsutil: CA key: unsupported key type %T", key)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(ca.PublicKey) {
		return nil, nil, fmt.Errorf("tlsutil: CA key: %w", ErrKeyMismatch)
	}
	return ca, signer, nil
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// keyID is the SHA-256 of the public key, truncated as RFC 7093 allows.
func keyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}

func encodeKey(key *ecdsa.PrivateKey) (string, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})), nil
}
