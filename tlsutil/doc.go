// Package tlsutil is the agent's TLS room: it loads the certificate
// authorities and key pairs named in the tls{} configuration, checks them the
// way Consul 1.16 does, and hands out *tls.Config values for each port — the
// server RPC port (incoming), dialing a server of some datacenter (outgoing)
// and the HTTPS listener. It also generates the CA and agent certificates
// that `consulate tls ca create` and `consulate tls cert create` write.
//
// Reload: a Configurator holds its loaded state behind an atomic pointer.
// Update loads and checks a new configuration completely before swapping it
// in; a failed Update leaves the old state in place. The configs handed out
// read the current state at handshake time (GetConfigForClient,
// GetClientCertificate), so a reload changes the certificates of new
// connections only; established connections keep theirs. Outgoing configs
// take the CA pool and verification mode at the time OutgoingRPCConfig is
// called, so dialers ask for a fresh config per connection.
//
// Verification on the internal RPC port mirrors Consul:
//   - verify_incoming: a client certificate signed by the CA is required
//     (and plaintext is refused by the caller, see RequireIncomingRPCTLS);
//     without it a client certificate is verified only when one is given.
//   - verify_outgoing: dials use TLS and check the server's chain against the
//     CA pool, but not its host name (Consul's node names are not DNS names).
//   - verify_server_hostname (implies verify_outgoing): the server must also
//     present the DNS name server.<datacenter>.<domain>, so a client
//     certificate signed by the same CA cannot pose as a server.
//
// Errors name the configuration key and the file, e.g.
// `tls.internal_rpc.cert_file "/x.pem": no PEM certificate found`; they are
// *ConfigError values.
package tlsutil
