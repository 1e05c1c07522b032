package config

import (
	"fmt"
	"net"
	"reflect"
	"strings"
)

// legacyTLSKey is one deprecated top-level TLS key and where Consul moves
// it: into tls.defaults, or (verify_incoming_rpc/https,
// verify_server_hostname) into one protocol's block.
type legacyTLSKey struct {
	old, new string
	get      func(c *Config) any
	set      func(t *TLS, v any) bool // false when the new key was already set
}

func setStr(dst **string, v any) bool {
	if *dst != nil {
		return false
	}
	*dst = v.(*string)
	return true
}

func setBool(dst **bool, v any) bool {
	if *dst != nil {
		return false
	}
	*dst = v.(*bool)
	return true
}

func orNew(p **TLSProtocol) *TLSProtocol {
	if *p == nil {
		*p = &TLSProtocol{}
	}
	return *p
}

// legacyTLSVersions are the tls_min_version values Consul accepted before
// 1.12; the deprecated top-level key still takes them.
var legacyTLSVersions = map[string]string{
	"tls10": "TLSv1_0", "tls11": "TLSv1_1", "tls12": "TLSv1_2", "tls13": "TLSv1_3",
}

var legacyTLSKeys = []legacyTLSKey{
	{"ca_file", "tls.defaults.ca_file", func(c *Config) any { return c.LegacyCAFile },
		func(t *TLS, v any) bool { return setStr(&orNew(&t.Defaults).CAFile, v) }},
	{"ca_path", "tls.defaults.ca_path", func(c *Config) any { return c.LegacyCAPath },
		func(t *TLS, v any) bool { return setStr(&orNew(&t.Defaults).CAPath, v) }},
	{"cert_file", "tls.defaults.cert_file", func(c *Config) any { return c.LegacyCertFile },
		func(t *TLS, v any) bool { return setStr(&orNew(&t.Defaults).CertFile, v) }},
	{"key_file", "tls.defaults.key_file", func(c *Config) any { return c.LegacyKeyFile },
		func(t *TLS, v any) bool { return setStr(&orNew(&t.Defaults).KeyFile, v) }},
	{"verify_incoming", "tls.defaults.verify_incoming", func(c *Config) any { return c.LegacyVerifyIncoming },
		func(t *TLS, v any) bool { return setBool(&orNew(&t.Defaults).VerifyIncoming, v) }},
	{"verify_incoming_rpc", "tls.internal_rpc.verify_incoming", func(c *Config) any { return c.LegacyVerifyIncomingRPC },
		func(t *TLS, v any) bool { return setBool(&orNew(&t.InternalRPC).VerifyIncoming, v) }},
	{"verify_incoming_https", "tls.https.verify_incoming", func(c *Config) any { return c.LegacyVerifyIncomingHTTPS },
		func(t *TLS, v any) bool { return setBool(&orNew(&t.HTTPS).VerifyIncoming, v) }},
	{"verify_outgoing", "tls.defaults.verify_outgoing", func(c *Config) any { return c.LegacyVerifyOutgoing },
		func(t *TLS, v any) bool { return setBool(&orNew(&t.Defaults).VerifyOutgoing, v) }},
	{"verify_server_hostname", "tls.internal_rpc.verify_server_hostname", func(c *Config) any { return c.LegacyVerifyServerHostname },
		func(t *TLS, v any) bool { return setBool(&orNew(&t.InternalRPC).VerifyServerHostname, v) }},
	{"tls_min_version", "tls.defaults.tls_min_version", func(c *Config) any { return c.LegacyTLSMinVersion },
		func(t *TLS, v any) bool {
			s := *v.(*string)
			if n, ok := legacyTLSVersions[s]; ok {
				s = n
			}
			return setStr(&orNew(&t.Defaults).TLSMinVersion, &s)
		}},
	{"tls_cipher_suites", "tls.defaults.tls_cipher_suites", func(c *Config) any { return c.LegacyTLSCipherSuites },
		func(t *TLS, v any) bool { return setStr(&orNew(&t.Defaults).TLSCipherSuites, v) }},
}

// applyLegacyTLS moves one source's deprecated top-level TLS keys into its
// tls stanza, as Consul does per source: a new key set in the same source
// wins over its deprecated form. Each use adds Consul's deprecation
// warning; b.legacy remembers the old name for error messages.
func (b *builder) applyLegacyTLS(sc *Config, name string) {
	// Paths this source sets itself in the tls stanza.
	direct := origins{}
	if sc.TLS != nil {
		mergeStruct("tls", reflect.ValueOf(&TLS{}).Elem(), reflect.ValueOf(sc.TLS).Elem(), name, direct)
	}
	for p := range direct {
		delete(b.legacy, p)
	}
	var t TLS
	if sc.TLS != nil {
		t = *sc.TLS
		// Copy the blocks so the parsed source is not changed.
		for _, p := range []**TLSProtocol{&t.Defaults, &t.InternalRPC, &t.HTTPS, &t.GRPC} {
			if *p != nil {
				cp := **p
				*p = &cp
			}
		}
	}
	used := false
	for _, k := range legacyTLSKeys {
		v := k.get(sc)
		if isNilPtr(v) {
			continue
		}
		used = true
		b.warns = append(b.warns, fmt.Sprintf("%s: the '%s' field is deprecated; use the '%s' field instead", name, k.old, k.new))
		if k.set(&t, v) {
			b.legacy[k.new] = k.old
		}
	}
	if sc.LegacyTLSPreferServerCipherSuites != nil {
		b.warns = append(b.warns, fmt.Sprintf("%s: the 'tls_prefer_server_cipher_suites' field is deprecated and will be ignored", name))
	}
	if used {
		sc.TLS = &t
	}
}

