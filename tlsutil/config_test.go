package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pki is a set of throwaway certificates written to a temp dir.
type pki struct {
	dir              string
	ca, ca2          string // CA cert files
	caPEM, caKeyPEM  string
	ca2PEM, ca2KeyPE string
}

// certFiles is one generated key pair on disk.
type certFiles struct{ cert, key string }

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	var err error
	if p.caPEM, p.caKeyPEM, err = GenerateCA(CAOptions{}); err != nil {
		t.Fatal(err)
	}
	if p.ca2PEM, p.ca2KeyPE, err = GenerateCA(CAOptions{}); err != nil {
		t.Fatal(err)
	}
	p.ca = p.write(t, "ca.pem", p.caPEM)
	p.ca2 = p.write(t, "ca2.pem", p.ca2PEM)
	return p
}

func (p *pki) write(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// cert signs a certificate of kind for dc with the first (or, with
// second, the other) CA.
func (p *pki) cert(t *testing.T, name string, kind CertKind, dc string, second bool) certFiles {
	t.Helper()
	ca, key := p.caPEM, p.caKeyPEM
	if second {
		ca, key = p.ca2PEM, p.ca2KeyPE
	}
	c, k, err := GenerateCert(CertOptions{CACertPEM: ca, CAKeyPEM: key, Kind: kind, Datacenter: dc})
	if err != nil {
		t.Fatal(err)
	}
	return certFiles{cert: p.write(t, name+".pem", c), key: p.write(t, name+"-key.pem", k)}
}

func rpcCfg(ca string, cf certFiles, in, out, host bool) Config {
	return Config{
		Datacenter: "dc1", Domain: "consul", NodeName: "n",
		InternalRPC: ProtocolConfig{CAFile: ca, CertFile: cf.cert, KeyFile: cf.key, VerifyIncoming: in, VerifyOutgoing: out, VerifyServerHostname: host},
	}
}

func mustConfigurator(t *testing.T, cfg Config) *Configurator {
	t.Helper()
	c, err := NewConfigurator(cfg, nil)
	if err != nil {
		t.Fatalf("NewConfigurator: %v", err)
	}
	return c
}

// tcpPair is a connected pair of loopback TCP connections (buffered, unlike
// net.Pipe, so a side that failed can send its alert while the other side is
// done).
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			c = nil
		}
		accepted <- c
	}()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-accepted
	if a == nil {
		t.Fatal("accept failed")
	}
	return a, b
}

// handshake runs a TLS handshake over loopback TCP and returns both sides'
// errors plus the client's connection (closed by the test's cleanup).
func handshake(t *testing.T, server, client *tls.Config) (cc, sc *tls.Conn, srvErr, cliErr error) {
	t.Helper()
	a, b := tcpPair(t)
	deadline := time.Now().Add(5 * time.Second)
	_ = a.SetDeadline(deadline)
	_ = b.SetDeadline(deadline)
	sc, cc = tls.Server(a, server), tls.Client(b, client)
	done := make(chan error, 1)
	go func() {
		err := sc.Handshake()
		if err != nil {
			_ = a.Close() // unblock the client
		}
		done <- err
	}()
	cliErr = cc.Handshake()
	if cliErr != nil {
		_ = b.Close()
	}
	srvErr = <-done
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return cc, sc, srvErr, cliErr
}

func wantHandshakeOK(t *testing.T, server, client *tls.Config) *tls.Conn {
	t.Helper()
	cc, _, se, ce := handshake(t, server, client)
	if se != nil || ce != nil {
		t.Fatalf("handshake failed: server=%v client=%v", se, ce)
	}
	return cc
}

func wantHandshakeFail(t *testing.T, server, client *tls.Config) {
	t.Helper()
	_, _, se, ce := handshake(t, server, client)
	if se == nil && ce == nil {
		t.Fatal("handshake succeeded, want refusal")
	}
}

