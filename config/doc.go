// Package config turns Consul-style agent configuration (JSON and HCL v1
// files, -config-dir directories and command-line flags) into one validated
// Runtime value.
//
// Sources are decoded into the pointer-shaped Config (so "unset" differs
// from a zero value), merged in order (later wins; lists append as Consul
// appends them; services and checks accumulate), and then built into a
// Runtime with Consul's defaults applied and every value checked. Errors
// name the source, the key and the reason, and are *Error values.
//
// Consul's deprecated top-level TLS keys (ca_file, verify_incoming, ...)
// are moved into each source's tls stanza before merging, as Consul does;
// Runtime.Warnings lists them (and other keys that have no effect) for
// the agent to log. Certificate files are only named here, never read.
// Consul's deprecated ACL keys (acl_datacenter, acl_token, acl_master_token,
// acl.tokens.master, ...) are moved the same way into the acl stanza and
// primary_datacenter, with the same warnings.
//
// Compatibility rule: every key Consul 1.16's agent accepts either works
// or is accepted with one warning naming its file and key and saying it
// has no effect in Consulate (IgnoredKeys lists them; a Docker check,
// the one kind Consulate does not run, is registered critical with one
// warning).
// Only keys Consul itself rejects, or wrong values, are errors.
//
// It is not for watching files or reloading: callers run Load again.
package config