func isNilPtr(v any) bool {
	switch p := v.(type) {
	case *string:
		return p == nil
	case *bool:
		return p == nil
	}
	return v == nil
}

// tlsKey is the name to show for a tls.* key path: the deprecated
// top-level key when that is what set it.
func (b *builder) tlsKey(path string) string {
	if old, ok := b.legacy[path]; ok {
		return old
	}
	return path
}

func (b *builder) tlsErrorf(path, format string, args ...any) error {
	return &Error{Source: b.og[path], Key: b.tlsKey(path), Err: invalid(format, args...)}
}

// tlsVersions are the tls_min_version values of Consul 1.16.
var tlsVersions = map[string]bool{"TLSv1_0": true, "TLSv1_1": true, "TLSv1_2": true, "TLSv1_3": true}

// tlsCipherSuites are the cipher suites Consul 1.16 accepts (IANA names).
var tlsCipherSuites = map[string]bool{
	"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256":       true,
	"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384":       true,
	"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": true,
	"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA":          true,
	"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA":          true,
	"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256":         true,
	"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384":         true,
	"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256":   true,
	"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA":            true,
	"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA":            true,
}

// tls builds rt.TLS from the merged tls stanza and auto_encrypt, and checks
// that the settings hang together. It does not read any file.
func (b *builder) tls(c *Config, rt *Runtime) error {
	t := TLS{}
	if c.TLS != nil {
		t = *c.TLS
	}
	none := &TLSProtocol{}
	for _, p := range []**TLSProtocol{&t.Defaults, &t.InternalRPC, &t.HTTPS, &t.GRPC} {
		if *p == nil {
			*p = none
		}
	}
	// Keys that Consul accepts in only some blocks.
	for _, blk := range []struct {
		name string
		p    *TLSProtocol
	}{{"defaults", t.Defaults}, {"https", t.HTTPS}, {"grpc", t.GRPC}} {
		if blk.p.VerifyServerHostname != nil {
			return b.tlsErrorf("tls."+blk.name+".verify_server_hostname", "is only valid in the tls.internal_rpc stanza")
		}
	}
	for _, blk := range []struct {
		name string
		p    *TLSProtocol
	}{{"defaults", t.Defaults}, {"internal_rpc", t.InternalRPC}, {"https", t.HTTPS}} {
		if blk.p.UseAutoCert != nil {
			return b.tlsErrorf("tls."+blk.name+".use_auto_cert", "is only valid in the tls.grpc stanza")
		}
	}
	if t.GRPC.VerifyOutgoing != nil {
		return b.tlsErrorf("tls.grpc.verify_outgoing", "is not valid in the tls.grpc stanza")
	}
	if *t.GRPC != (TLSProtocol{}) {
		b.warns = append(b.warns, "tls.grpc is accepted but has no effect: consulate serves no gRPC port")
	}

	if ae := c.AutoEncrypt; ae != nil {
		rt.TLS.AutoEncryptTLS = ae.TLS != nil && *ae.TLS
		rt.TLS.AutoEncryptAllowTLS = ae.AllowTLS != nil && *ae.AllowTLS
		rt.TLS.AutoEncryptDNSSAN = ae.DNSSAN
		for i, s := range ae.IPSAN {
			if net.ParseIP(strings.TrimSpace(s)) == nil {
				return &Error{Source: b.og["auto_encrypt.ip_san"], Key: fmt.Sprintf("auto_encrypt.ip_san[%d]", i), Err: invalid("%q is not an IP address", s)}
			}
			rt.TLS.AutoEncryptIPSAN = append(rt.TLS.AutoEncryptIPSAN, strings.TrimSpace(s))
		}
	}
	if rt.TLS.AutoEncryptTLS && rt.ServerMode {
		return b.errorf("auto_encrypt.tls", "can only be used on a client")
	}
	if rt.TLS.AutoEncryptAllowTLS && !rt.ServerMode {
		return b.errorf("auto_encrypt.allow_tls", "can only be used on a server")
	}

	var err error
	if rt.TLS.InternalRPC, err = b.tlsProtocol("internal_rpc", t.Defaults, t.InternalRPC, rt.TLS.AutoEncryptTLS); err != nil {
		return err
	}
	if rt.TLS.HTTPS, err = b.tlsProtocol("https", t.Defaults, t.HTTPS, rt.TLS.AutoEncryptTLS); err != nil {
		return err
	}
	if rt.HTTPSPort > 0 && rt.TLS.HTTPS.CertFile == "" && !rt.TLS.AutoEncryptTLS {
		return b.errorf("ports.https", "serving HTTPS needs a certificate: set tls.https (or tls.defaults) cert_file and key_file")
	}
	return nil
}

