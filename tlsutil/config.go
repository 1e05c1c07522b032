package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// ProtocolConfig is the TLS settings of one interface as Consul 1.16 reads
// them, with tls.defaults already merged in by the config package.
type ProtocolConfig struct {
	CAFile, CAPath, CertFile, KeyFile string
	// VerifyIncoming requires (and verifies) client certificates.
	VerifyIncoming bool
	// VerifyOutgoing makes dials use TLS and verify the server's chain.
	// Internal RPC only.
	VerifyOutgoing bool
	// VerifyServerHostname also checks the server's name
	// server.<datacenter>.<domain>; it implies VerifyOutgoing. Internal RPC
	// only.
	VerifyServerHostname bool
	// TLSMinVersion is "TLSv1_0".."TLSv1_3" ("" means TLSv1_2).
	TLSMinVersion string
	// CipherSuites are IANA names; empty means Go's defaults.
	CipherSuites []string
}

// Config is everything a Configurator needs.
type Config struct {
	InternalRPC ProtocolConfig
	HTTPS       ProtocolConfig
	// Domain is the agent's DNS domain ("consul"), used in server names.
	Domain string
	// NodeName is the agent's node name.
	NodeName string
	// ServerMode is true on servers.
	ServerMode bool
	// Datacenter is the agent's datacenter, the default for outgoing dials.
	Datacenter string
}

// ConfigError is a problem with one configuration key (and the file it
// names, when there is one).
type ConfigError struct {
	Key  string // e.g. "tls.internal_rpc.cert_file"
	File string // "" when the problem is not about a file
	Err  error
}

// Error reads `key "file": what is wrong`.
func (e *ConfigError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("%s: %v", e.Key, e.Err)
	}
	return fmt.Sprintf("%s %q: %v", e.Key, e.File, e.Err)
}

// Unwrap returns the underlying error.
func (e *ConfigError) Unwrap() error { return e.Err }

// Sentinel causes inside ConfigError, for errors.Is.
var (
	// ErrNotPEM: the file holds no PEM block of the expected kind.
	ErrNotPEM = errors.New("not PEM encoded")
	// ErrKeyMismatch: the private key does not belong to the certificate.
	ErrKeyMismatch = errors.New("private key does not match the certificate")
	// ErrNoCA: a verify_* setting needs a CA and none is configured.
	ErrNoCA = errors.New("no CA configured")
	// ErrNoCert: a setting needs a certificate and key and none is configured.
	ErrNoCert = errors.New("no certificate and key configured")
)

// protoState is one interface's loaded settings.
type protoState struct {
	prefix               string
	cert                 *tls.Certificate // nil: none configured
	pool                 *x509.CertPool   // nil: no CA
	caPEMs               []string         // the CA certificates of pool, PEM encoded
	verifyIncoming       bool
	verifyOutgoing       bool
	verifyServerHostname bool
	minVersion           uint16
	ciphers              []uint16
}

type state struct {
	cfg   Config
	rpc   protoState
	https protoState
}

// Configurator loads the agent's TLS files and hands out *tls.Config values
// that follow reloads. It is safe for concurrent use.
type Configurator struct {
	logger *slog.Logger
	st     atomic.Pointer[state]
	// extra are roots trusted for incoming internal RPC in addition to
	// the configured CA (a server's auto-encrypt CA); nil: none.
	extra atomic.Pointer[extraRoots]
	// auto is the certificate auto_encrypt obtained (a client's); nil:
	// none. Neither survives in nor depends on the files Update reloads.
	auto atomic.Pointer[autoState]
}

// NewConfigurator loads and checks every file cfg names. A nil logger
// discards.
func NewConfigurator(cfg Config, logger *slog.Logger) (*Configurator, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Configurator{logger: logger}
	st, err := c.load(cfg)
	if err != nil {
		return nil, err
	}
	c.st.Store(st)
	return c, nil
}

// Update loads cfg and swaps it in atomically. New handshakes use the new
// certificates; established connections are unaffected. On error the old
// state stays in place.
func (c *Configurator) Update(cfg Config) error {
	st, err := c.load(cfg)
	if err != nil {
		return err
	}
	c.st.Store(st)
	return nil
}

