package config

import (
	"encoding/json"
	"errors"
	"flag"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files")

func file(p string) Source { return Source{Kind: SourceFile, Path: filepath.Join("testdata", p)} }
func dir(p string) Source  { return Source{Kind: SourceDir, Path: filepath.Join("testdata", p)} }
func data(name, body string) Source {
	return Source{Kind: SourceData, Path: name, Data: []byte(body)}
}

func flags(f func(c *Config)) *Config {
	c := &Config{}
	f(c)
	return c
}

// TestLoadGolden loads whole configurations and compares the Runtime,
// rendered as JSON, with testdata/golden/<name>.golden.
func TestLoadGolden(t *testing.T) {
	cases := []struct {
		name string
		opts LoadOpts
	}{
		{"seed-web", LoadOpts{
			Sources: []Source{file("web.json")},
			Flags: flags(func(c *Config) {
				c.Server, c.Bootstrap = ptr(true), ptr(true)
				c.EnableSyslog, c.UI = ptr(true), ptr(true)
				c.DataDir = ptr("/opt/consul/data")
				c.ClientAddr, c.BindAddr = ptr("127.0.0.11"), ptr("127.0.0.11")
				c.NodeName = ptr("consul-server01")
				c.DisableHostNodeID = ptr(true)
			}),
		}},
		{"server-hcl", LoadOpts{Sources: []Source{file("server.hcl")}}},
		{"config-dir", LoadOpts{Sources: []Source{dir("dir")}}},
		{"consul-prod", LoadOpts{Sources: []Source{dir("consul-prod")}}},
		{"merge-order", LoadOpts{
			Sources: []Source{file("web.json"), dir("dir"), data("late.json", `{"node_name": "late", "retry_join": ["127.0.0.24"], "ports": {"dns": 8653}}`)},
			Flags: flags(func(c *Config) {
				c.NodeName = ptr("from-flag")
				c.RetryJoinLAN = []string{"127.0.0.25"}
				c.Ports = &Ports{HTTP: ptr(-1)}
			}),
		}},
		{"template", LoadOpts{Sources: []Source{file("template.json")}}},
		{"limits-json", LoadOpts{
			Sources: []Source{data("limits.json", `{"limits": {"rpc_max_conns_per_client": 0, "rpc_handshake_timeout": "750ms"}}`)},
			Flags:   flags(func(c *Config) { c.DataDir = ptr("/tmp/x"); c.NodeName = ptr("n") }),
		}},
		{"dev", LoadOpts{Dev: true, Flags: flags(func(c *Config) { c.NodeName = ptr("devnode") })}},
		{"tls-hcl", LoadOpts{Sources: []Source{file("tls.hcl")}}},
		{"tls-legacy", LoadOpts{Sources: []Source{file("tls-legacy.json")}}},
		{"gateway", LoadOpts{Sources: []Source{file("gateway.hcl")}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := Load(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(goldenRuntime(rt), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./config -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("runtime differs from %s:\n%s", path, got)
			}
		})
	}
}

// goldenRuntime copies rt for JSON, which has no +Inf: an unlimited rate
// shows as -1 (a value the builder never accepts, so it is unambiguous).
func goldenRuntime(rt *Runtime) *Runtime {
	cp := *rt
	v := reflect.ValueOf(&cp).Elem()
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.Float64 && math.IsInf(f.Float(), 1) {
			f.SetFloat(-1)
		}
	}
	return &cp
}

// TestLoadErrors checks that bad input yields an error naming the source,
// the key and the reason.
func TestLoadErrors(t *testing.T) {
	client := func(body string) LoadOpts {
		return LoadOpts{Sources: []Source{data("c.json", body)}, Flags: flags(func(c *Config) { c.DataDir = ptr("/tmp/x"); c.NodeName = ptr("n") })}
	}
	cases := []struct {
		name string
		opts LoadOpts
		want string
		is   error
	}{
		{"typo", LoadOpts{Sources: []Source{file("typo.json")}},
			`config: testdata/typo.json: unknown key "servcie" (did you mean "service"?)`, ErrUnknownKey},
		{"nested typo", client(`{"service": {"name": "web", "prot": 80}}`),
			`config: c.json: unknown key "service.prot" (did you mean "service.port"?)`, ErrUnknownKey},
		{"bad port", LoadOpts{Sources: []Source{file("badport.hcl")}},
			`config: testdata/badport.hcl: ports.http: expected a number, got "abc"`, ErrInvalid},
		{"bad duration", client(`{"retry_interval": "soon"}`),
			`config: c.json: retry_interval: expected a duration like "10s", got "soon"`, ErrInvalid},
		{"bool", client(`{"server": "yes"}`),
			`config: c.json: server: expected true or false, got "yes"`, ErrInvalid},
		{"list", client(`{"retry_join": 5}`),
			`config: c.json: retry_join: expected a list, got 5`, ErrInvalid},
		{"acl default policy", client(`{"acl": {"enabled": true, "default_policy": "block"}}`),
			`config: c.json: acl.default_policy: must be allow or deny, got "block"`, ErrInvalid},
		{"acl down policy", LoadOpts{Sources: []Source{data("h.hcl", "data_dir = \"/tmp/x\"\nacl {\n  down_policy = \"cache\"\n}")}},
			`config: h.hcl: acl.down_policy: must be allow, deny, extend-cache or async-cache, got "cache"`, ErrInvalid},
		{"legacy acl_default_policy", client(`{"acl_default_policy": "Deny"}`),
			`config: c.json: acl_default_policy: must be allow or deny, got "Deny"`, ErrInvalid},
		{"legacy acl_down_policy", client(`{"acl_down_policy": "nope"}`),
			`config: c.json: acl_down_policy: must be allow, deny, extend-cache or async-cache, got "nope"`, ErrInvalid},
		{"negative token ttl", client(`{"acl": {"token_ttl": "-1s"}}`),
			`config: c.json: acl.token_ttl: must not be negative, got -1s`, ErrInvalid},
		{"negative policy ttl", client(`{"acl": {"policy_ttl": "-2m"}}`),
			`config: c.json: acl.policy_ttl: must not be negative, got -2m0s`, ErrInvalid},
		{"negative role ttl", client(`{"acl": {"role_ttl": "-1ms"}}`),
			`config: c.json: acl.role_ttl: must not be negative, got -1ms`, ErrInvalid},
		{"negative acl_ttl", client(`{"acl_ttl": "-5s"}`),
			`config: c.json: acl_ttl: must not be negative, got -5s`, ErrInvalid},
		{"bad primary datacenter", client(`{"primary_datacenter": "dc 1"}`),
			`config: c.json: primary_datacenter: "dc 1" may hold only letters, digits, '_' and '-'`, ErrInvalid},
		{"bad acl_datacenter", client(`{"acl_datacenter": "dc/1"}`),
			`config: c.json: acl_datacenter: "dc/1" may hold only letters, digits, '_' and '-'`, ErrInvalid},
		{"acl typo", client(`{"acl": {"default_polcy": "deny"}}`),
			`config: c.json: unknown key "acl.default_polcy" (did you mean "acl.default_policy"?)`, ErrUnknownKey},
		{"acl tokens typo", client(`{"acl": {"tokens": {"agent_recvery": "x"}}}`),
			`config: c.json: unknown key "acl.tokens.agent_recvery" (did you mean "acl.tokens.agent_recovery"?)`, ErrUnknownKey},
		{"acl enabled not bool", client(`{"acl": {"enabled": "on"}}`),
			`config: c.json: acl.enabled: expected true or false, got "on"`, ErrInvalid},
		{"unknown acl_ key", client(`{"acl_enforce_version_8": true}`),
			`config: c.json: unknown key "acl_enforce_version_8"`, ErrUnknownKey},
		{"json syntax", client("{\n  \"server\": true,\n}"),
			`config: c.json: parse error: line 3, column 1: invalid character '}' looking for beginning of object key string`, ErrParse},
		{"bootstrap and expect", client(`{"server": true, "bootstrap": true, "bootstrap_expect": 3}`),
			`config: c.json: bootstrap_expect: cannot be used together with bootstrap`, ErrInvalid},
		{"expect on client", client(`{"bootstrap_expect": 3}`),
			`config: c.json: bootstrap_expect: needs server mode`, ErrInvalid},
		{"expect flag names flags", LoadOpts{Sources: []Source{data("s.json", `{"server": true, "bootstrap": true}`)},
			Flags: flags(func(c *Config) { c.DataDir = ptr("/tmp/x"); c.BootstrapExpect = ptr(3) })},
			`config: flags: bootstrap_expect: cannot be used together with bootstrap`, ErrInvalid},
		{"no data dir", LoadOpts{Flags: flags(func(c *Config) { c.NodeName = ptr("n") })},
			`config: data_dir: must be set (or run with -dev)`, ErrInvalid},
		{"datacenter", client(`{"datacenter": "dc 1"}`),
			`config: c.json: datacenter: "dc 1" may hold only letters, digits, '_' and '-'`, ErrInvalid},
		{"encrypt", client(`{"encrypt": "c2hvcnQ="}`),
			`config: c.json: encrypt: the key must be 16, 24 or 32 bytes, got 5`, ErrInvalid},
		{"reconnect", client(`{"reconnect_timeout": "1h"}`),
			`config: c.json: reconnect_timeout: must be at least 8h, got 1h0m0s`, ErrInvalid},
		{"port range", client(`{"ports": {"server": -1}}`),
			`config: c.json: ports.server: must be 1-65535, got -1`, ErrInvalid},
		{"bind template none", client(`{"bind_addr": "{{ GetAllInterfaces | include \"name\" \"^nosuchif0$\" | attr \"address\" }}"}`),
			`config: c.json: bind_addr: "{{ GetAllInterfaces | include \"name\" \"^nosuchif0$\" | attr \"address\" }}" produced no address`, ErrInvalid},
		// go-sockaddr's GetInterfaceIP skips loopback (not forwardable),
		// so on lo it yields nothing: the error says so and how to fix it.
		{"GetInterfaceIP lo", client(`{"bind_addr": "{{ GetInterfaceIP \"lo\" }}"}`),
			`config: c.json: bind_addr: "{{ GetInterfaceIP \"lo\" }}" produced no address (GetInterfaceIP skips addresses that are not forwardable`, ErrInvalid},
		{"bind template several", client(`{"bind_addr": "{{ GetAllInterfaces | include \"type\" \"IPv4\" | join \"address\" \" \" }} 127.0.0.2"}`),
			`produced several addresses`, ErrInvalid},
		{"bind not ip", client(`{"bind_addr": "example.com"}`),
			`config: c.json: bind_addr: "example.com" is not an IP address`, ErrInvalid},
		{"check no interval", client(`{"service": {"name": "web", "check": {"http": "http://127.0.0.1/"}}}`),
			`config: c.json: service.check: service "web": check: a http check needs an interval`, ErrInvalid},
		{"check two kinds", client(`{"checks": [{"name": "x", "tcp": "127.0.0.1:1", "ttl": "5s"}]}`),
			`config: c.json: checks[0]: check "x": takes only one of http, tcp, udp, h2ping, grpc, os_service, docker_container_id, alias_service/alias_node, ttl, args or script, got tcp and ttl`, ErrInvalid},
		{"check no kind", client(`{"check": {"name": "x", "interval": "5s"}}`),
			`config: c.json: check: check "x": needs one of http, tcp, udp, h2ping, grpc, os_service, docker_container_id, alias_service, alias_node, ttl, args or script`, ErrInvalid},
		{"script disabled", client(`{"service": {"name": "web", "checks": [{"id": "chk", "args": ["/bin/true"], "interval": "5s"}]}}`),
			`config: c.json: service.checks[0]: service "web": check "chk": script checks are disabled; set enable_script_checks or enable_local_script_checks`, ErrInvalid},
		{"service no name", client(`{"service": {"port": 80}}`),
			`config: c.json: service.name: a service needs a name`, ErrInvalid},
		{"duplicate service", LoadOpts{Sources: []Source{file("web.json"), file("web.json")}, Flags: flags(func(c *Config) { c.DataDir = ptr("/tmp/x") })},
			`config: testdata/web.json: service: service id "web" is defined more than once`, ErrInvalid},
		{"negative threshold", client(`{"check": {"name": "g", "tcp": "127.0.0.1:1", "interval": "5s", "failures_before_critical": -1}}`),
			`config: c.json: check.failures_before_critical: check "g": must not be negative, got -1`, ErrInvalid},
		{"raft_protocol 2", client(`{"raft_protocol": 2}`),
			`config: c.json: raft_protocol: raft_protocol version 2 is not supported by this version of Consul (only 3)`, ErrInvalid},
		{"default over max query time", client(`{"default_query_time": "20m"}`),
			`config: c.json: default_query_time: 20m0s is longer than max_query_time 10m0s`, ErrInvalid},
		{"bad recursor strategy", client(`{"dns_config": {"recursor_strategy": "fastest"}}`),
			`config: c.json: dns_config.recursor_strategy: must be "sequential" or "random", got "fastest"`, ErrInvalid},
		{"unknown service kind", client(`{"service": {"name": "x", "kind": "sidecar"}}`),
			`config: c.json: service.kind: service "x": unknown kind "sidecar"`, ErrInvalid},
		{"unknown extension", LoadOpts{Sources: []Source{file("dir/03-ignored.txt")}},
			`config: testdata/dir/03-ignored.txt: cannot tell the format from the extension (want .json or .hcl, or set -config-format)`, ErrInvalid},
		{"missing file", LoadOpts{Sources: []Source{file("nope.json")}},
			`config: testdata/nope.json: stat testdata/nope.json: no such file or directory`, os.ErrNotExist},
		{"dev expect", LoadOpts{Dev: true, Flags: flags(func(c *Config) { c.BootstrapExpect = ptr(1); c.Bootstrap = ptr(false) })},
			`config: flags: bootstrap_expect: cannot be used in -dev mode`, ErrInvalid},
		{"hcl nested typo", LoadOpts{Sources: []Source{data("h.hcl", "dns_config {\n  allow_stail = true\n}")}},
			`config: h.hcl: unknown key "dns_config.allow_stail" (did you mean "dns_config.allow_stale"?)`, ErrUnknownKey},
		{"hcl float port", LoadOpts{Sources: []Source{data("h.hcl", "ports { http = 1.5 }")}},
			`config: h.hcl: ports.http: expected a number, got 1.5`, ErrInvalid},
		{"hcl syntax", LoadOpts{Sources: []Source{data("h.hcl", "ports {")}},
			`config: h.hcl: parse error: `, ErrParse},
		{"object expected", client(`{"ports": 5}`),
			`config: c.json: ports: expected an object, got 5`, ErrInvalid},
		{"negative conns", client(`{"limits": {"rpc_max_conns_per_client": -1}}`),
			`config: c.json: limits.rpc_max_conns_per_client: must not be negative (0 means unlimited), got -1`, ErrInvalid},
		{"zero handshake", client(`{"limits": {"rpc_handshake_timeout": "0s"}}`),
			`config: c.json: limits.rpc_handshake_timeout: must be > 0, got 0s`, ErrInvalid},
		{"hcl limits typo", LoadOpts{Sources: []Source{data("h.hcl", "limits {\n  rpc_max_conn_per_client = 5\n}")}},
			`config: h.hcl: unknown key "limits.rpc_max_conn_per_client" (did you mean "limits.rpc_max_conns_per_client"?)`, ErrUnknownKey},
		// TLS: keys valid only in some blocks.
		{"vsh in defaults", client(`{"tls": {"defaults": {"verify_server_hostname": true}}}`),
			`config: c.json: tls.defaults.verify_server_hostname: is only valid in the tls.internal_rpc stanza`, ErrInvalid},
		{"vsh in https", LoadOpts{Sources: []Source{data("h.hcl", "data_dir = \"/tmp/x\"\ntls { https { verify_server_hostname = true } }")}},
			`config: h.hcl: tls.https.verify_server_hostname: is only valid in the tls.internal_rpc stanza`, ErrInvalid},
		{"use_auto_cert outside grpc", client(`{"tls": {"internal_rpc": {"use_auto_cert": true}}}`),
			`config: c.json: tls.internal_rpc.use_auto_cert: is only valid in the tls.grpc stanza`, ErrInvalid},
		{"grpc verify_outgoing", client(`{"tls": {"grpc": {"verify_outgoing": true}}}`),
			`config: c.json: tls.grpc.verify_outgoing: is not valid in the tls.grpc stanza`, ErrInvalid},
		{"tls block typo", client(`{"tls": {"defaults": {"ca_fil": "x"}}}`),
			`config: c.json: unknown key "tls.defaults.ca_fil" (did you mean "tls.defaults.ca_file"?)`, ErrUnknownKey},
		{"tls unknown block", client(`{"tls": {"http": {}}}`),
			`config: c.json: unknown key "tls.http"`, ErrUnknownKey},
		// TLS: consistency, naming the key that was written.
		{"verify_incoming no ca", client(`{"tls": {"defaults": {"verify_incoming": true, "cert_file": "c", "key_file": "k"}}}`),
			`config: c.json: tls.defaults.verify_incoming: needs a CA to verify against: set ca_file or ca_path (tls.internal_rpc or tls.defaults)`, ErrInvalid},
		{"verify_incoming no cert", client(`{"tls": {"internal_rpc": {"verify_incoming": true, "ca_file": "ca"}}}`),
			`config: c.json: tls.internal_rpc.verify_incoming: needs a certificate to present: set cert_file and key_file (tls.internal_rpc or tls.defaults)`, ErrInvalid},
		{"verify_outgoing no ca", client(`{"tls": {"internal_rpc": {"verify_outgoing": true}}}`),
			`config: c.json: tls.internal_rpc.verify_outgoing: needs a CA to verify against: set ca_file or ca_path (tls.internal_rpc or tls.defaults)`, ErrInvalid},
		{"legacy verify_outgoing no ca", client(`{"verify_outgoing": true}`),
			`config: c.json: verify_outgoing: needs a CA to verify against: set ca_file or ca_path (tls.internal_rpc or tls.defaults)`, ErrInvalid},
		{"legacy vsh no ca", client(`{"verify_server_hostname": true}`),
			`config: c.json: verify_server_hostname: needs a CA to verify against`, ErrInvalid},
		{"legacy verify_incoming_https no ca", client(`{"verify_incoming_https": true, "cert_file": "c", "key_file": "k"}`),
			`config: c.json: verify_incoming_https: needs a CA to verify against: set ca_file or ca_path (tls.https or tls.defaults)`, ErrInvalid},
		{"cert without key", client(`{"tls": {"defaults": {"cert_file": "c"}}}`),
			`config: c.json: tls.defaults.cert_file: is set but key_file is not (tls.internal_rpc needs both)`, ErrInvalid},
		{"key without cert", client(`{"tls": {"https": {"key_file": "k"}}}`),
			`config: c.json: tls.https.key_file: is set but cert_file is not (tls.https needs both)`, ErrInvalid},
		{"legacy cert without key", client(`{"cert_file": "c"}`),
			`config: c.json: cert_file: is set but key_file is not (tls.internal_rpc needs both)`, ErrInvalid},
		{"bad tls version", client(`{"tls": {"defaults": {"tls_min_version": "tls12"}}}`),
			`config: c.json: tls.defaults.tls_min_version: must be TLSv1_0, TLSv1_1, TLSv1_2 or TLSv1_3, got "tls12"`, ErrInvalid},
		{"legacy bad tls version", client(`{"tls_min_version": "ssl3"}`),
			`config: c.json: tls_min_version: must be TLSv1_0, TLSv1_1, TLSv1_2 or TLSv1_3, got "ssl3"`, ErrInvalid},
		{"bad cipher", client(`{"tls": {"https": {"tls_cipher_suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_RSA_WITH_RC4_128_SHA"}}}`),
			`config: c.json: tls.https.tls_cipher_suites: unsupported cipher suite "TLS_RSA_WITH_RC4_128_SHA"`, ErrInvalid},
		{"cipher with tls13", client(`{"tls": {"defaults": {"tls_min_version": "TLSv1_3", "tls_cipher_suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}}}`),
			`config: c.json: tls.defaults.tls_cipher_suites: cipher suites are not configurable with TLS 1.3 (tls_min_version TLSv1_3)`, ErrInvalid},
		{"cipher list not string", client(`{"tls": {"defaults": {"tls_cipher_suites": ["a"]}}}`),
			`config: c.json: tls.defaults.tls_cipher_suites: expected a string, got a list`, ErrInvalid},
		{"https without cert", client(`{"ports": {"https": 8501}}`),
			`config: c.json: ports.https: serving HTTPS needs a certificate: set tls.https (or tls.defaults) cert_file and key_file`, ErrInvalid},
		{"auto_encrypt.tls on server", client(`{"server": true, "auto_encrypt": {"tls": true}}`),
			`config: c.json: auto_encrypt.tls: can only be used on a client`, ErrInvalid},
		{"auto_encrypt.allow_tls on client", client(`{"auto_encrypt": {"allow_tls": true}}`),
			`config: c.json: auto_encrypt.allow_tls: can only be used on a server`, ErrInvalid},
		{"auto_encrypt ip_san", client(`{"auto_encrypt": {"tls": true, "ip_san": ["127.0.0.1", "nope"]}}`),
			`config: c.json: auto_encrypt.ip_san[1]: "nope" is not an IP address`, ErrInvalid},
		{"auto_encrypt typo", client(`{"auto_encrypt": {"allow_tsl": true}}`),
			`config: c.json: unknown key "auto_encrypt.allow_tsl" (did you mean "auto_encrypt.allow_tls"?)`, ErrUnknownKey},
		// Limits.
		{"negative http conns", client(`{"limits": {"http_max_conns_per_client": -1}}`),
			`config: c.json: limits.http_max_conns_per_client: must not be negative (0 means unlimited), got -1`, ErrInvalid},
		{"rpc rate not number", client(`{"limits": {"rpc_rate": "fast"}}`),
			`config: c.json: limits.rpc_rate: expected a number, got "fast"`, ErrInvalid},
		{"negative burst", client(`{"limits": {"rpc_max_burst": -1}}`),
			`config: c.json: limits.rpc_max_burst: must not be negative, got -1`, ErrInvalid},
		{"bad request limits mode", LoadOpts{Sources: []Source{data("h.hcl", "data_dir = \"/tmp/x\"\nlimits { request_limits { mode = \"strict\" } }")}},
			`config: h.hcl: limits.request_limits.mode: must be disabled, permissive or enforcing, got "strict"`, ErrInvalid},
		{"cloud join", client(`{"retry_join": ["provider=aws tag_key=x"]}`),
			`config: c.json: retry_join: cloud auto-join is not available in Consulate (provider "aws" in "provider=aws tag_key=x")`, ErrUnsupported},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := Load(tc.opts)
			if err == nil {
				t.Fatalf("want error, got runtime %+v", rt)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n got %s\nwant %s", err, tc.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *config.Error", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
		})
	}
}

