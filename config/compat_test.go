package config

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// consulKeys is Consul 1.16's agent configuration, key by key (from its
// agent configuration reference), with a value Consul accepts. Keys owned
// by other parts of issue 13 (telemetry, log_file and log_rotate_*,
// http_config, disable_remote_exec, autopilot beyond cleanup_dead_servers)
// are not here. A value is JSON; paths are nested into objects, and keys
// under "service." and "check." go into a service or check definition.
var consulKeys = []struct{ key, value string }{
	{"acl.enabled", `true`}, {"acl.default_policy", `"deny"`}, {"acl.down_policy", `"async-cache"`},
	{"acl.enable_key_list_policy", `true`}, {"acl.enable_token_persistence", `true`},
	{"acl.enable_token_replication", `true`}, {"acl.msp_disable_bootstrap", `true`},
	{"acl.policy_ttl", `"30s"`}, {"acl.role_ttl", `"30s"`}, {"acl.token_ttl", `"30s"`}, {"acl.disabled_ttl", `"120s"`},
	{"acl.tokens.initial_management", `"3f8a9a2e-1b1c-4d7e-9f00-0123456789ab"`},
	{"acl.tokens.master", `"3f8a9a2e-1b1c-4d7e-9f00-0123456789ab"`},
	{"acl.tokens.agent", `"t"`}, {"acl.tokens.agent_recovery", `"t"`}, {"acl.tokens.agent_master", `"t"`},
	{"acl.tokens.default", `"t"`}, {"acl.tokens.replication", `"t"`},
	{"acl.tokens.config_file_service_registration", `"t"`}, {"acl.tokens.dns", `"t"`},
	{"acl.tokens.managed_service_provider", `[{"accessor_id": "a", "secret_id": "s"}]`},
	{"acl_agent_master_token", `"t"`}, {"acl_agent_token", `"t"`}, {"acl_datacenter", `"dc1"`},
	{"acl_default_policy", `"allow"`}, {"acl_down_policy", `"deny"`}, {"acl_enable_key_list_policy", `true`},
	{"acl_master_token", `"t"`}, {"acl_replication_token", `"t"`}, {"acl_token", `"t"`}, {"acl_ttl", `"30s"`},
	{"enable_acl_replication", `true`},
	{"addresses.dns", `"127.0.0.1"`}, {"addresses.http", `"127.0.0.1"`}, {"addresses.https", `"127.0.0.1"`},
	{"addresses.grpc", `"127.0.0.1"`}, {"addresses.grpc_tls", `"127.0.0.1"`},
	{"advertise_addr", `"127.0.0.1"`}, {"advertise_addr_ipv4", `"127.0.0.1"`}, {"advertise_addr_ipv6", `"::1"`},
	{"advertise_addr_wan", `"127.0.0.1"`}, {"advertise_addr_wan_ipv4", `"127.0.0.1"`},
	{"advertise_addr_wan_ipv6", `"::1"`}, {"advertise_reconnect_timeout", `"24h"`},
	{"alt_domain", `"example."`}, {"audit", `{"enabled": true}`},
	{"auto_config", `{"enabled": true, "intro_token": "x", "server_addresses": ["127.0.0.1"]}`},
	{"auto_encrypt.tls", `true`}, {"auto_encrypt.dns_san", `["a.example"]`}, {"auto_encrypt.ip_san", `["127.0.0.1"]`},
	{"auto_reload_config", `true`},
	{"autopilot.cleanup_dead_servers", `false`},
	{"bind_addr", `"127.0.0.1"`}, {"bootstrap", `false`}, {"bootstrap_expect", `0`},
	{"cache", `{"entry_fetch_max_burst": 2, "entry_fetch_rate": 1}`},
	{"check_output_max_size", `8192`}, {"check_update_interval", `"5m"`}, {"client_addr", `"127.0.0.1"`},
	{"cloud", `{"resource_id": "r", "client_id": "c", "client_secret": "s"}`},
	{"config_entries", `{"bootstrap": [{"kind": "proxy-defaults", "name": "global"}]}`},
	{"connect.enabled", `true`}, {"connect.ca_provider", `"consul"`},
	{"connect.ca_config", `{"leaf_cert_ttl": "72h"}`}, {"connect.enable_serverless_plugin", `false`},
	{"connect.test_ca_leaf_root_change_spread", `"0s"`}, {"connect.enable_mesh_gateway_wan_federation", `true`},
	{"datacenter", `"dc1"`}, {"data_dir", `"/tmp/consulate-compat"`}, {"default_query_time", `"60s"`},
	{"disable_anonymous_signature", `true`}, {"disable_coordinates", `true`}, {"disable_host_node_id", `true`},
	{"disable_http_unprintable_char_filter", `true`}, {"disable_keyring_file", `true`},
	{"disable_update_check", `true`}, {"discard_check_output", `true`}, {"discovery_max_stale", `"5s"`},
	{"dns_config.allow_stale", `true`}, {"dns_config.a_record_limit", `3`}, {"dns_config.cache_max_age", `"10s"`},
	{"dns_config.disable_compression", `true`}, {"dns_config.enable_additional_node_meta_txt", `true`},
	{"dns_config.enable_truncate", `true`}, {"dns_config.max_stale", `"10s"`}, {"dns_config.node_ttl", `"10s"`},
	{"dns_config.only_passing", `true`}, {"dns_config.prefer_namespace", `true`},
	{"dns_config.recursor_strategy", `"random"`}, {"dns_config.recursor_timeout", `"3s"`},
	{"dns_config.service_ttl", `{"*": "5s"}`}, {"dns_config.soa", `{"expire": 1, "min_ttl": 2, "refresh": 3, "retry": 4}`},
	{"dns_config.udp_answer_limit", `5`}, {"dns_config.use_cache", `true`},
	{"domain", `"consul"`}, {"enable_agent_tls_for_checks", `true`}, {"enable_central_service_config", `true`},
	{"enable_debug", `true`}, {"enable_local_script_checks", `true`}, {"enable_script_checks", `true`},
	{"enable_syslog", `false`}, {"encrypt", `"PKQ3iXoo4Kz44MGRvnyVBwFpT/RIwU7KZDobnN6b0yM="`},
	{"encrypt_verify_incoming", `true`}, {"encrypt_verify_outgoing", `true`}, {"experiments", `["resource-apis"]`},
	{"gossip_lan", `{"gossip_nodes": 3, "gossip_interval": "200ms", "probe_interval": "1s", "probe_timeout": "500ms", "suspicion_mult": 4, "retransmit_mult": 4}`},
	{"gossip_wan", `{"gossip_nodes": 4, "gossip_interval": "500ms", "probe_interval": "5s", "probe_timeout": "3s", "suspicion_mult": 6, "retransmit_mult": 4}`},
	{"leave_on_terminate", `true`}, {"license_path", `"/etc/consul.d/license.hclic"`},
	{"limits.http_max_conns_per_client", `200`}, {"limits.https_handshake_timeout", `"5s"`},
	{"limits.request_limits", `{"mode": "permissive", "read_rate": 100, "write_rate": 100}`},
	{"limits.rpc_client_timeout", `"60s"`}, {"limits.rpc_handshake_timeout", `"5s"`}, {"limits.rpc_max_burst", `1000`},
	{"limits.rpc_max_conns_per_client", `100`}, {"limits.rpc_rate", `100`},
	{"limits.kv_max_value_size", `1048576`}, {"limits.txn_max_req_len", `1048576`},
	{"locality", `{"region": "r", "zone": "z"}`}, {"log_level", `"debug"`}, {"log_json", `true`},
	{"max_query_time", `"900s"`}, {"node_id", `"3f8a9a2e-1b1c-4d7e-9f00-0123456789ab"`}, {"node_meta", `{"rack": "r1"}`},
	{"node_name", `"n1"`}, {"non_voting_server", `true`}, {"partition", `"default"`}, {"peering", `{"enabled": true}`},
	{"performance.leave_drain_time", `"5s"`}, {"performance.raft_multiplier", `5`}, {"performance.rpc_hold_timeout", `"7s"`},
	{"performance.grpc_keepalive_interval", `"30s"`}, {"performance.grpc_keepalive_timeout", `"20s"`},
	{"pid_file", `"/tmp/consulate-compat.pid"`},
	{"ports.dns", `8600`}, {"ports.http", `8500`}, {"ports.https", `-1`}, {"ports.serf_lan", `8301`}, {"ports.serf_wan", `8302`},
	{"ports.server", `8300`}, {"ports.grpc", `8502`}, {"ports.grpc_tls", `8503`},
	{"ports.sidecar_min_port", `21000`}, {"ports.sidecar_max_port", `21255`},
	{"ports.expose_min_port", `21500`}, {"ports.expose_max_port", `21755`},
	{"ports.proxy_min_port", `20000`}, {"ports.proxy_max_port", `20255`},
	{"primary_datacenter", `"dc1"`}, {"primary_gateways", `["10.0.0.1:443"]`}, {"primary_gateways_interval", `"30s"`},
	{"protocol", `2`}, {"raft_boltdb", `{"NoFreelistSync": true}`},
	{"raft_logstore.backend", `"boltdb"`}, {"raft_logstore.disable_log_cache", `true`},
	{"raft_logstore.verification", `{"enabled": true, "interval": "60s"}`},
	{"raft_logstore.boltdb", `{"no_freelist_sync": true}`}, {"raft_logstore.wal", `{"segment_size_mb": 64}`},
	{"raft_protocol", `3`}, {"raft_snapshot_interval", `"30s"`}, {"raft_snapshot_threshold", `8192`},
	{"raft_trailing_logs", `10000`}, {"read_replica", `true`}, {"reconnect_timeout", `"8h"`},
	{"reconnect_timeout_wan", `"8h"`}, {"recursors", `["127.0.0.53"]`}, {"rejoin_after_leave", `true`},
	{"reporting", `{"license": {"enabled": false}}`},
	{"retry_interval", `"10s"`}, {"retry_join", `["127.0.0.2"]`}, {"retry_max", `3`},
	{"retry_interval_wan", `"10s"`}, {"retry_join_wan", `["127.0.0.2"]`}, {"retry_max_wan", `3`},
	{"start_join_wan", `["127.0.0.2"]`}, {"auto_encrypt.allow_tls", `true`}, {"server", `true`},
	{"rpc", `{"enable_streaming": false}`}, {"segment", `"alpha"`}, {"segments", `[{"name": "alpha", "bind": "127.0.0.1", "port": 8303}]`},
	{"serf_lan", `"127.0.0.1"`}, {"serf_lan_allowed_cidrs", `["10.0.0.0/8"]`}, {"serf_wan", `"127.0.0.1"`},
	{"serf_wan_allowed_cidrs", `["10.0.0.0/8"]`}, {"server_name", `"server.dc1.consul"`},
	{"server_rejoin_age_max", `"168h"`}, {"session_ttl_min", `"5s"`}, {"skip_leave_on_interrupt", `true`},
	{"snapshot_agent", `{"snapshot": {"interval": "1h"}}`}, {"start_join", `["127.0.0.2"]`},
	{"syslog_facility", `"LOCAL1"`}, {"tagged_addresses", `{"lan_ipv4": "127.0.0.1"}`},
	{"tls.defaults", `{"ca_file": "ca.pem", "ca_path": "/etc/ssl", "cert_file": "c.pem", "key_file": "k.pem", "verify_incoming": false, "verify_outgoing": true, "tls_min_version": "TLSv1_2", "tls_cipher_suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}`},
	{"tls.internal_rpc", `{"verify_server_hostname": true, "ca_file": "ca.pem"}`}, {"tls.https", `{"verify_incoming": false}`},
	{"tls.grpc", `{"use_auto_cert": true}`},
	{"ca_file", `"ca.pem"`}, {"ca_path", `"/etc/ssl"`}, {"tls_min_version", `"TLSv1_2"`},
	{"tls_cipher_suites", `"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"`}, {"tls_prefer_server_cipher_suites", `true`},
	{"verify_incoming", `false`}, {"verify_incoming_https", `false`}, {"verify_incoming_rpc", `false`},
	{"verify_outgoing", `false`}, {"verify_server_hostname", `false`},
	{"translate_wan_addrs", `true`}, {"ui", `true`}, {"ui_config.enabled", `true`}, {"ui_config.dir", `"/opt/ui"`},
	{"ui_config.content_path", `"/ui/"`}, {"ui_config.metrics_provider", `"prometheus"`},
	{"ui_config.metrics_provider_files", `["/x.js"]`}, {"ui_config.metrics_provider_options_json", `"{}"`},
	{"ui_config.metrics_proxy", `{"base_url": "http://127.0.0.1:9090", "add_headers": [{"name": "A", "value": "b"}], "path_allowlist": ["/api/v1/query"]}`},
	{"ui_config.dashboard_url_templates", `{"service": "https://grafana/{{Service.Name}}"}`},
	{"ui_config.hcp_enabled", `true`}, {"ui_content_path", `"/ui/"`}, {"ui_dir", `"/opt/ui"`},
	{"unix_sockets", `{"user": "0", "group": "0", "mode": "0770"}`}, {"use_streaming_backend", `true`},
	{"watches", `[{"type": "checks", "handler_type": "script", "args": ["/bin/true"]}]`},
	{"xds", `{"update_max_per_second": 250}`},

	{"service.id", `"web-1"`}, {"service.name", `"web"`}, {"service.tags", `["a"]`}, {"service.address", `"127.0.0.1"`},
	{"service.tagged_addresses", `{"lan": {"address": "127.0.0.1", "port": 80}}`}, {"service.meta", `{"v": "1"}`},
	{"service.port", `80`}, {"service.socket_path", `"/tmp/web.sock"`}, {"service.enable_tag_override", `true`},
	{"service.weights", `{"passing": 3, "warning": 1}`}, {"service.kind", `"typical"`},
	{"service.proxy", `{"destination_service_name": "web"}`}, {"service.connect", `{"sidecar_service": {}}`},
	{"service.token", `"t"`}, {"service.locality", `{"region": "r"}`}, {"service.namespace", `"default"`},
	{"service.partition", `"default"`},

	{"check.id", `"c1"`}, {"check.notes", `"n"`}, {"check.service_id", `"web-1"`}, {"check.status", `"passing"`},
	{"check.args", `["/bin/true"]`}, {"check.http", `"http://127.0.0.1/"`}, {"check.header", `{"X": ["y"]}`},
	{"check.method", `"POST"`}, {"check.body", `"{}"`}, {"check.disable_redirects", `true`},
	{"check.tcp", `"127.0.0.1:80"`}, {"check.tcp_use_tls", `true`}, {"check.udp", `"127.0.0.1:53"`},
	{"check.interval", `"10s"`}, {"check.timeout", `"1s"`}, {"check.ttl", `"30s"`},
	{"check.docker_container_id", `"f972c95ebf0e"`}, {"check.shell", `"/bin/bash"`},
	{"check.grpc", `"127.0.0.1:9090"`}, {"check.grpc_use_tls", `true`}, {"check.h2ping", `"127.0.0.1:443"`},
	{"check.h2ping_use_tls", `true`}, {"check.os_service", `"sshd"`}, {"check.alias_node", `"n2"`},
	{"check.alias_service", `"web"`}, {"check.tls_server_name", `"web.example"`}, {"check.tls_skip_verify", `true`},
	{"check.output_max_size", `1024`}, {"check.success_before_passing", `2`}, {"check.failures_before_warning", `1`},
	{"check.failures_before_critical", `3`}, {"check.deregister_critical_service_after", `"90m"`},
	{"check.token", `"t"`}, {"check.namespace", `"default"`}, {"check.partition", `"default"`},
}