func (c *Configurator) load(cfg Config) (*state, error) {
	if cfg.Domain == "" {
		cfg.Domain = "consul"
	}
	cfg.Domain = strings.TrimSuffix(cfg.Domain, ".")
	rpc, err := c.loadProtocol("tls.internal_rpc", cfg.InternalRPC, true)
	if err != nil {
		return nil, err
	}
	https, err := c.loadProtocol("tls.https", cfg.HTTPS, false)
	if err != nil {
		return nil, err
	}
	return &state{cfg: cfg, rpc: rpc, https: https}, nil
}

func (c *Configurator) loadProtocol(prefix string, pc ProtocolConfig, internal bool) (protoState, error) {
	ps := protoState{prefix: prefix, verifyIncoming: pc.VerifyIncoming}
	if internal {
		ps.verifyServerHostname = pc.VerifyServerHostname
		ps.verifyOutgoing = pc.VerifyOutgoing || pc.VerifyServerHostname
	}
	var err error
	if ps.minVersion, err = ParseTLSVersion(pc.TLSMinVersion); err != nil {
		return ps, &ConfigError{Key: prefix + ".tls_min_version", Err: err}
	}
	if len(pc.CipherSuites) > 0 {
		if ps.minVersion == tls.VersionTLS13 {
			return ps, &ConfigError{Key: prefix + ".tls_cipher_suites", Err: errors.New("cipher suites are not configurable with tls_min_version TLSv1_3")}
		}
		if ps.ciphers, err = ParseCipherSuites(pc.CipherSuites); err != nil {
			return ps, &ConfigError{Key: prefix + ".tls_cipher_suites", Err: err}
		}
	}
	if ps.cert, err = c.loadKeyPair(prefix, pc.CertFile, pc.KeyFile); err != nil {
		return ps, err
	}
	if ps.pool, ps.caPEMs, err = c.loadCAs(prefix, pc.CAFile, pc.CAPath); err != nil {
		return ps, err
	}
	if ps.verifyIncoming {
		if ps.pool == nil {
			return ps, &ConfigError{Key: prefix + ".verify_incoming", Err: fmt.Errorf("%w: set %s.ca_file or %s.ca_path to verify client certificates", ErrNoCA, prefix, prefix)}
		}
		if ps.cert == nil {
			return ps, &ConfigError{Key: prefix + ".verify_incoming", Err: fmt.Errorf("%w: set %s.cert_file and %s.key_file", ErrNoCert, prefix, prefix)}
		}
	}
	if ps.verifyOutgoing && ps.pool == nil {
		key := prefix + ".verify_outgoing"
		if pc.VerifyServerHostname {
			key = prefix + ".verify_server_hostname"
		}
		return ps, &ConfigError{Key: key, Err: fmt.Errorf("%w: set %s.ca_file or %s.ca_path to verify servers", ErrNoCA, prefix, prefix)}
	}
	return ps, nil
}

// loadKeyPair reads cert and key; both empty means no certificate.
func (c *Configurator) loadKeyPair(prefix, certFile, keyFile string) (*tls.Certificate, error) {
	certKey, keyKey := prefix+".cert_file", prefix+".key_file"
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case keyFile == "":
		return nil, &ConfigError{Key: certKey, File: certFile, Err: fmt.Errorf("%s is not set", keyKey)}
	case certFile == "":
		return nil, &ConfigError{Key: keyKey, File: keyFile, Err: fmt.Errorf("%s is not set", certKey)}
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, &ConfigError{Key: certKey, File: certFile, Err: err}
	}
	if !hasPEMBlock(certPEM, func(t string) bool { return t == "CERTIFICATE" }) {
		return nil, &ConfigError{Key: certKey, File: certFile, Err: fmt.Errorf("%w: no PEM certificate found", ErrNotPEM)}
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, &ConfigError{Key: keyKey, File: keyFile, Err: err}
	}
	if !hasPEMBlock(keyPEM, func(t string) bool { return strings.HasSuffix(t, "PRIVATE KEY") }) {
		return nil, &ConfigError{Key: keyKey, File: keyFile, Err: fmt.Errorf("%w: no PEM private key found", ErrNotPEM)}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, &ConfigError{Key: keyKey, File: keyFile, Err: fmt.Errorf("%w in %s %q", ErrKeyMismatch, certKey, certFile)}
		}
		return nil, &ConfigError{Key: keyKey, File: keyFile, Err: fmt.Errorf("loading key pair with %s %q: %w", certKey, certFile, err)}
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, &ConfigError{Key: certKey, File: certFile, Err: err}
		}
		pair.Leaf = leaf
	}
	// Consul does not refuse an expired certificate at load time (the
	// handshake does); say so loudly instead.
	now := time.Now()
	if now.After(leaf.NotAfter) {
		c.logger.Warn("TLS certificate has expired", "key", certKey, "file", certFile, "not_after", leaf.NotAfter)
	} else if now.Before(leaf.NotBefore) {
		c.logger.Warn("TLS certificate is not valid yet", "key", certKey, "file", certFile, "not_before", leaf.NotBefore)
	}
	return &pair, nil
}