func TestClientDefaults(t *testing.T) {
	rt, err := Load(LoadOpts{Flags: flags(func(c *Config) { c.DataDir = ptr(t.TempDir()) })})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	checks := []struct {
		what      string
		got, want any
	}{
		{"datacenter", rt.Datacenter, "dc1"},
		{"node name", rt.NodeName, host},
		{"server", rt.ServerMode, false},
		{"bind", rt.BindAddr.String(), "0.0.0.0"},
		{"http addrs", rt.HTTPAddrs(), []string{"127.0.0.1:8500"}},
		{"dns addrs", rt.DNSAddrs(), []string{"127.0.0.1:8600"}},
		{"ports", []int{rt.ServerPort, rt.SerfPortLAN, rt.SerfPortWAN}, []int{8300, 8301, 8302}},
		{"retry interval", rt.RetryIntervalLAN, 30 * time.Second},
		{"retry interval wan", rt.RetryIntervalWAN, 30 * time.Second},
		{"reconnect", rt.ReconnectTimeoutLAN, 72 * time.Hour},
		{"domain", rt.DNSDomain, "consul."},
		{"allow stale", rt.DNSAllowStale, true},
		{"max stale", rt.DNSMaxStale, 87600 * time.Hour},
		{"udp answer limit", rt.DNSUDPAnswerLimit, 3},
		{"recursor timeout", rt.DNSRecursorTimeout, 2 * time.Second},
		{"log level", rt.LogLevel, "info"},
		{"protocol", rt.ProtocolVersion, 2},
		{"disable host node id", rt.DisableHostNodeID, true},
		{"raft multiplier", rt.RaftMultiplier, 1},
		{"cleanup dead servers", rt.AutopilotCleanupDeadServers, true},
		{"check update interval", rt.CheckUpdateInterval, 5 * time.Minute},
		{"leave on terminate (client)", rt.LeaveOnTerminate, true},
		{"skip leave on interrupt (client)", rt.SkipLeaveOnInterrupt, false},
		{"encrypt", rt.EncryptKey == nil, true},
		{"encrypt verify incoming", rt.EncryptVerifyIncoming, true},
		{"encrypt verify outgoing", rt.EncryptVerifyOutgoing, true},
		{"https port", rt.HTTPSPort, -1},
		{"https addrs", rt.HTTPSAddrs(), []string(nil)},
		{"tls", rt.TLS, TLSRuntime{}},
		{"http max conns", rt.HTTPMaxConnsPerClient, 200},
		{"rpc max conns", rt.RPCMaxConnsPerClient, 100},
		{"rpc handshake", rt.RPCHandshakeTimeout, 5 * time.Second},
		{"rpc rate", rt.RPCRate, math.Inf(1)},
		{"rpc max burst", rt.RPCMaxBurst, 1000},
		{"request limits mode", rt.RequestLimitsMode, "disabled"},
		{"read rate", rt.RequestLimitsReadRate, math.Inf(1)},
		{"write rate", rt.RequestLimitsWriteRate, math.Inf(1)},
		{"warnings", rt.Warnings, []string(nil)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	// Binding to every interface advertises one concrete address.
	if rt.AdvertiseAddrLAN == nil || rt.AdvertiseAddrLAN.IsUnspecified() || !rt.AdvertiseAddrLAN.Equal(rt.AdvertiseAddrWAN) {
		t.Errorf("advertise = %v / %v", rt.AdvertiseAddrLAN, rt.AdvertiseAddrWAN)
	}
}

func TestServerLeaveDefaults(t *testing.T) {
	rt, err := Load(LoadOpts{Sources: []Source{data("s.hcl", `server = true
data_dir = "/tmp/x"
bind_addr = "127.0.0.11"`)}})
	if err != nil {
		t.Fatal(err)
	}
	if rt.LeaveOnTerminate || !rt.SkipLeaveOnInterrupt {
		t.Errorf("server leave_on_terminate=%v skip_leave_on_interrupt=%v", rt.LeaveOnTerminate, rt.SkipLeaveOnInterrupt)
	}
	if !rt.AdvertiseAddrLAN.Equal(net.ParseIP("127.0.0.11")) {
		t.Errorf("advertise = %v, want the bind address", rt.AdvertiseAddrLAN)
	}
	if got := rt.RPCAdvertiseAddr().String(); got != "127.0.0.11:8300" {
		t.Errorf("rpc advertise = %s", got)
	}
}

// TestDevOverridable: like Consul, -dev sets defaults that files and
// flags may still change.
func TestDevOverridable(t *testing.T) {
	rt, err := Load(LoadOpts{Dev: true, Sources: []Source{data("d.json", `{"log_level": "info"}`)},
		Flags: flags(func(c *Config) { c.ClientAddr = ptr("127.0.0.3") })})
	if err != nil {
		t.Fatal(err)
	}
	if rt.LogLevel != "info" || rt.HTTPAddrs()[0] != "127.0.0.3:8500" || !rt.DevMode || !rt.Bootstrap || rt.DataDir != "" {
		t.Errorf("dev runtime = %+v", rt)
	}
}

func TestJSONAndHCLAgree(t *testing.T) {
	j, err := Parse("a.json", []byte(`{
		"ports": {"http": 1}, "retry_join": ["x"], "node_meta": {"a": "b"},
		"dns_config": {"service_ttl": {"*": "5s"}},
		"service": {"name": "web", "check": {"CheckID": "c", "HTTP": "http://h/", "Interval": "1s", "Header": {"X": ["y"]}, "TLSSkipVerify": true}}
	}`), "json")
	if err != nil {
		t.Fatal(err)
	}
	h, err := Parse("a.hcl", []byte(`
		ports { http = 1 }
		retry_join = ["x"]
		node_meta { a = "b" }
		dns_config { service_ttl { "*" = "5s" } }
		service {
		  name = "web"
		  check { check_id = "c" http = "http://h/" interval = "1s" header { X = ["y"] } tls_skip_verify = true }
		}`), "hcl")
	if err != nil {
		t.Fatal(err)
	}
	jb, _ := json.Marshal(j)
	hb, _ := json.Marshal(h)
	if string(jb) != string(hb) {
		t.Errorf("json and hcl differ:\n%s\n%s", jb, hb)
	}
}

func TestConfigFormatForcesFormat(t *testing.T) {
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "conf.txt"), []byte(`node_name = "fromtxt"`), 0o644); err != nil {
		t.Fatal(err)
	}
	rt, err := Load(LoadOpts{Dev: true, Format: "hcl", Sources: []Source{{Kind: SourceDir, Path: d}}})
	if err != nil {
		t.Fatal(err)
	}
	if rt.NodeName != "fromtxt" {
		t.Errorf("node name = %q", rt.NodeName)
	}
	if _, err := Load(LoadOpts{Format: "yaml"}); err == nil {
		t.Error("want an error for -config-format yaml")
	}
}