func TestGoodServerCertAccepted(t *testing.T) {
	p := newPKI(t)
	srv := mustConfigurator(t, rpcCfg(p.ca, p.cert(t, "srv", CertServer, "dc1", false), true, true, true))
	cli := mustConfigurator(t, rpcCfg(p.ca, p.cert(t, "cli", CertClient, "dc1", false), false, true, true))
	if !srv.RequireIncomingRPCTLS() || cli.RequireIncomingRPCTLS() {
		t.Fatal("RequireIncomingRPCTLS does not follow verify_incoming")
	}
	out, err := cli.OutgoingRPCConfig("dc1")
	if err != nil || out == nil {
		t.Fatalf("OutgoingRPCConfig: %v %v", out, err)
	}
	if out.ServerName != "server.dc1.consul" {
		t.Fatalf("ServerName %q", out.ServerName)
	}
	cc := wantHandshakeOK(t, srv.IncomingRPCConfig(), out)
	if got := cc.ConnectionState().PeerCertificates[0].DNSNames[0]; got != "server.dc1.consul" {
		t.Fatalf("peer %q", got)
	}
	// "" means the agent's own datacenter.
	own, _ := cli.OutgoingRPCConfig("")
	wantHandshakeOK(t, srv.IncomingRPCConfig(), own)
}

func TestClientCertPosingAsServer(t *testing.T) {
	p := newPKI(t)
	impostor := mustConfigurator(t, rpcCfg(p.ca, p.cert(t, "imp", CertClient, "dc1", false), false, false, false))
	strict := mustConfigurator(t, rpcCfg(p.ca, certFiles{}, false, true, true))
	out, _ := strict.OutgoingRPCConfig("dc1")
	wantHandshakeFail(t, impostor.IncomingRPCConfig(), out)

	// Without verify_server_hostname Consul checks the chain only, so the
	// same certificate is accepted.
	lax := mustConfigurator(t, rpcCfg(p.ca, certFiles{}, false, true, false))
	out, _ = lax.OutgoingRPCConfig("dc1")
	if !out.InsecureSkipVerify || out.VerifyConnection == nil {
		t.Fatal("chain-only mode must verify by hand")
	}
	wantHandshakeOK(t, impostor.IncomingRPCConfig(), out)
}

func TestServerCertOfOtherDatacenterRefused(t *testing.T) {
	p := newPKI(t)
	srv := mustConfigurator(t, rpcCfg(p.ca, p.cert(t, "srv", CertServer, "dc1", false), false, false, false))
	cli := mustConfigurator(t, rpcCfg(p.ca, certFiles{}, false, true, true))
	out, _ := cli.OutgoingRPCConfig("dc2")
	if out.ServerName != "server.dc2.consul" {
		t.Fatalf("ServerName %q", out.ServerName)
	}
	wantHandshakeFail(t, srv.IncomingRPCConfig(), out)
}

func TestWrongCARefused(t *testing.T) {
	p := newPKI(t)
	other := mustConfigurator(t, rpcCfg(p.ca2, p.cert(t, "srv2", CertServer, "dc1", true), false, false, false))
	for _, host := range []bool{true, false} {
		cli := mustConfigurator(t, rpcCfg(p.ca, certFiles{}, false, true, host))
		out, _ := cli.OutgoingRPCConfig("dc1")
		wantHandshakeFail(t, other.IncomingRPCConfig(), out)
	}
	// And the server refuses a client certificate from a foreign CA.
	srv := mustConfigurator(t, rpcCfg(p.ca, p.cert(t, "srv", CertServer, "dc1", false), true, false, false))
	foreign := mustConfigurator(t, rpcCfg(p.ca, p.cert(t, "cli2", CertClient, "dc1", true), false, true, true))
	out, _ := foreign.OutgoingRPCConfig("dc1")
	wantHandshakeFail(t, srv.IncomingRPCConfig(), out)
}