// loadCAs builds the CA pool. As in Consul, ca_file wins over ca_path; in
// ca_path every regular file (recursively) must hold PEM certificates.
func (c *Configurator) loadCAs(prefix, caFile, caPath string) (*x509.CertPool, []string, error) {
	if caFile == "" && caPath == "" {
		return nil, nil, nil
	}
	pool := x509.NewCertPool()
	var pems []string
	if caFile != "" {
		if caPath != "" {
			c.logger.Warn("both ca_file and ca_path are set; ca_path is ignored, as in Consul", "key", prefix+".ca_path", "path", caPath)
		}
		return pool, pems, addCAFile(pool, &pems, prefix+".ca_file", caFile)
	}
	key := prefix + ".ca_path"
	var files []string
	err := filepath.WalkDir(caPath, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, nil, &ConfigError{Key: key, File: caPath, Err: err}
	}
	if len(files) == 0 {
		return nil, nil, &ConfigError{Key: key, File: caPath, Err: errors.New("no CA files found in the directory")}
	}
	sort.Strings(files)
	for _, f := range files {
		if err := addCAFile(pool, &pems, key, f); err != nil {
			return nil, nil, err
		}
	}
	return pool, pems, nil
}

func addCAFile(pool *x509.CertPool, pems *[]string, key, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return &ConfigError{Key: key, File: file, Err: err}
	}
	n := 0
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
			return &ConfigError{Key: key, File: file, Err: fmt.Errorf("parsing certificate: %w", err)}
		}
		pool.AddCert(cert)
		*pems = append(*pems, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.Bytes})))
		n++
	}
	if n == 0 {
		return &ConfigError{Key: key, File: file, Err: fmt.Errorf("%w: no PEM certificate found", ErrNotPEM)}
	}
	return nil
}

func hasPEMBlock(data []byte, want func(string) bool) bool {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return false
		}
		if want(b.Type) {
			return true
		}
	}
}

// tlsVersions maps Consul's tls_min_version values (and the pre-1.12
// spellings Consul still accepts) to Go's constants.
var tlsVersions = map[string]uint16{
	"TLSv1_0": tls.VersionTLS10,
	"TLSv1_1": tls.VersionTLS11,
	"TLSv1_2": tls.VersionTLS12,
	"TLSv1_3": tls.VersionTLS13,
	"tls10":   tls.VersionTLS10,
	"tls11":   tls.VersionTLS11,
	"tls12":   tls.VersionTLS12,
	"tls13":   tls.VersionTLS13,
}

// ParseTLSVersion maps a tls_min_version value to Go's constant; "" is
// TLSv1_2, Consul's default.
func ParseTLSVersion(v string) (uint16, error) {
	if v == "" {
		return tls.VersionTLS12, nil
	}
	if n, ok := tlsVersions[v]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("unsupported TLS version %q (want one of TLSv1_0, TLSv1_1, TLSv1_2, TLSv1_3)", v)
}

