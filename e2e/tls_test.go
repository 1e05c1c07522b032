package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"consulate/internal/testutil"
)

// cliIn runs a consulate subcommand in dir.
func cliIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("consulate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// tlsAgentConfig writes a config file that turns on every verification
// with the given certificate pair, and HTTPS on 8501.
func tlsAgentConfig(t *testing.T, certs, cert string) string {
	t.Helper()
	cfg := map[string]any{
		"ports": map[string]any{"https": 8501},
		"tls": map[string]any{
			"defaults": map[string]any{
				"ca_file":         filepath.Join(certs, "consul-agent-ca.pem"),
				"cert_file":       filepath.Join(certs, cert+".pem"),
				"key_file":        filepath.Join(certs, cert+"-key.pem"),
				"verify_incoming": true,
				"verify_outgoing": true,
			},
			"internal_rpc": map[string]any{"verify_server_hostname": true},
		},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tls.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clientTLS is a TLS client config with the CA of dir and one of its
// certificate pairs.
func clientTLS(t *testing.T, dir, cert string) *tls.Config {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(dir, "consul-agent-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, cert+".pem"), filepath.Join(dir, cert+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, ServerName: "server.dc1.consul"}
}

// refused reports whether the server closed conn without answering
// (within a few seconds).
func refused(conn net.Conn) bool {
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := conn.Read(make([]byte, 1))
	return err == io.EOF || (err != nil && !isTimeout(err))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestTLSFederation runs the seed guide's cluster (three servers and a
// client) and a second datacenter with verify_incoming, verify_outgoing
// and verify_server_hostname on, every certificate made by `consulate
// tls`: membership, Raft, cross-DC HTTP and DNS and HTTPS with client
// certificates work; plaintext, a foreign CA and a client certificate on
// the Raft port are refused, each with a log line that says why.
func TestTLSFederation(t *testing.T) {
	certs := t.TempDir()
	cliIn(t, certs, "tls", "ca", "create")
	ips := []string{"127.0.0.131", "127.0.0.132", "127.0.0.133"}
	for _, ip := range ips {
		// The address in the SANs lets HTTPS clients verify the host.
		cliIn(t, certs, "tls", "cert", "create", "-server", "-dc", "dc1", "-additional-ipaddress", ip)
	}
	cliIn(t, certs, "tls", "cert", "create", "-client", "-dc", "dc1")
	cliIn(t, certs, "tls", "cert", "create", "-server", "-dc", "dc2")

	var dc1 []*agentProc
	for i, ip := range ips {
		dc1 = append(dc1, startAgent(t, fmt.Sprintf("tls-s%d", i+1), ip,
			"-server", "-datacenter", "dc1", "-bootstrap-expect", "3",
			"-retry-join", ips[0], "-retry-interval", "200ms",
			"-config-file", tlsAgentConfig(t, certs, fmt.Sprintf("dc1-server-consul-%d", i))))
	}
	for _, s := range dc1 {
		s.waitHTTP(15 * time.Second)
	}
	dc1[0].waitLeader(20 * time.Second)
	client := startAgent(t, "tls-c1", "127.0.0.134", "-datacenter", "dc1", "-join", ips[0],
		"-config-file", tlsAgentConfig(t, certs, "dc1-client-consul-0"))
	client.waitHTTP(15 * time.Second)
	dc2 := startAgent(t, "tls-dc2-s1", "127.0.0.141", "-server", "-datacenter", "dc2", "-bootstrap-expect", "1",
		"-config-file", tlsAgentConfig(t, certs, "dc2-server-consul-0"))
	dc2.waitHTTP(15 * time.Second)
	dc2.waitLeader(15 * time.Second)

	// Membership and Raft: four LAN members, three Raft voters.
	client.waitAliveMembers(15*time.Second, 4)
	testutil.WaitForErr(t, 15*time.Second, "three Raft voters", func() error {
		cfg, err := dc1[0].client().Operator().RaftGetConfiguration(nil)
		if err != nil {
			return err
		}
		if len(cfg.Servers) != 3 {
			return fmt.Errorf("%d servers", len(cfg.Servers))
		}
		return nil
	})
	// A write through the client travels client → server → leader, all
	// over TLS.
	if _, err := client.client().KV().Put(&api.KVPair{Key: "tls/k", Value: []byte("v")}, nil); err != nil {
		t.Fatalf("write through the client: %v", err)
	}

	// Federation over TLS.
	if out, err := cli(t, "join", "-wan", "--http-addr", dc1[0].httpAddr(), "127.0.0.141"); err != nil {
		t.Fatalf("join -wan: %v\n%s", err, out)
	}
	if err := dc2.client().Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "web", Port: 80}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitForErr(t, 20*time.Second, "cross-DC read from the dc1 client", func() error {
		svcs, _, err := client.client().Catalog().Service("web", "", &api.QueryOptions{Datacenter: "dc2"})
		if err != nil {
			return err
		}
		if len(svcs) != 1 {
			return fmt.Errorf("%d instances", len(svcs))
		}
		return nil
	})
	testutil.WaitForErr(t, 10*time.Second, "cross-DC DNS through the client", func() error {
		m := new(dns.Msg)
		m.SetQuestion("web.service.dc2.consul.", dns.TypeSRV)
		r, err := dns.Exchange(m, client.ip+":8600")
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			return fmt.Errorf("rcode %d, %d answers", r.Rcode, len(r.Answer))
		}
		return nil
	})

	// HTTPS with a client certificate, through the official client.
	hcfg := api.DefaultConfig()
	hcfg.Address = ips[0] + ":8501"
	hcfg.Scheme = "https"
	hcfg.TLSConfig = api.TLSConfig{
		CAFile:   filepath.Join(certs, "consul-agent-ca.pem"),
		CertFile: filepath.Join(certs, "dc1-client-consul-0.pem"),
		KeyFile:  filepath.Join(certs, "dc1-client-consul-0-key.pem"),
	}
	hc, err := api.NewClient(hcfg)
	if err != nil {
		t.Fatal(err)
	}
	if kv, _, err := hc.KV().Get("tls/k", nil); err != nil || kv == nil || string(kv.Value) != "v" {
		t.Fatalf("HTTPS read: %v %v", kv, err)
	}
	// Without a client certificate the HTTPS handshake is refused.
	nocert := api.DefaultConfig()
	nocert.Address, nocert.Scheme = hcfg.Address, "https"
	nocert.TLSConfig = api.TLSConfig{CAFile: hcfg.TLSConfig.CAFile}
	if nc, err := api.NewClient(nocert); err == nil {
		if _, _, err := nc.KV().Get("tls/k", nil); err == nil {
			t.Fatal("HTTPS answered a client without a certificate")
		}
	}

	srv := dc1[0]
	// Plaintext RPC is refused, with a log line that says why.
	conn, err := net.DialTimeout("tcp", srv.ip+":8300", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte{0})
	if !refused(conn) {
		t.Fatal("plaintext RPC was not refused")
	}
	conn.Close()
	waitLog(t, srv, "plaintext refused", "non-TLS connection")

	// A certificate from another CA is refused.
	other := t.TempDir()
	cliIn(t, other, "tls", "ca", "create")
	cliIn(t, other, "tls", "cert", "create", "-client", "-dc", "dc1")
	foreign := clientTLS(t, other, "dc1-client-consul-0")
	foreign.RootCAs = clientTLS(t, certs, "dc1-client-consul-0").RootCAs
	if err := tlsDialRPC(srv.ip+":8300", foreign, 0); err == nil {
		t.Fatal("a certificate from another CA was accepted")
	}
	waitLog(t, srv, "foreign CA refused", "TLS handshake failed")

	// A client certificate may make RPC calls (client agents do) but may
	// not speak Raft as if it were a server.
	if err := tlsDialRPC(srv.ip+":8300", clientTLS(t, certs, "dc1-client-consul-0"), 1); err == nil {
		t.Fatal("a client certificate was let onto the Raft port")
	}
	waitLog(t, srv, "client certificate refused for Raft", "server.dc1.consul")

	// Reload without downtime: a connection opened before keeps working,
	// new ones get the new certificate.
	httpsTLS := clientTLS(t, certs, "dc1-client-consul-0")
	httpsTLS.ServerName = ""
	serial := func(c *tls.Conn) string { return c.ConnectionState().PeerCertificates[0].SerialNumber.String() }
	before, err := tls.Dial("tcp", ips[0]+":8501", httpsTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	oldSerial := serial(before)
	cliIn(t, certs, "tls", "cert", "create", "-server", "-dc", "dc1", "-additional-ipaddress", ips[0])
	for _, ext := range []string{".pem", "-key.pem"} {
		b, err := os.ReadFile(filepath.Join(certs, "dc1-server-consul-3"+ext))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certs, "dc1-server-consul-0"+ext), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := cli(t, "reload", "--http-addr", srv.httpAddr()); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	after, err := tls.Dial("tcp", ips[0]+":8501", httpsTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if serial(after) == oldSerial {
		t.Fatal("a new HTTPS connection still gets the old certificate after reload")
	}
	fmt.Fprintf(before, "GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n")
	before.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(before).ReadString('\n')
	if err != nil || !strings.Contains(line, "200") {
		t.Fatalf("the connection opened before the reload: %q %v", line, err)
	}
	// The cluster still works over TLS with the new certificate.
	if _, err := client.client().KV().Put(&api.KVPair{Key: "tls/after-reload", Value: []byte("v")}, nil); err != nil {
		t.Fatalf("write after reload: %v", err)
	}
}

// tlsDialRPC opens a TLS connection to a server port as Consul's agents
// do (the TLS byte, the handshake, then the inner protocol byte) and
// reports an error when the server refuses it (a failed handshake or a
// closed connection).
func tlsDialRPC(addr string, cfg *tls.Config, inner byte) error {
	raw, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := raw.Write([]byte{3}); err != nil {
		return err
	}
	conn := tls.Client(raw, cfg)
	if err := conn.Handshake(); err != nil {
		return err
	}
	if _, err := conn.Write([]byte{inner}); err != nil {
		return err
	}
	if refused(conn) {
		return fmt.Errorf("closed by the server")
	}
	return nil
}

// waitLog waits until the agent's log holds text.
func waitLog(t *testing.T, a *agentProc, what, text string) {
	t.Helper()
	testutil.WaitFor(t, 5*time.Second, what+" in the log of "+a.name, func() bool {
		return strings.Contains(a.log.String(), text)
	})
}