func TestVerifyIncomingRequiresClientCert(t *testing.T) {
	p := newPKI(t)
	srvFiles := p.cert(t, "srv", CertServer, "dc1", false)
	anon := mustConfigurator(t, rpcCfg(p.ca, certFiles{}, false, true, true))
	out, _ := anon.OutgoingRPCConfig("dc1")

	strict := mustConfigurator(t, rpcCfg(p.ca, srvFiles, true, false, false))
	if strict.IncomingRPCConfig().GetConfigForClient == nil {
		t.Fatal("incoming config must follow reloads")
	}
	wantHandshakeFail(t, strict.IncomingRPCConfig(), out)

	lax := mustConfigurator(t, rpcCfg(p.ca, srvFiles, false, false, false))
	wantHandshakeOK(t, lax.IncomingRPCConfig(), out)
}

func TestPlaintextWhenNotConfigured(t *testing.T) {
	c := mustConfigurator(t, Config{Datacenter: "dc1"})
	if c.IncomingRPCConfig() != nil || c.IncomingHTTPSConfig() != nil {
		t.Fatal("configs without certificates must be nil")
	}
	out, err := c.OutgoingRPCConfig("dc1")
	if out != nil || err != nil {
		t.Fatalf("outgoing without verify_outgoing: %v %v", out, err)
	}
	if c.RequireIncomingRPCTLS() {
		t.Fatal("plaintext must be allowed")
	}
}

func TestHTTPSClientCertsOnlyWithVerifyIncoming(t *testing.T) {
	p := newPKI(t)
	srvFiles := p.cert(t, "srv", CertServer, "dc1", false)
	https := func(in bool) *Configurator {
		return mustConfigurator(t, Config{Datacenter: "dc1", HTTPS: ProtocolConfig{CAFile: p.ca, CertFile: srvFiles.cert, KeyFile: srvFiles.key, VerifyIncoming: in}})
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(p.caPEM))
	browser := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	wantHandshakeOK(t, https(false).IncomingHTTPSConfig(), browser)
	wantHandshakeFail(t, https(true).IncomingHTTPSConfig(), browser)

	cliFiles := p.cert(t, "cli", CertCLI, "dc1", false)
	pair, err := tls.LoadX509KeyPair(cliFiles.cert, cliFiles.key)
	if err != nil {
		t.Fatal(err)
	}
	withCert := &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{pair}}
	wantHandshakeOK(t, https(true).IncomingHTTPSConfig(), withCert)
}