// nestJSON turns "a.b.c" and a JSON value into {"a": {"b": {"c": v}}}.
func nestJSON(t *testing.T, key, value string) map[string]any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		t.Fatalf("%s: bad test value %s: %v", key, value, err)
	}
	parts := strings.Split(key, ".")
	for i := len(parts) - 1; i > 0; i-- {
		v = map[string]any{parts[i]: v}
	}
	return map[string]any{parts[0]: v}
}

// compatSource is one JSON file that sets key (a service or check key
// inside a definition that is valid around it).
func compatSource(t *testing.T, key, value string) Source {
	t.Helper()
	obj := nestJSON(t, key, value)
	switch {
	case strings.HasPrefix(key, "service."):
		svc := obj["service"].(map[string]any)
		if _, ok := svc["name"]; !ok {
			svc["name"] = "web"
		}
	case strings.HasPrefix(key, "check."):
		chk := obj["check"].(map[string]any)
		chk["name"] = "chk"
		kinds := []string{"http", "tcp", "ttl", "args", "udp", "grpc", "h2ping", "os_service", "docker_container_id", "alias_node", "alias_service"}
		hasKind := false
		for _, k := range kinds {
			if _, ok := chk[k]; ok {
				hasKind = true
			}
		}
		if !hasKind {
			chk["tcp"] = "127.0.0.1:80"
		}
		if _, ok := chk["ttl"]; !ok {
			if _, ok := chk["interval"]; !ok {
				chk["interval"] = "10s"
			}
		}
		if _, ok := chk["docker_container_id"]; ok {
			chk["args"] = []string{"/bin/true"} // a Docker check runs args or script
		}
		if _, ok := chk["args"]; ok {
			obj["enable_local_script_checks"] = true
		}
	case key == "auto_encrypt.allow_tls", key == "retry_join_wan", key == "start_join_wan",
		key == "connect.enable_mesh_gateway_wan_federation":
		obj["server"] = true // server-only keys
	case key == "primary_gateways":
		obj["server"] = true // gateway-mode servers only
		obj["connect"] = map[string]any{"enable_mesh_gateway_wan_federation": true}
	case strings.HasPrefix(key, "auto_encrypt."):
		obj["auto_encrypt"].(map[string]any)["tls"] = true
	}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return Source{Kind: SourceData, Path: "compat.json", Data: b}
}

