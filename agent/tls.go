package agent

import (
	"context"
	"net"
	"strings"

	"consulate/autoencrypt"
	"consulate/config"
	"consulate/tlsutil"
)

// tlsConfig is the TLS part of the runtime config, as tlsutil takes it.
func tlsConfig(rt *config.Runtime) tlsutil.Config {
	rpc := tlsutil.ProtocolConfig(rt.TLS.InternalRPC)
	if rt.TLS.AutoEncryptTLS && rpc.CertFile == "" {
		// A client serves no RPC port: verify_incoming there has nothing
		// to verify, and the certificate comes later (auto_encrypt).
		rpc.VerifyIncoming = false
	}
	return tlsutil.Config{
		InternalRPC: rpc,
		HTTPS:       tlsutil.ProtocolConfig(rt.TLS.HTTPS),
		Domain:      strings.TrimSuffix(rt.DNSDomain, "."),
		NodeName:    rt.NodeName,
		ServerMode:  rt.ServerMode,
		Datacenter:  rt.Datacenter,
	}
}

// startAutoEncrypt obtains the client's certificate from the servers
// (auto_encrypt.tls) and starts its renewal; a no-op otherwise.
func (a *Agent) startAutoEncrypt(ctx context.Context) error {
	rt := a.cfg
	if !rt.TLS.AutoEncryptTLS || rt.ServerMode {
		return nil
	}
	cfg := autoencrypt.DefaultConfig()
	cfg.Datacenter, cfg.NodeName = rt.Datacenter, rt.NodeName
	cfg.Domain = strings.TrimSuffix(rt.DNSDomain, ".")
	cfg.DNSSAN = rt.TLS.AutoEncryptDNSSAN
	for _, s := range rt.TLS.AutoEncryptIPSAN {
		if ip := net.ParseIP(s); ip != nil {
			cfg.IPSAN = append(cfg.IPSAN, ip)
		}
	}
	join := append(append([]string(nil), rt.StartJoinAddrsLAN...), rt.RetryJoinLAN...)
	cfg.Servers = func() []string { return autoencrypt.ServerAddrs(join, rt.ServerPort) }
	cfg.Token = a.tokens.AgentToken
	cfg.SourceAddr = rt.BindAddr
	cfg.Logger = a.base
	c, err := autoencrypt.New(cfg, autoencrypt.Deps{TLS: a.tls, RPC: a.RPC})
	if err != nil {
		return err
	}
	if err := c.Bootstrap(ctx); err != nil {
		return err
	}
	a.autoEncrypt = c
	c.Start()
	return nil
}