// ParseCipherSuites maps IANA cipher suite names to Go's IDs. Only TLS 1.2
// (and earlier) suites are configurable; TLS 1.3 suites are fixed.
func ParseCipherSuites(names []string) ([]uint16, error) {
	known := map[string]uint16{}
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, s := range list {
			tls12 := false
			for _, v := range s.SupportedVersions {
				if v <= tls.VersionTLS12 {
					tls12 = true
				}
			}
			if tls12 {
				known[s.Name] = s.ID
			}
		}
	}
	// Consul's (and older Go's) names for the ChaCha20 suites.
	known["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"] = tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
	known["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"] = tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
	out := make([]uint16, 0, len(names))
	for _, n := range names {
		n = strings.TrimSpace(n)
		id, ok := known[n]
		if !ok {
			return nil, fmt.Errorf("unsupported cipher suite %q", n)
		}
		out = append(out, id)
	}
	return out, nil
}

// RequireIncomingRPCTLS is true when internal RPC verify_incoming is on:
// plaintext connections must be refused.
func (c *Configurator) RequireIncomingRPCTLS() bool {
	return c.st.Load().rpc.verifyIncoming
}

// IncomingRPCConfig is the server RPC port's config, or nil when internal
// RPC has no certificate (a connection opening with the TLS byte is then
// refused). The config reads the current state at each handshake.
func (c *Configurator) IncomingRPCConfig() *tls.Config {
	if c.st.Load().rpc.cert == nil {
		return nil
	}
	return c.incoming(func(s *state) *protoState { return &s.rpc }, true, false)
}

// InsecureRPCConfig is the server port's config for connections opened
// with the TLS-without-client-certificate byte (auto_encrypt's signing
// requests): the server's certificate, no client certificate asked for.
// nil when internal RPC has no certificate.
func (c *Configurator) InsecureRPCConfig() *tls.Config {
	if c.st.Load().rpc.cert == nil {
		return nil
	}
	return c.incoming(func(s *state) *protoState { return &s.rpc }, true, true)
}

// IncomingHTTPSConfig is the HTTPS listener's config, or nil when HTTPS has
// no certificate. Client certificates are required and verified only with
// tls.https.verify_incoming.
func (c *Configurator) IncomingHTTPSConfig() *tls.Config {
	if c.st.Load().https.cert == nil {
		return nil
	}
	return c.incoming(func(s *state) *protoState { return &s.https }, false, false)
}

// incoming builds a config whose every handshake is served from the state
// current at that moment.
//
// internalRPC also trusts the extra roots (SetExtraIncomingRoots);
// noClientCert never asks for a client certificate.
func (c *Configurator) incoming(pick func(*state) *protoState, internalRPC, noClientCert bool) *tls.Config {
	serve := func() (*tls.Config, error) {
		ps := pick(c.st.Load())
		if ps.cert == nil {
			return nil, fmt.Errorf("tlsutil: %s has no certificate configured", ps.prefix)
		}
		pool := ps.pool
		if internalRPC {
			pool = c.withExtraRoots(pool)
		}
		cfg := &tls.Config{
			Certificates: []tls.Certificate{*ps.cert},
			MinVersion:   ps.minVersion,
			CipherSuites: ps.ciphers,
			ClientCAs:    pool,
			ClientAuth:   tls.NoClientCert,
		}
		optionalClientCert := internalRPC
		switch {
		case noClientCert:
		case ps.verifyIncoming:
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		case optionalClientCert && pool != nil:
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		}
		return cfg, nil
	}
	base, err := serve()
	if err != nil { // raced with an Update that removed the certificate
		base = &tls.Config{}
	}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return serve() }
	return base
}

// OutgoingRPCConfig is the config for dialing a server of datacenter dc (""
// means the agent's own). It is nil, nil when outgoing TLS is off
// (plaintext). The client certificate is read at handshake time; the CA
// pool and verification mode are those current at this call.
func (c *Configurator) OutgoingRPCConfig(dc string) (*tls.Config, error) {
	s := c.st.Load()
	ps := s.rpc
	auto := c.auto.Load()
	if !ps.verifyOutgoing && auto == nil {
		return nil, nil
	}
	return c.outgoing(s, auto, dc, false)
}