func TestNullIsUnset(t *testing.T) {
	c, err := Parse("n.json", []byte(`{"node_name": null, "ports": {"http": null}}`), "json")
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeName != nil || c.Ports == nil || c.Ports.HTTP != nil {
		t.Errorf("null should leave keys unset: %+v", c)
	}
}

func TestScriptChecksAllowed(t *testing.T) {
	rt, err := Load(LoadOpts{Sources: []Source{data("s.json", `{
		"data_dir": "/tmp/x", "enable_script_checks": true,
		"check": {"name": "sh", "script": "true", "interval": "1s", "status": "PASSING"}}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rt.Checks) != 1 || rt.Checks[0].CheckID != "sh" || rt.Checks[0].Kind() != "script" || rt.Checks[0].Status != "passing" {
		t.Errorf("checks = %+v", rt.Checks[0])
	}
}

func TestParseEncryptKey(t *testing.T) {
	for _, tc := range []struct {
		in string
		n  int
	}{
		{"pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=", 32},
		{"AAAAAAAAAAAAAAAAAAAAAA==", 16},
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 24},
		{"", -1},
		{"!!notbase64", -1},
		{"c2hvcnQ=", -1},
	} {
		k, err := ParseEncryptKey(tc.in)
		if tc.n < 0 {
			if err == nil {
				t.Errorf("%q: want error", tc.in)
			}
			continue
		}
		if err != nil || len(k) != tc.n {
			t.Errorf("%q: got %d bytes, %v", tc.in, len(k), err)
		}
	}
}

// tlsLoad loads one in-memory source (format from its name) as a client
// with a data dir.
func tlsLoad(t *testing.T, srcs ...Source) *Runtime {
	t.Helper()
	rt, err := Load(LoadOpts{Sources: srcs, Flags: flags(func(c *Config) { c.DataDir = ptr("/tmp/x"); c.NodeName = ptr("n") })})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// TestTLSJSONAndHCLAgree: every tls, auto_encrypt and limits key reads the
// same from JSON and HCL, in the new and in the deprecated form.
func TestTLSJSONAndHCLAgree(t *testing.T) {
	cases := []struct{ name, json, hcl string }{
		{"tls block", `{"tls": {
			"defaults": {"ca_file": "ca.pem", "ca_path": "/ca", "cert_file": "c.pem", "key_file": "k.pem",
				"verify_incoming": true, "verify_outgoing": true, "tls_min_version": "TLSv1_1",
				"tls_cipher_suites": "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"},
			"internal_rpc": {"verify_server_hostname": true, "cert_file": "rpc.pem", "key_file": "rpc-key.pem"},
			"https": {"verify_incoming": false, "ca_file": "https-ca.pem", "tls_min_version": "TLSv1_2", "tls_cipher_suites": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
			"grpc": {"use_auto_cert": true, "verify_incoming": true}},
			"auto_encrypt": {"tls": true, "dns_san": ["a.example", "b.example"], "ip_san": ["127.0.0.5"]},
			"encrypt_verify_incoming": false, "encrypt_verify_outgoing": false, "ports": {"https": 8501}}`,
			`tls {
			  defaults {
			    ca_file = "ca.pem"
			    ca_path = "/ca"
			    cert_file = "c.pem"
			    key_file = "k.pem"
			    verify_incoming = true
			    verify_outgoing = true
			    tls_min_version = "TLSv1_1"
			    tls_cipher_suites = "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"
			  }
			  internal_rpc {
			    verify_server_hostname = true
			    cert_file = "rpc.pem"
			    key_file = "rpc-key.pem"
			  }
			  https {
			    verify_incoming = false
			    ca_file = "https-ca.pem"
			    tls_min_version = "TLSv1_2"
			    tls_cipher_suites = "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
			  }
			  grpc {
			    use_auto_cert = true
			    verify_incoming = true
			  }
			}
			auto_encrypt {
			  tls = true
			  dns_san = ["a.example", "b.example"]
			  ip_san = ["127.0.0.5"]
			}
			encrypt_verify_incoming = false
			encrypt_verify_outgoing = false
			ports { https = 8501 }`},
		{"legacy keys", `{"ca_file": "ca.pem", "ca_path": "/ca", "cert_file": "c.pem", "key_file": "k.pem",
			"verify_incoming": true, "verify_incoming_rpc": true, "verify_incoming_https": false, "verify_outgoing": true,
			"verify_server_hostname": true, "tls_min_version": "tls12", "tls_cipher_suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
			"tls_prefer_server_cipher_suites": true}`,
			`ca_file = "ca.pem"
			ca_path = "/ca"
			cert_file = "c.pem"
			key_file = "k.pem"
			verify_incoming = true
			verify_incoming_rpc = true
			verify_incoming_https = false
			verify_outgoing = true
			verify_server_hostname = true
			tls_min_version = "tls12"
			tls_cipher_suites = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
			tls_prefer_server_cipher_suites = true`},
		{"limits", `{"limits": {"http_max_conns_per_client": 7, "rpc_max_conns_per_client": 8, "rpc_handshake_timeout": "3s",
			"rpc_rate": 2.5, "rpc_max_burst": 9, "request_limits": {"mode": "permissive", "read_rate": 10, "write_rate": 0.5}}}`,
			`limits {
			  http_max_conns_per_client = 7
			  rpc_max_conns_per_client = 8
			  rpc_handshake_timeout = "3s"
			  rpc_rate = 2.5
			  rpc_max_burst = 9
			  request_limits {
			    mode = "permissive"
			    read_rate = 10
			    write_rate = 0.5
			  }
			}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := tlsLoad(t, data("a.json", tc.json))
			h := tlsLoad(t, data("a.hcl", tc.hcl))
			// Warnings name their source; compare the rest.
			for i := range j.Warnings {
				j.Warnings[i] = strings.TrimPrefix(j.Warnings[i], "a.json: ")
			}
			for i := range h.Warnings {
				h.Warnings[i] = strings.TrimPrefix(h.Warnings[i], "a.hcl: ")
			}
			jb, _ := json.Marshal(goldenRuntime(j))
			hb, _ := json.Marshal(goldenRuntime(h))
			if string(jb) != string(hb) {
				t.Errorf("json and hcl differ:\n%s\n%s", jb, hb)
			}
		})
	}
}

func TestTLSRuntime(t *testing.T) {
	rt := tlsLoad(t, data("a.json", `{"tls": {
		"defaults": {"ca_file": "ca.pem", "cert_file": "c.pem", "key_file": "k.pem", "verify_incoming": true,
			"tls_min_version": "TLSv1_1", "tls_cipher_suites": " TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA , TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"},
		"internal_rpc": {"verify_server_hostname": true, "cert_file": "rpc.pem", "key_file": "rpc-key.pem"},
		"https": {"verify_incoming": false, "ca_path": "/https-ca", "tls_cipher_suites": ""},
		"grpc": {"use_auto_cert": true}},
		"auto_encrypt": {"tls": true, "dns_san": ["a.example"], "ip_san": ["127.0.0.5"]},
		"addresses": {"https": "127.0.0.6 127.0.0.7"}, "ports": {"https": 8501}}`))
	want := TLSRuntime{
		// verify_server_hostname turns verify_outgoing on (CVE-2018-19653).
		InternalRPC: TLSProtocolRuntime{CAFile: "ca.pem", CertFile: "rpc.pem", KeyFile: "rpc-key.pem",
			VerifyIncoming: true, VerifyOutgoing: true, VerifyServerHostname: true, TLSMinVersion: "TLSv1_1",
			CipherSuites: []string{"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"}},
		// An explicit "" in a protocol block overrides the default.
		HTTPS: TLSProtocolRuntime{CAFile: "ca.pem", CAPath: "/https-ca", CertFile: "c.pem", KeyFile: "k.pem",
			TLSMinVersion: "TLSv1_1"},
		AutoEncryptTLS: true, AutoEncryptDNSSAN: []string{"a.example"}, AutoEncryptIPSAN: []string{"127.0.0.5"},
	}
	if !reflect.DeepEqual(rt.TLS, want) {
		t.Errorf("tls:\n got %+v\nwant %+v", rt.TLS, want)
	}
	if got := rt.HTTPSAddrs(); !reflect.DeepEqual(got, []string{"127.0.0.6:8501", "127.0.0.7:8501"}) {
		t.Errorf("https addrs = %v", got)
	}
	if want := []string{"tls.grpc is accepted but has no effect: consulate serves no gRPC port"}; !reflect.DeepEqual(rt.Warnings, want) {
		t.Errorf("warnings = %q", rt.Warnings)
	}
}

// TestTLSPrecedence: in one source the tls stanza wins over the deprecated
// top-level key; across sources the later source wins, whichever form it
// uses (Consul moves deprecated keys per source, before merging).
func TestTLSPrecedence(t *testing.T) {
	cases := []struct {
		name string
		srcs []Source
		want TLSProtocolRuntime // internal RPC
	}{
		{"new wins in one source", []Source{data("a.json", `{"ca_file": "old.pem", "verify_outgoing": false,
			"tls": {"defaults": {"ca_file": "new.pem", "verify_outgoing": true}}}`)},
			TLSProtocolRuntime{CAFile: "new.pem", VerifyOutgoing: true}},
		{"new wins in one source, hcl", []Source{data("a.hcl", `ca_file = "old.pem"
			tls { defaults { ca_file = "new.pem" } }`)},
			TLSProtocolRuntime{CAFile: "new.pem"}},
		{"legacy in a later source wins", []Source{
			data("a.json", `{"tls": {"defaults": {"ca_file": "new.pem"}}}`),
			data("b.json", `{"ca_file": "later.pem"}`)},
			TLSProtocolRuntime{CAFile: "later.pem"}},
		{"new in a later source wins", []Source{
			data("a.json", `{"ca_file": "old.pem", "verify_incoming_rpc": false}`),
			data("b.hcl", `tls { internal_rpc { ca_file = "rpc.pem" } }`)},
			TLSProtocolRuntime{CAFile: "rpc.pem"}},
		{"verify_incoming_rpc beats verify_incoming", []Source{data("a.json", `{"ca_file": "ca.pem", "cert_file": "c", "key_file": "k",
			"verify_incoming": false, "verify_incoming_rpc": true}`)},
			TLSProtocolRuntime{CAFile: "ca.pem", CertFile: "c", KeyFile: "k", VerifyIncoming: true}},
		{"tls.internal_rpc beats verify_incoming_rpc", []Source{data("a.json", `{"ca_file": "ca.pem", "cert_file": "c", "key_file": "k",
			"verify_incoming_rpc": true, "tls": {"internal_rpc": {"verify_incoming": false}}}`)},
			TLSProtocolRuntime{CAFile: "ca.pem", CertFile: "c", KeyFile: "k"}},
		{"protocol block beats defaults", []Source{data("a.json", `{"tls": {"defaults": {"tls_min_version": "TLSv1_0"},
			"internal_rpc": {"tls_min_version": "TLSv1_3"}}}`)},
			TLSProtocolRuntime{TLSMinVersion: "TLSv1_3"}},
		{"legacy tls_min_version values", []Source{data("a.json", `{"tls_min_version": "tls11"}`)},
			TLSProtocolRuntime{TLSMinVersion: "TLSv1_1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt := tlsLoad(t, tc.srcs...)
			if !reflect.DeepEqual(rt.TLS.InternalRPC, tc.want) {
				t.Errorf("internal rpc:\n got %+v\nwant %+v", rt.TLS.InternalRPC, tc.want)
			}
		})
	}
}

// TestLegacyTLSErrorNamesLaterKey: when a later source sets the new key,
// an error about it names the new key and that source, not the
// deprecated key of an earlier one.
func TestLegacyTLSErrorNamesLaterKey(t *testing.T) {
	_, err := Load(LoadOpts{Sources: []Source{
		data("a.json", `{"cert_file": "c.pem", "key_file": "k.pem"}`),
		data("b.json", `{"tls": {"defaults": {"cert_file": "d.pem", "key_file": ""}}}`),
	}, Flags: flags(func(c *Config) { c.DataDir = ptr("/tmp/x") })})
	want := `config: b.json: tls.defaults.cert_file: is set but key_file is not (tls.internal_rpc needs both)`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

// TestParseLeavesLegacyKeys: Parse returns what the file says; the move
// into the tls stanza happens when sources are merged and does not
// change the parsed source.
func TestParseLeavesLegacyKeys(t *testing.T) {
	c, err := Parse("a.json", []byte(`{"ca_file": "ca.pem", "tls": {"https": {"ca_file": "h.pem"}}}`), "json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := build([]namedConfig{{"a.json", c}}, true); err != nil {
		t.Fatal(err)
	}
	if c.LegacyCAFile == nil || *c.LegacyCAFile != "ca.pem" || c.TLS.Defaults != nil || *c.TLS.HTTPS.CAFile != "h.pem" {
		t.Errorf("parsed source changed: %+v %+v", c, c.TLS)
	}
}

func TestEnableDebug(t *testing.T) {
	for _, tc := range []struct {
		name string
		dev  bool
		src  Source
		want bool
	}{
		{"default off", false, data("a.json", `{"data_dir": "/tmp/x"}`), false},
		{"json on", false, data("a.json", `{"data_dir": "/tmp/x", "enable_debug": true}`), true},
		{"hcl on", false, data("a.hcl", `data_dir = "/tmp/x"
enable_debug = true`), true},
		{"dev on", true, data("a.json", `{}`), true},
		{"dev turned off", true, data("a.json", `{"enable_debug": false}`), false},
	} {
		rt, err := Load(LoadOpts{Dev: tc.dev, Sources: []Source{tc.src}})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if rt.EnableDebug != tc.want {
			t.Errorf("%s: EnableDebug = %v, want %v", tc.name, rt.EnableDebug, tc.want)
		}
	}
}

func TestRaftLogKeys(t *testing.T) {
	rt, err := Load(LoadOpts{Sources: []Source{data("a.json", `{"data_dir": "/tmp/x"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	// Consul's defaults.
	if rt.RaftSnapshotThreshold != 16384 || rt.RaftSnapshotInterval != 30*time.Second || rt.RaftTrailingLogs != 10240 {
		t.Errorf("defaults: %d %s %d", rt.RaftSnapshotThreshold, rt.RaftSnapshotInterval, rt.RaftTrailingLogs)
	}
	rt, err = Load(LoadOpts{Sources: []Source{data("a.hcl", `data_dir = "/tmp/x"
raft_snapshot_threshold = 1000
raft_snapshot_interval = "5s"
raft_trailing_logs = 500`)}})
	if err != nil {
		t.Fatal(err)
	}
	if rt.RaftSnapshotThreshold != 1000 || rt.RaftSnapshotInterval != 5*time.Second || rt.RaftTrailingLogs != 500 {
		t.Errorf("hcl: %d %s %d", rt.RaftSnapshotThreshold, rt.RaftSnapshotInterval, rt.RaftTrailingLogs)
	}
	for _, bad := range []string{`{"raft_snapshot_threshold": 0}`, `{"raft_snapshot_interval": "0s"}`, `{"raft_trailing_logs": 0}`} {
		var ce *Error
		if _, err := Load(LoadOpts{Dev: true, Sources: []Source{data("b.json", bad)}}); !errors.As(err, &ce) {
			t.Errorf("%s: err = %v, want a *config.Error", bad, err)
		}
	}
}

func TestRaftLogStoreBackend(t *testing.T) {
	for _, tc := range []struct{ hcl, want, err string }{
		{``, "", ""},
		{`raft_logstore { backend = "wal" }`, "wal", ""},
		{`raft_logstore { backend = "boltdb" }`, "boltdb", ""},
		{`raft_logstore { backend = "rocks" }`, "", "raft_logstore.backend"},
	} {
		rt, err := Load(LoadOpts{Sources: []Source{data("a.hcl", "data_dir = \"/tmp/x\"\n"+tc.hcl)}})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one naming %s", tc.hcl, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.hcl, err)
		}
		if rt.RaftLogStoreBackend != tc.want {
			t.Errorf("%q: backend %q, want %q", tc.hcl, rt.RaftLogStoreBackend, tc.want)
		}
	}
}
