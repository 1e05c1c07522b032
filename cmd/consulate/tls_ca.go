package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"consulate/tlsutil"
)

// tlsCACreateCommand is `consulate tls ca create`: a self-signed CA written
// to <domain>-agent-ca.pem and <domain>-agent-ca-key.pem.
func (e *env) tlsCACreateCommand() *cli.Command {
	return &cli.Command{
		Name:  "create",
		Usage: "Create a new Consulate CA",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "days", Value: tlsutil.DefaultCADays, Usage: "number of days the CA is valid for"},
			&cli.StringFlag{Name: "domain", Value: "consul", Usage: "domain of the cluster; used in file names and with -name-constraint"},
			&cli.BoolFlag{Name: "name-constraint", Usage: "limit the CA to localhost, -domain and -additional-name-constraint"},
			&cli.GenericFlag{Name: "additional-name-constraint", Value: &agentFlagList{}, Usage: "another DNS domain the CA may sign for (repeatable; needs -name-constraint)"},
			&cli.StringFlag{Name: "common-name", Usage: "common name of the CA (default \"Consul Agent CA <serial>\")"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			if c.Int("days") <= 0 {
				return fmt.Errorf("-days must be positive, got %d", c.Int("days"))
			}
			domain := c.String("domain")
			certFile := domain + "-agent-ca.pem"
			keyFile := domain + "-agent-ca-key.pem"
			for _, f := range []string{certFile, keyFile} {
				if fileExists(f) {
					return fmt.Errorf("%s already exists.", f)
				}
			}
			certPEM, keyPEM, err := tlsutil.GenerateCA(tlsutil.CAOptions{
				Days:                      c.Int("days"),
				Domain:                    domain,
				NameConstraint:            c.Bool("name-constraint"),
				AdditionalNameConstraints: *c.Generic("additional-name-constraint").(*agentFlagList),
				CommonName:                c.String("common-name"),
			})
			if err != nil {
				return fmt.Errorf("Error generating CA: %w", err)
			}
			return e.savePair(certFile, certPEM, keyFile, keyPEM)
		},
	}
}