// tlsProtocol merges tls.defaults under one protocol's block and checks the
// result. autoTLS is auto_encrypt.tls: the certificate then comes from the
// servers, so only the CA is needed here.
func (b *builder) tlsProtocol(name string, def, p *TLSProtocol, autoTLS bool) (TLSProtocolRuntime, error) {
	var out TLSProtocolRuntime
	// where is the key path that set a field: the protocol block's own, or
	// tls.defaults.
	where := func(field string, own bool) string {
		if own {
			return "tls." + name + "." + field
		}
		return "tls.defaults." + field
	}
	str := func(field string, own, dflt *string) (string, string) {
		if own != nil {
			return *own, where(field, true)
		}
		if dflt != nil {
			return *dflt, where(field, false)
		}
		return "", where(field, true)
	}
	boolean := func(field string, own, dflt *bool) (bool, string) {
		if own != nil {
			return *own, where(field, true)
		}
		if dflt != nil {
			return *dflt, where(field, false)
		}
		return false, where(field, true)
	}
	out.CAFile, _ = str("ca_file", p.CAFile, def.CAFile)
	out.CAPath, _ = str("ca_path", p.CAPath, def.CAPath)
	var certKey, keyKey, vinKey, voutKey, verKey, suitesKey string
	out.CertFile, certKey = str("cert_file", p.CertFile, def.CertFile)
	out.KeyFile, keyKey = str("key_file", p.KeyFile, def.KeyFile)
	out.VerifyIncoming, vinKey = boolean("verify_incoming", p.VerifyIncoming, def.VerifyIncoming)
	out.VerifyOutgoing, voutKey = boolean("verify_outgoing", p.VerifyOutgoing, def.VerifyOutgoing)
	if p.VerifyServerHostname != nil {
		out.VerifyServerHostname = *p.VerifyServerHostname
	}
	// verify_server_hostname implies verify_outgoing (Consul, after
	// CVE-2018-19653): never fall back to plaintext when it is on.
	if out.VerifyServerHostname && !out.VerifyOutgoing {
		out.VerifyOutgoing = true
		voutKey = where("verify_server_hostname", true)
	}
	out.TLSMinVersion, verKey = str("tls_min_version", p.TLSMinVersion, def.TLSMinVersion)
	var suites string
	suites, suitesKey = str("tls_cipher_suites", p.TLSCipherSuites, def.TLSCipherSuites)

	if out.TLSMinVersion != "" && !tlsVersions[out.TLSMinVersion] {
		return out, b.tlsErrorf(verKey, "must be TLSv1_0, TLSv1_1, TLSv1_2 or TLSv1_3, got %q", out.TLSMinVersion)
	}
	if strings.TrimSpace(suites) != "" {
		for _, s := range strings.Split(suites, ",") {
			s = strings.TrimSpace(s)
			if !tlsCipherSuites[s] {
				return out, b.tlsErrorf(suitesKey, "unsupported cipher suite %q", s)
			}
			out.CipherSuites = append(out.CipherSuites, s)
		}
		if out.TLSMinVersion == "TLSv1_3" {
			return out, b.tlsErrorf(suitesKey, "cipher suites are not configurable with TLS 1.3 (tls_min_version TLSv1_3)")
		}
	}
	if out.CertFile != "" && out.KeyFile == "" {
		return out, b.tlsErrorf(certKey, "is set but key_file is not (tls.%s needs both)", name)
	}
	if out.KeyFile != "" && out.CertFile == "" {
		return out, b.tlsErrorf(keyKey, "is set but cert_file is not (tls.%s needs both)", name)
	}
	hasCA := out.CAFile != "" || out.CAPath != ""
	if out.VerifyIncoming && !hasCA {
		return out, b.tlsErrorf(vinKey, "needs a CA to verify against: set ca_file or ca_path (tls.%s or tls.defaults)", name)
	}
	if out.VerifyIncoming && out.CertFile == "" && !autoTLS {
		return out, b.tlsErrorf(vinKey, "needs a certificate to present: set cert_file and key_file (tls.%s or tls.defaults)", name)
	}
	if out.VerifyOutgoing && !hasCA {
		return out, b.tlsErrorf(voutKey, "needs a CA to verify against: set ca_file or ca_path (tls.%s or tls.defaults)", name)
	}
	return out, nil
}