func serial(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

func TestUpdateSwapsCertForNewHandshakes(t *testing.T) {
	p := newPKI(t)
	first := p.cert(t, "srv1", CertServer, "dc1", false)
	second := p.cert(t, "srv2", CertServer, "dc1", false)
	srv := mustConfigurator(t, rpcCfg(p.ca, first, true, true, true))
	cliFiles := p.cert(t, "cli", CertClient, "dc1", false)
	cli := mustConfigurator(t, rpcCfg(p.ca, cliFiles, false, true, true))

	in := srv.IncomingRPCConfig() // handed out before the reload
	out, _ := cli.OutgoingRPCConfig("dc1")
	oldConn, oldSrv, se, ce := handshake(t, in, out)
	if se != nil || ce != nil {
		t.Fatalf("handshake: %v %v", se, ce)
	}
	if got := oldConn.ConnectionState().PeerCertificates[0].SerialNumber.String(); got != serial(t, first.cert) {
		t.Fatal("first handshake did not see the first certificate")
	}

	if err := srv.Update(rpcCfg(p.ca, second, true, true, true)); err != nil {
		t.Fatal(err)
	}
	cc := wantHandshakeOK(t, in, out)
	if got := cc.ConnectionState().PeerCertificates[0].SerialNumber.String(); got != serial(t, second.cert) {
		t.Fatal("a new handshake after Update did not see the new certificate")
	}

	// The old connection keeps working.
	go func() {
		buf := make([]byte, 4)
		if _, err := io.ReadFull(oldSrv, buf); err == nil {
			_, _ = oldSrv.Write(buf)
		}
	}()
	if _, err := oldConn.Write([]byte("ping")); err != nil {
		t.Fatalf("old connection write: %v", err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(oldConn, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("old connection read: %q %v", buf, err)
	}

	// A failing Update keeps the old state.
	bad := rpcCfg(p.ca, certFiles{cert: second.cert, key: first.key}, true, true, true)
	if err := srv.Update(bad); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("bad Update: %v", err)
	}
	cc = wantHandshakeOK(t, in, out)
	if got := cc.ConnectionState().PeerCertificates[0].SerialNumber.String(); got != serial(t, second.cert) {
		t.Fatal("failed Update changed the certificate")
	}
}

func TestUpdateSwapsClientCert(t *testing.T) {
	p := newPKI(t)
	srv := mustConfigurator(t, rpcCfg(p.ca, p.cert(t, "srv", CertServer, "dc1", false), true, false, false))
	c1, c2 := p.cert(t, "c1", CertClient, "dc1", false), p.cert(t, "c2", CertClient, "dc1", false)
	cli := mustConfigurator(t, rpcCfg(p.ca, c1, false, true, true))
	out, _ := cli.OutgoingRPCConfig("dc1")
	_, sc, _, _ := handshake(t, srv.IncomingRPCConfig(), out)
	if sc.ConnectionState().PeerCertificates[0].SerialNumber.String() != serial(t, c1.cert) {
		t.Fatal("server did not see the first client certificate")
	}
	if err := cli.Update(rpcCfg(p.ca, c2, false, true, true)); err != nil {
		t.Fatal(err)
	}
	_, sc, _, _ = handshake(t, srv.IncomingRPCConfig(), out)
	if sc.ConnectionState().PeerCertificates[0].SerialNumber.String() != serial(t, c2.cert) {
		t.Fatal("config handed out before Update did not present the new client certificate")
	}
}

func TestCAPath(t *testing.T) {
	p := newPKI(t)
	dir := filepath.Join(p.dir, "cas")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "a.pem"), []byte(p.caPEM), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "sub", "b.pem"), []byte(p.ca2PEM), 0o600)
	cli := mustConfigurator(t, Config{Datacenter: "dc1", InternalRPC: ProtocolConfig{CAPath: dir, VerifyOutgoing: true, VerifyServerHostname: true}})
	for i, second := range []bool{false, true} {
		srv := mustConfigurator(t, rpcCfg(p.ca, p.cert(t, "s"+string(rune('0'+i)), CertServer, "dc1", second), false, false, false))
		out, _ := cli.OutgoingRPCConfig("dc1")
		wantHandshakeOK(t, srv.IncomingRPCConfig(), out)
	}
	_ = os.WriteFile(filepath.Join(dir, "README"), []byte("not a cert"), 0o600)
	_, err := NewConfigurator(Config{InternalRPC: ProtocolConfig{CAPath: dir}}, nil)
	wantConfigErr(t, err, "tls.internal_rpc.ca_path", filepath.Join(dir, "README"), ErrNotPEM)
}

func wantConfigErr(t *testing.T, err error, key, file string, is error) {
	t.Helper()
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *ConfigError", err)
	}
	if ce.Key != key || ce.File != file {
		t.Fatalf("error %q names key %q file %q, want %q %q", err, ce.Key, ce.File, key, file)
	}
	if !strings.Contains(err.Error(), key) || (file != "" && !strings.Contains(err.Error(), file)) {
		t.Fatalf("message %q does not name %s %s", err, key, file)
	}
	if is != nil && !errors.Is(err, is) {
		t.Fatalf("error %q is not %v", err, is)
	}
}