// TestConsulKeysAccepted is the compatibility rule, key by key: every key
// of Consul 1.16's agent configuration loads, and either it is a real
// field (no warning names it) or exactly one warning names it and says it
// has no effect. A key that is refused fails the test.
func TestConsulKeysAccepted(t *testing.T) {
	ignored := map[string]bool{}
	for _, k := range IgnoredKeys() {
		ignored[k] = true
	}
	seen := map[string]bool{}
	for _, tc := range consulKeys {
		t.Run(tc.key, func(t *testing.T) {
			if seen[tc.key] {
				t.Fatalf("%s is listed twice", tc.key)
			}
			seen[tc.key] = true
			rt, err := Load(LoadOpts{
				Sources: []Source{compatSource(t, tc.key, tc.value)},
				Flags:   &Config{DataDir: ptr(t.TempDir()), NodeName: ptr("n")},
			})
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			// The warning names the file and the key path as written.
			path := tc.key
			var named []string
			for _, w := range rt.Warnings {
				if strings.Contains(w, "compat.json: "+path+":") {
					named = append(named, w)
				}
			}
			if ignored[tc.key] || unrunCheckKey(tc.key) || valueWarns[tc.key] {
				if len(named) != 1 {
					t.Fatalf("want exactly one warning naming %s, got %q (all: %q)", path, named, rt.Warnings)
				}
				if !strings.Contains(named[0], "has no effect in Consulate") {
					t.Fatalf("warning %q does not say the key has no effect", named[0])
				}
				return
			}
			if len(named) != 0 {
				t.Fatalf("%s is a real field but warns: %q", tc.key, named)
			}
		})
	}
	// Every key the compat table ignores is exercised above.
	for k := range ignored {
		if !seen[k] {
			t.Errorf("ignored key %s has no entry in consulKeys", k)
		}
	}
}

