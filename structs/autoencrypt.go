package structs

import "time"

// MethodAutoEncryptSign signs a client agent's certificate request
// (AutoEncryptSignRequest → AutoEncryptSignResponse). It is the only
// method served on a connection opened with the TLS-without-client-
// certificate protocol byte, and only by servers with
// auto_encrypt.allow_tls.
const MethodAutoEncryptSign Method = "AutoEncrypt.Sign"

// AutoEncryptSignRequest carries a client agent's certificate signing
// request.
type AutoEncryptSignRequest struct {
	// Datacenter is the client's datacenter ("" = the server's).
	Datacenter string
	// NodeName is the client's node name, for the server's logs.
	NodeName string
	// CSR is the PEM encoded PKCS #10 certificate request.
	CSR string
	// Token is the agent's ACL token; with ACLs on it needs node:write on
	// NodeName (as Consul), so that reaching the server port is not
	// enough to get a certificate.
	Token string
}

// RequestDatacenter implements RPCInfo. It is always "" (local): a
// request is never forwarded to another datacenter; the endpoint refuses
// a Datacenter that is not the server's own.
func (r *AutoEncryptSignRequest) RequestDatacenter() string { return "" }

// IsRead implements RPCInfo: signing writes nothing.
func (r *AutoEncryptSignRequest) IsRead() bool { return true }

// IssuedCert is a certificate a server signed for a client agent. The
// client keeps its private key; only the certificate travels.
type IssuedCert struct {
	// CertPEM is the signed certificate, PEM encoded.
	CertPEM string
	// ValidAfter and ValidBefore bound its validity.
	ValidAfter, ValidBefore time.Time
}

// AutoEncryptSignResponse is the signed certificate and the roots the
// client must trust to talk to the servers.
type AutoEncryptSignResponse struct {
	IssuedCert IssuedCert
	// ManualCARoots are the PEM certificates of the server's ca_file or
	// ca_path (the agent CA that signed the servers' certificates).
	ManualCARoots []string
	// Roots are the PEM certificates of the auto-encrypt signing CA.
	Roots []string
}

// AutoEncryptCA is the signing CA shared by every server of a datacenter
// through Raft. It holds a private key: nothing outside the servers reads
// it.
type AutoEncryptCA struct {
	// ID is always AutoEncryptCAID (the table holds one row).
	ID string
	// CertPEM and KeyPEM are the CA certificate and its private key.
	CertPEM, KeyPEM string
	CreateIndex     uint64
	ModifyIndex     uint64
}

// AutoEncryptCAID is the ID of the one AutoEncryptCA row.
const AutoEncryptCAID = "auto-encrypt"
