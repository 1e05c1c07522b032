package main

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func readCert(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("%s: no PEM certificate", name)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

func wantMode(t *testing.T, name string, mode os.FileMode) {
	t.Helper()
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != mode {
		t.Fatalf("%s mode %v, want %v", name, st.Mode().Perm(), mode)
	}
}

func TestTLSCACreateAndCerts(t *testing.T) {
	t.Chdir(t.TempDir())

	r := runCLI(t, nil, "", "tls", "ca", "create")
	wantOK(t, r)
	if r.stdout != "==> Saved consul-agent-ca.pem\n==> Saved consul-agent-ca-key.pem\n" {
		t.Fatalf("ca create output %q", r.stdout)
	}
	ca := readCert(t, "consul-agent-ca.pem")
	if !ca.IsCA || !strings.HasPrefix(ca.Subject.CommonName, "Consul Agent CA ") {
		t.Fatalf("CA %q IsCA=%v", ca.Subject.CommonName, ca.IsCA)
	}
	if d := time.Until(ca.NotAfter); d < 1824*24*time.Hour {
		t.Fatalf("CA validity %v", d)
	}
	wantMode(t, "consul-agent-ca-key.pem", 0o600)
	wantFail(t, runCLI(t, nil, "", "tls", "ca", "create"), 1, "consul-agent-ca.pem already exists")

	roots := x509.NewCertPool()
	roots.AddCert(ca)

	// Server: SANs, usage, and it verifies for server.dc1.consul.
	r = runCLI(t, nil, "", "tls", "cert", "create", "-server", "-node", "n1", "-additional-dnsname", "consul.example.com", "-additional-ipaddress", "10.0.0.5")
	wantOK(t, r)
	for _, want := range []string{"WARNING: Server Certificates grants authority", "==> Using consul-agent-ca.pem and consul-agent-ca-key.pem", "==> Saved dc1-server-consul-0.pem\n==> Saved dc1-server-consul-0-key.pem\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("server output %q lacks %q", r.stdout, want)
		}
	}
	srv := readCert(t, "dc1-server-consul-0.pem")
	if want := []string{"server.dc1.consul", "n1.server.dc1.consul", "localhost", "consul.example.com"}; !slices.Equal(srv.DNSNames, want) {
		t.Fatalf("server SANs %v", srv.DNSNames)
	}
	if len(srv.IPAddresses) != 2 || !srv.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !srv.IPAddresses[1].Equal(net.ParseIP("10.0.0.5")) {
		t.Fatalf("server IPs %v", srv.IPAddresses)
	}
	if !slices.Equal(srv.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Fatalf("server usage %v", srv.ExtKeyUsage)
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, DNSName: "server.dc1.consul"}); err != nil {
		t.Fatalf("server cert does not verify: %v", err)
	}
	if d := time.Until(srv.NotAfter); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Fatalf("server validity %v", d)
	}
	wantMode(t, "dc1-server-consul-0-key.pem", 0o600)

	// A second server certificate takes the next index.
	wantOK(t, runCLI(t, nil, "", "tls", "cert", "create", "-server"))
	readCert(t, "dc1-server-consul-1.pem")

	// Client: must not be able to pose as a server.
	r = runCLI(t, nil, "", "tls", "cert", "create", "-client")
	wantOK(t, r)
	if strings.Contains(r.stdout, "WARNING") || !strings.HasSuffix(r.stdout, "==> Saved dc1-client-consul-0.pem\n==> Saved dc1-client-consul-0-key.pem\n") {
		t.Fatalf("client output %q", r.stdout)
	}
	cl := readCert(t, "dc1-client-consul-0.pem")
	if slices.Contains(cl.DNSNames, "server.dc1.consul") || !slices.Equal(cl.DNSNames, []string{"client.dc1.consul", "localhost"}) {
		t.Fatalf("client SANs %v", cl.DNSNames)
	}
	if _, err := cl.Verify(x509.VerifyOptions{Roots: roots, DNSName: "server.dc1.consul"}); err == nil {
		t.Fatal("client cert verifies as server.dc1.consul")
	}
	if _, err := cl.Verify(x509.VerifyOptions{Roots: roots, DNSName: "client.dc1.consul", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("client cert: %v", err)
	}

	// CLI, another datacenter and validity.
	r = runCLI(t, nil, "", "tls", "cert", "create", "-cli", "-dc", "dc2", "-days", "30")
	wantOK(t, r)
	cli := readCert(t, "dc2-cli-consul-0.pem")
	if !slices.Equal(cli.DNSNames, []string{"cli.client.dc2.consul", "localhost"}) || !slices.Equal(cli.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Fatalf("cli SANs %v usage %v", cli.DNSNames, cli.ExtKeyUsage)
	}
	if d := time.Until(cli.NotAfter); d > 31*24*time.Hour {
		t.Fatalf("cli validity %v", d)
	}

	// A stray key file is never overwritten.
	if err := os.WriteFile("dc1-client-consul-1-key.pem", []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantFail(t, runCLI(t, nil, "", "tls", "cert", "create", "-client"), 1, "dc1-client-consul-1-key.pem already exists")
	if data, _ := os.ReadFile("dc1-client-consul-1-key.pem"); string(data) != "keep" {
		t.Fatal("key file overwritten")
	}
	if fileExists("dc1-client-consul-1.pem") {
		t.Fatal("cert written although the key could not be")
	}
}

func TestTLSCACreateNameConstraint(t *testing.T) {
	t.Chdir(t.TempDir())
	r := runCLI(t, nil, "", "tls", "ca", "create", "-domain", "example", "-name-constraint", "-additional-name-constraint", "ui.example.com", "-common-name", "Test CA", "-days", "10")
	wantOK(t, r)
	if r.stdout != "==> Saved example-agent-ca.pem\n==> Saved example-agent-ca-key.pem\n" {
		t.Fatalf("output %q", r.stdout)
	}
	ca := readCert(t, "example-agent-ca.pem")
	if ca.Subject.CommonName != "Test CA" || !slices.Equal(ca.PermittedDNSDomains, []string{"example", "localhost", "ui.example.com"}) {
		t.Fatalf("CA %q constraints %v", ca.Subject.CommonName, ca.PermittedDNSDomains)
	}
	if d := time.Until(ca.NotAfter); d > 11*24*time.Hour {
		t.Fatalf("validity %v", d)
	}
	wantOK(t, runCLI(t, nil, "", "tls", "cert", "create", "-server", "-domain", "example"))
	srv := readCert(t, "dc1-server-example-0.pem")
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, DNSName: "server.dc1.example"}); err != nil {
		t.Fatal(err)
	}
}

func TestTLSCertCreateErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"tls", "cert", "create"}, "Please provide either -server, -client, or -cli"},
		{[]string{"tls", "cert", "create", "-server", "-client"}, "Please provide either -server, -client, or -cli"},
		{[]string{"tls", "cert", "create", "-client", "-node", "n1"}, "-node requires -server"},
		{[]string{"tls", "cert", "create", "-server"}, "Error reading CA"},
		{[]string{"tls", "cert", "create", "-server", "-additional-ipaddress", "nope"}, "not a valid IP address"},
		{[]string{"tls", "cert", "create", "-server", "extra"}, "takes no arguments"},
		{[]string{"tls", "ca", "create", "-days", "0"}, "-days must be positive"},
		{[]string{"tls", "frob"}, `unknown subcommand "frob"`},
	}
	for _, tc := range cases {
		r := runCLI(t, nil, "", tc.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d stderr %q, want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	entries, _ := os.ReadDir(".")
	if len(entries) != 0 {
		t.Fatalf("failed invocations left files: %v", entries)
	}
}