// valueWarns are real fields whose value in consulKeys asks for something
// Consulate does not do (recursor_strategy "random"): one warning.
var valueWarns = map[string]bool{"dns_config.recursor_strategy": true}

// unrunCheckKey is a key that selects a check kind Consulate does not run
// (Docker): the check is registered critical with one warning naming
// that key.
func unrunCheckKey(key string) bool {
	return key == "check.docker_container_id"
}

// TestProdConfigDir loads the production-style directory built from
// Consul's documentation examples: it loads, with warnings and no error;
// what works is in the Runtime.
func TestProdConfigDir(t *testing.T) {
	rt, err := Load(LoadOpts{Sources: []Source{dir("consul-prod")}})
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	if len(rt.Warnings) == 0 {
		t.Fatal("no warnings for keys without effect")
	}
	if d := dedupe(slices.Clone(rt.Warnings)); len(d) != len(rt.Warnings) {
		t.Fatalf("duplicate warnings: %q", rt.Warnings)
	}
	for _, w := range rt.Warnings {
		if !strings.HasPrefix(w, "testdata/consul-prod/") {
			t.Errorf("warning %q does not name its file", w)
		}
	}
	if !rt.ServerMode || rt.SessionTTLMin != 10*time.Second || rt.MaxQueryTime != 600*time.Second ||
		rt.DNSRecursorStrategy != "sequential" || !rt.ACLsEnabled || rt.LeaveDrainTime != time.Second {
		t.Fatalf("runtime misses working keys: %+v", rt)
	}
	var web, db bool
	for _, s := range rt.Services {
		switch s.Name {
		case "web":
			web = true
			if len(s.Checks) != 2 || s.Checks[0].CheckID != "web-http" || s.Checks[1].GRPC == "" {
				t.Fatalf("web checks %+v, want web-http and the gRPC check", s.Checks)
			}
			c := s.Checks[0]
			if c.SuccessBeforePassing != 2 || c.FailuresBeforeWarning != 1 || c.FailuresBeforeCritical != 3 ||
				c.TLSServerName != "web.service.consul" || !c.DisableRedirects || c.OutputMaxSize != 1024 {
				t.Fatalf("web-http lost fields: %+v", c)
			}
		case "db":
			db = s.Check != nil
		}
	}
	if !web || !db {
		t.Fatalf("services %+v", rt.Services)
	}
	// The client file of the same layout loads over the common file.
	if _, err := Load(LoadOpts{Sources: []Source{file("consul-prod/consul.hcl"), file("consul-prod/client/client.json")}}); err != nil {
		t.Fatalf("client config refused: %v", err)
	}
}