func TestLoadErrors(t *testing.T) {
	p := newPKI(t)
	srv := p.cert(t, "srv", CertServer, "dc1", false)
	other := p.cert(t, "other", CertServer, "dc1", false)
	garbage := p.write(t, "garbage.pem", "hello")
	missing := filepath.Join(p.dir, "nope.pem")
	rpc := func(pc ProtocolConfig) Config { return Config{Datacenter: "dc1", InternalRPC: pc} }
	cases := []struct {
		name      string
		cfg       Config
		key, file string
		is        error
	}{
		{"missing cert", rpc(ProtocolConfig{CertFile: missing, KeyFile: srv.key}), "tls.internal_rpc.cert_file", missing, os.ErrNotExist},
		{"missing key", rpc(ProtocolConfig{CertFile: srv.cert, KeyFile: missing}), "tls.internal_rpc.key_file", missing, os.ErrNotExist},
		{"cert not PEM", rpc(ProtocolConfig{CertFile: garbage, KeyFile: srv.key}), "tls.internal_rpc.cert_file", garbage, ErrNotPEM},
		{"key not PEM", rpc(ProtocolConfig{CertFile: srv.cert, KeyFile: garbage}), "tls.internal_rpc.key_file", garbage, ErrNotPEM},
		{"key mismatch", rpc(ProtocolConfig{CertFile: srv.cert, KeyFile: other.key}), "tls.internal_rpc.key_file", other.key, ErrKeyMismatch},
		{"cert without key", rpc(ProtocolConfig{CertFile: srv.cert}), "tls.internal_rpc.cert_file", srv.cert, nil},
		{"missing ca", rpc(ProtocolConfig{CAFile: missing}), "tls.internal_rpc.ca_file", missing, os.ErrNotExist},
		{"ca not PEM", rpc(ProtocolConfig{CAFile: garbage}), "tls.internal_rpc.ca_file", garbage, ErrNotPEM},
		{"https ca not PEM", Config{HTTPS: ProtocolConfig{CAFile: garbage}}, "tls.https.ca_file", garbage, ErrNotPEM},
		{"verify_incoming no CA", rpc(ProtocolConfig{CertFile: srv.cert, KeyFile: srv.key, VerifyIncoming: true}), "tls.internal_rpc.verify_incoming", "", ErrNoCA},
		{"verify_incoming no cert", rpc(ProtocolConfig{CAFile: p.ca, VerifyIncoming: true}), "tls.internal_rpc.verify_incoming", "", ErrNoCert},
		{"https verify_incoming no CA", Config{HTTPS: ProtocolConfig{CertFile: srv.cert, KeyFile: srv.key, VerifyIncoming: true}}, "tls.https.verify_incoming", "", ErrNoCA},
		{"verify_outgoing no CA", rpc(ProtocolConfig{VerifyOutgoing: true}), "tls.internal_rpc.verify_outgoing", "", ErrNoCA},
		{"verify_server_hostname no CA", rpc(ProtocolConfig{VerifyServerHostname: true}), "tls.internal_rpc.verify_server_hostname", "", ErrNoCA},
		{"bad version", rpc(ProtocolConfig{TLSMinVersion: "TLSv9"}), "tls.internal_rpc.tls_min_version", "", nil},
		{"bad suite", Config{HTTPS: ProtocolConfig{CipherSuites: []string{"TLS_NOPE"}}}, "tls.https.tls_cipher_suites", "", nil},
		{"suites with 1.3", rpc(ProtocolConfig{TLSMinVersion: "TLSv1_3", CipherSuites: []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}}), "tls.internal_rpc.tls_cipher_suites", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewConfigurator(tc.cfg, nil)
			wantConfigErr(t, err, tc.key, tc.file, tc.is)
		})
	}
}

