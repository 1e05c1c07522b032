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
// It is not for watching files or reloading: callers run Load again.
package config
