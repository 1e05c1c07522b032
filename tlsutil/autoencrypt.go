package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// extraRoots are roots trusted for incoming internal RPC besides the
// configured CA.
type extraRoots struct {
	certs []*x509.Certificate
}

// autoState is the certificate auto_encrypt obtained and the roots that
// came with it.
type autoState struct {
	cert *tls.Certificate
	// roots are the returned roots only; they are added to the
	// configured CA current at each dial, so a reload that changes
	// ca_file takes effect at once.
	roots []*x509.Certificate
}

// ErrBadCSR is wrapped by SignCSR's refusals of a certificate request.
var ErrBadCSR = errors.New("tlsutil: certificate request refused")

// SetExtraIncomingRoots makes incoming internal RPC also trust the PEM
// certificates in pemRoots (a server's auto-encrypt CA), for new
// handshakes; nil or empty removes them. Raft still refuses peers whose
// certificate chains only to these roots (VerifyServerPeer).
func (c *Configurator) SetExtraIncomingRoots(pemRoots []byte) error {
	certs, err := parseCerts(pemRoots)
	if err != nil {
		return err
	}
	if len(certs) == 0 {
		c.extra.Store(nil)
		return nil
	}
	c.extra.Store(&extraRoots{certs: certs})
	return nil
}

// withExtraRoots returns pool plus the extra roots (pool itself when
// there are none).
func (c *Configurator) withExtraRoots(pool *x509.CertPool) *x509.CertPool {
	ex := c.extra.Load()
	if ex == nil {
		return pool
	}
	var out *x509.CertPool
	if pool != nil {
		out = pool.Clone()
	} else {
		out = x509.NewCertPool()
	}
	for _, r := range ex.certs {
		out.AddCert(r)
	}
	return out
}

// refuseAutoEncryptPeer refuses a peer whose every verified chain ends at
// an extra root: a client agent's auto-encrypt certificate.
func (c *Configurator) refuseAutoEncryptPeer(cs tls.ConnectionState) error {
	ex := c.extra.Load()
	if ex == nil || len(cs.VerifiedChains) == 0 {
		return nil
	}
	for _, chain := range cs.VerifiedChains {
		root := chain[len(chain)-1]
		extra := false
		for _, r := range ex.certs {
			extra = extra || r.Equal(root)
		}
		if !extra {
			return nil
		}
	}
	return errors.New("tlsutil: an auto-encrypt client certificate cannot act as a server")
}

// SetAutoEncrypt installs the certificate auto_encrypt obtained as the
// internal RPC client certificate (used when no cert_file is configured)
// and trusts roots (PEM) in addition to the configured CA for outgoing
// dials. With it, outgoing internal RPC uses TLS even without
// verify_outgoing. New handshakes see it; established ones are kept.
func (c *Configurator) SetAutoEncrypt(certPEM, keyPEM []byte, roots []string) error {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("tlsutil: auto-encrypt certificate: %w", err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("tlsutil: auto-encrypt certificate: %w", err)
		}
	}
	var rootCerts []*x509.Certificate
	for _, r := range roots {
		certs, err := parseCerts([]byte(r))
		if err != nil {
			return fmt.Errorf("tlsutil: auto-encrypt roots: %w", err)
		}
		rootCerts = append(rootCerts, certs...)
	}
	c.auto.Store(&autoState{cert: &pair, roots: rootCerts})
	return nil
}

// AutoEncryptLeaf returns the certificate SetAutoEncrypt installed, or nil.
func (c *Configurator) AutoEncryptLeaf() *x509.Certificate {
	if a := c.auto.Load(); a != nil {
		return a.cert.Leaf
	}
	return nil
}

// ManualCARoots returns the configured internal RPC CA certificates
// (ca_file or ca_path), PEM encoded.
func (c *Configurator) ManualCARoots() []string {
	return append([]string(nil), c.st.Load().rpc.caPEMs...)
}

// AutoEncryptDialConfig is the config a client uses to ask a server of
// its own datacenter for a certificate: no client certificate, the server
// verified against the configured CA (and its name,
// server.<dc>.<domain>, with verify_server_hostname). It fails when no CA
// is configured: the server must be verified.
func (c *Configurator) AutoEncryptDialConfig() (*tls.Config, error) {
	s := c.st.Load()
	if s.rpc.pool == nil {
		return nil, &ConfigError{Key: "auto_encrypt.tls", Err: fmt.Errorf("%w: set tls.internal_rpc.ca_file or ca_path to verify the servers", ErrNoCA)}
	}
	return c.outgoing(s, nil, "", true)
}

// parseCerts reads every CERTIFICATE block of data.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, cert)
	}
	if len(out) == 0 && len(strings.TrimSpace(string(data))) > 0 {
		return nil, ErrNotPEM
	}
	return out, nil
}

// GenerateCSR makes an ECDSA P-256 key and a certificate request for
// commonName with the given SANs, PEM encoded.
func GenerateCSR(commonName string, dnsNames []string, ips []net.IP) (csrPEM, keyPEM string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: commonName},
		DNSNames:    dnsNames,
		IPAddresses: ips,
	}, key)
	if err != nil {
		return "", "", err
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), keyPEM, nil
}

