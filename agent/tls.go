package agent

import (
	"strings"

	"consulate/config"
	"consulate/tlsutil"
)

// tlsConfig is the TLS part of the runtime config, as tlsutil takes it.
func tlsConfig(rt *config.Runtime) tlsutil.Config {
	return tlsutil.Config{
		InternalRPC: tlsutil.ProtocolConfig(rt.TLS.InternalRPC),
		HTTPS:       tlsutil.ProtocolConfig(rt.TLS.HTTPS),
		Domain:      strings.TrimSuffix(rt.DNSDomain, "."),
		NodeName:    rt.NodeName,
		ServerMode:  rt.ServerMode,
		Datacenter:  rt.Datacenter,
	}
}