func TestVersionsAndSuites(t *testing.T) {
	for s, want := range map[string]uint16{"": tls.VersionTLS12, "TLSv1_0": tls.VersionTLS10, "TLSv1_1": tls.VersionTLS11, "TLSv1_2": tls.VersionTLS12, "TLSv1_3": tls.VersionTLS13} {
		if got, err := ParseTLSVersion(s); err != nil || got != want {
			t.Fatalf("%q: %v %v", s, got, err)
		}
	}
	ids, err := ParseCipherSuites([]string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"})
	if err != nil || len(ids) != 2 || ids[1] != tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 {
		t.Fatalf("%v %v", ids, err)
	}
	if _, err := ParseCipherSuites([]string{"TLS_AES_128_GCM_SHA256"}); err == nil {
		t.Fatal("TLS 1.3 suites are not configurable")
	}
	p := newPKI(t)
	srv := mustConfigurator(t, Config{Datacenter: "dc1", InternalRPC: ProtocolConfig{CAFile: p.ca, CertFile: p.cert(t, "s", CertServer, "dc1", false).cert, KeyFile: filepath.Join(p.dir, "s-key.pem"), TLSMinVersion: "TLSv1_3"}})
	cli := mustConfigurator(t, Config{Datacenter: "dc1", InternalRPC: ProtocolConfig{CAFile: p.ca, VerifyOutgoing: true, TLSMinVersion: "TLSv1_2"}})
	out, _ := cli.OutgoingRPCConfig("dc1")
	out.MaxVersion = tls.VersionTLS12
	wantHandshakeFail(t, srv.IncomingRPCConfig(), out)
}

// syncBuffer collects log output.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestExpiredCertWarns(t *testing.T) {
	p := newPKI(t)
	ca, signer, err := parseCA(p.caPEM, p.caKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "server.dc1.consul"},
		NotBefore:    time.Now().Add(-48 * time.Hour),
		NotAfter:     time.Now().Add(-24 * time.Hour),
		DNSNames:     []string{"server.dc1.consul"},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := encodeKey(key)
	files := certFiles{
		cert: p.write(t, "old.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))),
		key:  p.write(t, "old-key.pem", keyPEM),
	}
	var logs syncBuffer
	srv, err := NewConfigurator(rpcCfg(p.ca, files, false, false, false), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("an expired certificate loads (as in Consul): %v", err)
	}
	if !strings.Contains(logs.String(), "expired") || !strings.Contains(logs.String(), files.cert) {
		t.Fatalf("no warning naming the file: %q", logs.String())
	}
	cli := mustConfigurator(t, rpcCfg(p.ca, certFiles{}, false, true, false))
	out, _ := cli.OutgoingRPCConfig("dc1")
	wantHandshakeFail(t, srv.IncomingRPCConfig(), out)
}

// WAN gossip through the gateways: with verify_server_hostname a server
// certificate of any datacenter is accepted, a client's is refused.
func TestVerifyAnyServerPeer(t *testing.T) {
	p := newPKI(t)
	srv := mustConfigurator(t, rpcCfg(p.ca, p.cert(t, "srv", CertServer, "dc1", false), true, true, true))
	peerState := func(name string, kind CertKind, dc string) tls.ConnectionState {
		t.Helper()
		peer := mustConfigurator(t, rpcCfg(p.ca, p.cert(t, name, kind, dc, false), false, true, false))
		out, err := peer.OutgoingRPCConfig("dc1")
		if err != nil {
			t.Fatal(err)
		}
		_, sc, se, ce := handshake(t, srv.IncomingRPCConfig(), out)
		if se != nil || ce != nil {
			t.Fatalf("%s handshake: %v %v", name, se, ce)
		}
		return sc.ConnectionState()
	}
	other := peerState("srv2", CertServer, "dc2")
	if err := srv.VerifyAnyServerPeer(other); err != nil {
		t.Fatalf("server of dc2 refused: %v", err)
	}
	if err := srv.VerifyServerPeer(other); err == nil {
		t.Fatal("VerifyServerPeer accepted a server of another datacenter")
	}
	if err := srv.VerifyAnyServerPeer(peerState("srv3", CertServer, "dc1")); err != nil {
		t.Fatalf("server of dc1 refused: %v", err)
	}
	cli := peerState("cli", CertClient, "dc2")
	if err := srv.VerifyAnyServerPeer(cli); err == nil {
		t.Fatal("a client certificate was accepted as a server of some datacenter")
	}
	// Without verify_server_hostname any verified peer passes.
	lax := mustConfigurator(t, rpcCfg(p.ca, p.cert(t, "srv4", CertServer, "dc1", false), true, true, false))
	if err := lax.VerifyAnyServerPeer(cli); err != nil {
		t.Fatalf("lax: %v", err)
	}
	for name, want := range map[string]bool{"server.dc9.consul": true, "SERVER.dc9.consul": true,
		"server.consul": false, "server.a.b.consul": false, "server.*.consul": false, "client.dc1.consul": false} {
		if isServerName(name, "consul.") != want {
			t.Errorf("isServerName(%q) != %v", name, want)
		}
	}
}
