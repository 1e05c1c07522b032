// Package autoencrypt is the client side of Consul's auto_encrypt: a
// client agent with auto_encrypt.tls and only a CA file asks a server for
// a certificate at start and renews it before it expires.
//
// The first request travels over the server port's TLS-without-client-
// certificate byte (rpcmux.RPCTLSInsecure), on which servers serve only
// AutoEncrypt.Sign; the server is verified with the configured CA (and
// its name with verify_server_hostname). The client generates an ECDSA
// P-256 key, which never leaves it, and sends a certificate request for
// client.<dc>.<domain>, localhost and auto_encrypt.dns_san / ip_san. The
// signed certificate becomes the agent's internal RPC client certificate
// and the returned roots are trusted (tlsutil.Configurator.SetAutoEncrypt).
// Renewal, at half the certificate's lifetime, goes through the agent's
// normal (TLS) RPC path, and falls back to the first way.
package autoencrypt
