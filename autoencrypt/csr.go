package autoencrypt

import (
	"consulate/tlsutil"
)

// generateCSR makes a fresh key and a request for the client's names.
func generateCSR(cfg Config) (csrPEM, keyPEM string, err error) {
	client := "client." + cfg.Datacenter + "." + cfg.Domain
	names := append([]string{client, "localhost"}, cfg.DNSSAN...)
	return tlsutil.GenerateCSR(client, names, cfg.IPSAN)
}