// outgoing builds the config for dialing a server of dc. Its roots are the
// configured CA plus those auto_encrypt returned; its client certificate
// the configured one, else auto_encrypt's, read at handshake time, or
// none when noClientCert.
func (c *Configurator) outgoing(s *state, auto *autoState, dc string, noClientCert bool) (*tls.Config, error) {
	ps := s.rpc
	pool := ps.pool
	if auto != nil && len(auto.roots) > 0 {
		if pool != nil {
			pool = pool.Clone()
		} else {
			pool = x509.NewCertPool()
		}
		for _, r := range auto.roots {
			pool.AddCert(r)
		}
	}
	if pool == nil {
		return nil, &ConfigError{Key: ps.prefix + ".verify_outgoing", Err: ErrNoCA}
	}
	if dc == "" {
		dc = s.cfg.Datacenter
	}
	cfg := &tls.Config{
		RootCAs:      pool,
		MinVersion:   ps.minVersion,
		CipherSuites: ps.ciphers,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if noClientCert {
				return &tls.Certificate{}, nil
			}
			if cur := c.st.Load().rpc.cert; cur != nil {
				return cur, nil
			}
			if a := c.auto.Load(); a != nil {
				return a.cert, nil
			}
			return &tls.Certificate{}, nil // none: the server decides
		},
	}
	if ps.verifyServerHostname {
		cfg.ServerName = "server." + dc + "." + s.cfg.Domain
		return cfg, nil
	}
	// Chain only, as Consul: its node names are not DNS names, so without
	// verify_server_hostname the name is not checked. Go verifies either
	// both or nothing, so the chain is checked here by hand.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tlsutil: server presented no certificate")
		}
		inter := x509.NewCertPool()
		for _, ic := range cs.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
			Roots:         pool,
			Intermediates: inter,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		return err
	}
	return cfg, nil
}

// VerifyAnyServerPeer is VerifyServerPeer for connections servers of any
// datacenter may open (WAN gossip through the gateways): with
// verify_server_hostname on, the peer's verified certificate must name a
// server of some datacenter, server.<dc>.<domain>, so that a client
// agent's certificate signed by the same CA is refused. Without it any
// peer is accepted. A certificate that chains only to the auto-encrypt CA
// is refused in every case.
func (c *Configurator) VerifyAnyServerPeer(cs tls.ConnectionState) error {
	if err := c.refuseAutoEncryptPeer(cs); err != nil {
		return err
	}
	s := c.st.Load()
	if !s.rpc.verifyServerHostname {
		return nil
	}
	want := "server.<datacenter>." + s.cfg.Domain
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("tlsutil: no client certificate; a server certificate for %s is required", want)
	}
	leaf := cs.PeerCertificates[0]
	for _, name := range leaf.DNSNames {
		if isServerName(name, s.cfg.Domain) && leaf.VerifyHostname(name) == nil {
			return nil
		}
	}
	return fmt.Errorf("tlsutil: not a server certificate: it names none of %s (names %q)", want, leaf.DNSNames)
}

// isServerName reports whether name is server.<dc>.<domain> for a
// single-label, non-wildcard dc.
func isServerName(name, domain string) bool {
	rest, ok := strings.CutPrefix(strings.ToLower(name), "server.")
	if !ok {
		return false
	}
	dc, ok := strings.CutSuffix(rest, "."+strings.ToLower(strings.TrimSuffix(domain, ".")))
	return ok && dc != "" && dc != "*" && !strings.Contains(dc, ".")
}

// VerifyServerPeer checks, for connections only servers may open (Raft),
// that the peer's verified certificate names a server of this agent's
// datacenter (server.<dc>.<domain>) when verify_server_hostname is on, so
// that a client certificate signed by the same CA cannot pose as a server.
// Without verify_server_hostname it accepts any peer.
//
// A certificate that chains only to the auto-encrypt CA (a client agent's)
// is refused in every case.
func (c *Configurator) VerifyServerPeer(cs tls.ConnectionState) error {
	if err := c.refuseAutoEncryptPeer(cs); err != nil {
		return err
	}
	s := c.st.Load()
	if !s.rpc.verifyServerHostname {
		return nil
	}
	want := "server." + s.cfg.Datacenter + "." + s.cfg.Domain
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("tlsutil: no client certificate; a server certificate for %s is required", want)
	}
	if err := cs.PeerCertificates[0].VerifyHostname(want); err != nil {
		return fmt.Errorf("tlsutil: not a server certificate of this datacenter: %w", err)
	}
	return nil
}