// TestIgnoredKeyWarnsOncePerKey: the same ignored key in two files warns
// for each file, and a repeated HCL block in one file warns once.
func TestIgnoredKeyWarnsOncePerKey(t *testing.T) {
	rt, err := Load(LoadOpts{Sources: []Source{
		data("a.hcl", "connect { enabled = true }\nconnect {\n  enabled = false\n  enable_mesh_gateway_wan_federation = true\n}\n"),
		data("b.json", `{"connect": {"enabled": true, "ca_provider": "consul"}, "dns_config": {"disable_compression": false}}`),
	}, Flags: &Config{DataDir: ptr(t.TempDir()), Server: ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	// connect.enable_mesh_gateway_wan_federation works: no warning; the
	// other keys of the connect stanza warn once each.
	want := []string{
		"a.hcl: connect.enabled: accepted but has no effect in Consulate (" + whyMesh + ")",
		"b.json: connect.ca_provider: accepted but has no effect in Consulate (" + whyMesh + ")",
		"b.json: connect.enabled: accepted but has no effect in Consulate (" + whyMesh + ")",
	}
	if !rt.GatewayFederation {
		t.Fatal("connect.enable_mesh_gateway_wan_federation did not reach the runtime")
	}
	if !slices.Equal(rt.Warnings, want) {
		t.Fatalf("warnings %q, want %q", rt.Warnings, want)
	}
}

// TestUnknownKeyStillRefused: keys Consul itself rejects stop the load.
func TestUnknownKeyStillRefused(t *testing.T) {
	_, err := Load(LoadOpts{Sources: []Source{data("c.json", `{"dns_config": {"use_cahce": true}}`)}, Flags: &Config{DataDir: ptr(t.TempDir())}})
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("err %v, want unknown key", err)
	}
}
