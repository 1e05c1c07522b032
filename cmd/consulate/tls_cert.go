package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"consulate/tlsutil"
)

// serverCertWarning is what Consul prints before making a server
// certificate.
const serverCertWarning = `==> WARNING: Server Certificates grants authority to become a
    server and access all state in the cluster including root keys
    and all ACL tokens. Do not distribute them to production hosts
    that are not server nodes. Store them as securely as CA keys.`

// maxCertIndex bounds the search for a free file name.
const maxCertIndex = 10000

// tlsCertCreateCommand is `consulate tls cert create`: a server, client or
// CLI certificate signed by the CA, written to <dc>-<kind>-<domain>-<n>.pem
// and -key.pem with n the first free index.
func (e *env) tlsCertCreateCommand() *cli.Command {
	return &cli.Command{
		Name:  "create",
		Usage: "Create a new certificate",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "server", Usage: "generate a server certificate"},
			&cli.BoolFlag{Name: "client", Usage: "generate a client certificate"},
			&cli.BoolFlag{Name: "cli", Usage: "generate a CLI certificate"},
			&cli.StringFlag{Name: "dc", Value: "dc1", Usage: "datacenter of the certificate"},
			&cli.StringFlag{Name: "domain", Value: "consul", Usage: "domain of the cluster"},
			&cli.StringFlag{Name: "node", Usage: "node name added to a server certificate as <node>.server.<dc>.<domain>"},
			&cli.GenericFlag{Name: "additional-dnsname", Value: &agentFlagList{}, Usage: "another DNS name for the SANs; localhost is always included (repeatable)"},
			&cli.GenericFlag{Name: "additional-ipaddress", Value: &agentFlagList{}, Usage: "another IP address for the SANs; 127.0.0.1 is always included (repeatable)"},
			&cli.IntFlag{Name: "days", Value: tlsutil.DefaultCertDays, Usage: "number of days the certificate is valid for"},
			&cli.StringFlag{Name: "ca", Value: "#DOMAIN#-agent-ca.pem", Usage: "path to the CA certificate"},
			&cli.StringFlag{Name: "key", Value: "#DOMAIN#-agent-ca-key.pem", Usage: "path to the CA key"},
		},
		Action: e.tlsCertCreate,
	}
}

func (e *env) tlsCertCreate(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	var kind tlsutil.CertKind
	n := 0
	for _, k := range []tlsutil.CertKind{tlsutil.CertServer, tlsutil.CertClient, tlsutil.CertCLI} {
		if c.Bool(string(k)) {
			kind = k
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("Please provide either -server, -client, or -cli")
	}
	if c.String("node") != "" && kind != tlsutil.CertServer {
		return fmt.Errorf("-node requires -server")
	}
	if c.Int("days") <= 0 {
		return fmt.Errorf("-days must be positive, got %d", c.Int("days"))
	}
	dc, domain := c.String("dc"), c.String("domain")
	caFile := strings.ReplaceAll(c.String("ca"), "#DOMAIN#", domain)
	keyFile := strings.ReplaceAll(c.String("key"), "#DOMAIN#", domain)
	if caFile == "" {
		return fmt.Errorf("Please provide the ca")
	}
	if keyFile == "" {
		return fmt.Errorf("Please provide the key")
	}
	var ips []net.IP
	for _, s := range *c.Generic("additional-ipaddress").(*agentFlagList) {
		ip := net.ParseIP(s)
		if ip == nil {
			return fmt.Errorf("%q is not a valid IP address", s)
		}
		ips = append(ips, ip)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("Error reading CA: %w", err)
	}
	caKeyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return fmt.Errorf("Error reading CA key: %w", err)
	}

	prefix := fmt.Sprintf("%s-%s-%s", dc, kind, domain)
	var certOut, keyOut string
	for i := 0; ; i++ {
		if i == maxCertIndex {
			return fmt.Errorf("%s-0.pem to %s-%d.pem all exist", prefix, prefix, i-1)
		}
		certOut = fmt.Sprintf("%s-%d.pem", prefix, i)
		keyOut = fmt.Sprintf("%s-%d-key.pem", prefix, i)
		if !fileExists(certOut) {
			break
		}
	}
	if fileExists(keyOut) {
		return fmt.Errorf("%s already exists.", keyOut)
	}

	certPEM, keyPEM, err := tlsutil.GenerateCert(tlsutil.CertOptions{
		CACertPEM:   string(caPEM),
		CAKeyPEM:    string(caKeyPEM),
		Kind:        kind,
		Datacenter:  dc,
		Domain:      domain,
		NodeName:    c.String("node"),
		DNSNames:    *c.Generic("additional-dnsname").(*agentFlagList),
		IPAddresses: ips,
		Days:        c.Int("days"),
	})
	if err != nil {
		return fmt.Errorf("Error generating certificate: %w", err)
	}
	if kind == tlsutil.CertServer {
		fmt.Fprintln(e.stdout, serverCertWarning)
	}
	fmt.Fprintf(e.stdout, "==> Using %s and %s\n", caFile, keyFile)
	return e.savePair(certOut, certPEM, keyOut, keyPEM)
}