// SignOptions is what SignCSR signs with and checks against.
type SignOptions struct {
	// CACertPEM and CAKeyPEM are the signing CA.
	CACertPEM, CAKeyPEM string
	// Datacenter and Domain ("" = "consul") name the client:
	// client.<dc>.<domain>.
	Datacenter, Domain string
	// TTL is the certificate's validity.
	TTL time.Duration
	// MaxSANs bounds the names and addresses a request may ask for; 0
	// means 64.
	MaxSANs int
}

// SignCSR checks a client agent's certificate request and signs it. The
// request must carry a valid self-signature and an ECDSA (P-256 or
// larger) or RSA (2048 bits or more) key; its DNS names must not be a
// server's name (server.<dc>.<domain>, <x>.server.<dc>.<domain>, in any
// datacenter) nor wildcards; URIs and e-mail addresses are refused.
// client.<dc>.<domain> and localhost are always added, as is 127.0.0.1.
// The certificate is for client and server auth (a client agent serves
// HTTPS too).
func SignCSR(opts SignOptions, csrPEM string) (certPEM string, notBefore, notAfter time.Time, err error) {
	zero := time.Time{}
	b, _ := pem.Decode([]byte(csrPEM))
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return "", zero, zero, fmt.Errorf("%w: %w", ErrBadCSR, ErrNotPEM)
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return "", zero, zero, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return "", zero, zero, fmt.Errorf("%w: bad signature: %v", ErrBadCSR, err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < 256 {
			return "", zero, zero, fmt.Errorf("%w: ECDSA key smaller than P-256", ErrBadCSR)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", zero, zero, fmt.Errorf("%w: RSA key smaller than 2048 bits", ErrBadCSR)
		}
	default:
		return "", zero, zero, fmt.Errorf("%w: unsupported key type %T", ErrBadCSR, csr.PublicKey)
	}
	if len(csr.URIs) > 0 || len(csr.EmailAddresses) > 0 {
		return "", zero, zero, fmt.Errorf("%w: URI and e-mail SANs are not allowed", ErrBadCSR)
	}
	maxSANs := opts.MaxSANs
	if maxSANs == 0 {
		maxSANs = 64
	}
	if len(csr.DNSNames)+len(csr.IPAddresses) > maxSANs {
		return "", zero, zero, fmt.Errorf("%w: more than %d SANs", ErrBadCSR, maxSANs)
	}
	domain := strings.ToLower(strings.TrimSuffix(opts.Domain, "."))
	if domain == "" {
		domain = "consul"
	}
	if opts.Datacenter == "" || opts.TTL <= 0 {
		return "", zero, zero, errors.New("tlsutil: SignCSR needs a datacenter and a positive TTL")
	}
	clientName := "client." + opts.Datacenter + "." + domain
	names := []string{clientName, "localhost"}
	for _, n := range csr.DNSNames {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if err := checkClientName(n, domain); err != nil {
			return "", zero, zero, err
		}
		names = appendUnique(names, n)
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1)}
	for _, ip := range csr.IPAddresses {
		dup := false
		for _, have := range ips {
			dup = dup || have.Equal(ip)
		}
		if !dup {
			ips = append(ips, ip)
		}
	}
	ca, signer, err := parseCA(opts.CACertPEM, opts.CAKeyPEM)
	if err != nil {
		return "", zero, zero, err
	}
	sn, err := serialNumber()
	if err != nil {
		return "", zero, zero, err
	}
	skid, err := keyID(csr.PublicKey)
	if err != nil {
		return "", zero, zero, err
	}
	now := time.Now()
	notBefore, notAfter = now.Add(-time.Minute), now.Add(opts.TTL)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: clientName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:              names,
		IPAddresses:           ips,
		SubjectKeyId:          skid,
		AuthorityKeyId:        ca.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, csr.PublicKey, signer)
	if err != nil {
		return "", zero, zero, fmt.Errorf("tlsutil: signing certificate: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), notBefore, notAfter, nil
}

// checkClientName refuses a DNS SAN a client agent must not hold.
func checkClientName(n, domain string) error {
	if n == "" || strings.Contains(n, "*") {
		return fmt.Errorf("%w: DNS name %q is not allowed", ErrBadCSR, n)
	}
	// server.<dc>.<domain> or <node>.server.<dc>.<domain>, any dc.
	if rest, ok := strings.CutSuffix(n, "."+domain); ok {
		labels := strings.Split(rest, ".")
		for i := 0; i+1 < len(labels); i++ {
			if labels[i] == "server" {
				return fmt.Errorf("%w: DNS name %q is a server's name", ErrBadCSR, n)
			}
		}
	}
	return nil
}

// AutoEncryptCAOptions are the options of the auto-encrypt signing CA a
// leader generates.
func AutoEncryptCAOptions(domain string) CAOptions {
	return CAOptions{Domain: domain, CommonName: "Consulate Auto-Encrypt CA"}
}
