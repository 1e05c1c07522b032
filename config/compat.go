package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
)

// Consul compatibility: every key Consul 1.16's agent accepts either works
// here (a field of Config or of one of its stanzas) or is listed in
// ignoredKeys, which accepts it, skips its value and adds one warning
// naming the file and the key. Keys Consul itself rejects stay errors.

// Reasons shared by several ignored keys.
const (
	whyEnterprise = "a Consul Enterprise feature"
	whyMesh       = "Consulate has no Connect service mesh"
	whyHCP        = "HCP integration is not available"
	whyGRPC       = "Consulate serves no gRPC port"
	whyUIDir      = "only the built-in UI is served"
)

// ignoredKeys maps, per stanza type, the Consul keys that are accepted
// with a warning to the reason they have no effect. Keys of the lenient
// types (services, checks) are written normalised (see normKey).
var ignoredKeys = map[reflect.Type]map[string]string{
	reflect.TypeOf(Config{}): {
		"advertise_addr_ipv4":                  "the IPv4/IPv6 tagged addresses are not published; advertise_addr is",
		"advertise_addr_ipv6":                  "the IPv4/IPv6 tagged addresses are not published; advertise_addr is",
		"advertise_addr_wan_ipv4":              "the IPv4/IPv6 tagged addresses are not published; advertise_addr_wan is",
		"advertise_addr_wan_ipv6":              "the IPv4/IPv6 tagged addresses are not published; advertise_addr_wan is",
		"advertise_reconnect_timeout":          "members use reconnect_timeout",
		"audit":                                whyEnterprise,
		"auto_config":                          "auto-config is not available; configure clients with files",
		"auto_reload_config":                   "configuration is reloaded on SIGHUP or `consulate reload`",
		"cache":                                "the agent cache's fetch rate is not configurable",
		"cloud":                                whyHCP,
		"config_entries":                       "config entries are not available",
		"disable_coordinates":                  "not configurable in Consulate",
		"disable_http_unprintable_char_filter": "not configurable in Consulate",
		"disable_keyring_file":                 "not configurable in Consulate",
		"discard_check_output":                 "check output is always kept",
		"discovery_max_stale":                  "not configurable in Consulate",
		"enable_agent_tls_for_checks":          "checks do not present the agent's certificate",
		"enable_central_service_config":        "centralized service configuration is not available",
		"experiments":                          "Consul's experiments are not available",
		"license_path":                         whyEnterprise,
		"locality":                             "locality-aware routing is not available",
		"non_voting_server":                    whyEnterprise,
		"partition":                            whyEnterprise,
		"peering":                              "cluster peering is not available",
		"raft_boltdb":                          "use raft_logstore.boltdb",
		"read_replica":                         whyEnterprise,
		"reporting":                            whyEnterprise,
		"rpc":                                  "not configurable in Consulate",
		"segment":                              whyEnterprise,
		"segments":                             whyEnterprise,
		"serf_lan_allowed_cidrs":               "gossip is not filtered by source network",
		"serf_wan_allowed_cidrs":               "gossip is not filtered by source network",
		"server_name":                          "not configurable in Consulate",
		"server_rejoin_age_max":                "not configurable in Consulate",
		"snapshot_agent":                       whyEnterprise,
		"tagged_addresses":                     "the node's tagged addresses are lan and wan only",
		"ui_content_path":                      whyUIDir,
		"ui_dir":                               whyUIDir,
		"watches":                              "watches in the agent's config are not run; use `consulate watch`",
		"xds":                                  whyMesh,
	},
	// connect.enable_mesh_gateway_wan_federation works (gateway.go).
	reflect.TypeOf(Connect{}): {
		"enabled":                         whyMesh,
		"ca_provider":                     whyMesh,
		"ca_config":                       whyMesh,
		"enable_serverless_plugin":        whyMesh,
		"test_ca_leaf_root_change_spread": whyMesh,
	},
	reflect.TypeOf(Addresses{}): {
		"grpc_tls": whyGRPC,
	},
	reflect.TypeOf(Ports{}): {
		"grpc_tls":         whyGRPC,
		"sidecar_min_port": whyMesh,
		"sidecar_max_port": whyMesh,
		"expose_min_port":  whyMesh,
		"expose_max_port":  whyMesh,
		"proxy_min_port":   whyMesh,
		"proxy_max_port":   whyMesh,
	},
	reflect.TypeOf(DNSConfig{}): {
		"disable_compression":             "DNS answers are always compressed",
		"enable_additional_node_meta_txt": "node metadata TXT records are not added to answers",
		"use_cache":                       "not configurable in Consulate",
		"cache_max_age":                   "not configurable in Consulate",
		"prefer_namespace":                whyEnterprise,
	},
	reflect.TypeOf(Performance{}): {
		"rpc_hold_timeout":        "not configurable in Consulate",
		"grpc_keepalive_interval": whyGRPC,
		"grpc_keepalive_timeout":  whyGRPC,
	},
	reflect.TypeOf(Limits{}): {
		"https_handshake_timeout": "not configurable in Consulate",
		"rpc_client_timeout":      "not configurable in Consulate",
		"kv_max_value_size":       "the KV value size limit is fixed at 512 KiB",
		"txn_max_req_len":         "the transaction size limit is fixed at 512 KiB",
	},
	reflect.TypeOf(UI{}): {
		"dir":                           whyUIDir,
		"content_path":                  whyUIDir,
		"metrics_provider":              "the UI shows no metrics",
		"metrics_provider_files":        "the UI shows no metrics",
		"metrics_provider_options_json": "the UI shows no metrics",
		"metrics_proxy":                 "the UI shows no metrics",
		"dashboard_url_templates":       "the UI shows no dashboard links",
		"hcp_enabled":                   whyHCP,
	},
	reflect.TypeOf(ACL{}): {
		"msp_disable_bootstrap": whyEnterprise,
		"disabled_ttl":          "deprecated in Consul; nothing uses it",
	},
	reflect.TypeOf(ACLTokens{}): {
		"dns":                      "DNS answers use the default token",
		"managed_service_provider": whyEnterprise,
	},
	reflect.TypeOf(RaftLogStore{}): {
		"disable_log_cache": "not configurable in Consulate",
		"verification":      "Raft log verification is not available",
		"wal":               "the WAL's settings are fixed",
	},
	reflect.TypeOf(ServiceDef{}): {
		"proxy":       whyMesh,
		"connect":     whyMesh,
		"socket_path": "services are reached by address and port",
		"locality":    "locality-aware routing is not available",
		"namespace":   whyEnterprise,
		"partition":   whyEnterprise,
	},
	reflect.TypeOf(CheckDef{}): {
		"tcp_use_tls": "TCP checks connect without TLS",
		"namespace":   whyEnterprise,
		"partition":   whyEnterprise,
	},
}

// harmlessValues are values of ignored keys that ask for what Consulate
// does anyway (compression on, no cache, ...): setting a key to one of
// them adds no warning.
var harmlessValues = map[reflect.Type]map[string]any{
	reflect.TypeOf(Config{}): {
		"auto_reload_config":                   false,
		"disable_coordinates":                  false,
		"disable_http_unprintable_char_filter": false,
		"disable_keyring_file":                 false,
		"discard_check_output":                 false,
		"enable_agent_tls_for_checks":          false,
		"enable_central_service_config":        false,
		"serf_lan_allowed_cidrs":               []any{},
		"serf_wan_allowed_cidrs":               []any{},
		// Consul's default: streaming on, which is how Consulate's
		// blocking health reads always work.
		"rpc": map[string]any{"enable_streaming": true},
	},
	reflect.TypeOf(Ports{}): {
		"grpc_tls": -1.0,
	},
	reflect.TypeOf(DNSConfig{}): {
		"disable_compression":             false,
		"enable_additional_node_meta_txt": false,
		"use_cache":                       false,
	},
}

// ignoredKey returns the reason key (as written) of stanza type t has no
// effect, and the table's spelling of it.
func ignoredKey(t reflect.Type, key string) (why, name string, ok bool) {
	keys := ignoredKeys[t]
	if why, ok := keys[key]; ok {
		return why, key, true
	}
	if lenientTypes[t] {
		n := normKey(key)
		for k, why := range keys {
			if normKey(k) == n {
				return why, k, true
			}
		}
	}
	return "", "", false
}

// harmless reports whether raw is a value of key that changes nothing.
func harmless(t reflect.Type, key string, raw any) bool {
	want, ok := harmlessValues[t][key]
	if !ok {
		return false
	}
	switch w := want.(type) {
	case bool:
		switch r := raw.(type) {
		case bool:
			return r == w
		case string:
			b, err := strconv.ParseBool(r)
			return err == nil && b == w
		}
	case []any:
		l, ok := raw.([]any)
		return ok && len(l) == 0
	case float64:
		f, ok := toFloat(raw)
		return ok && f == w
	case map[string]any:
		// An object (a JSON object, HCL blocks) whose every key is listed
		// with a harmless value.
		objs, ok := objects(raw)
		if !ok {
			return false
		}
		for _, o := range objs {
			for k, v := range o {
				wv, ok := w[k]
				if !ok || !harmlessValue(wv, v) {
					return false
				}
			}
		}
		return true
	}
	return false
}

// harmlessValue compares one value of a harmless object.
func harmlessValue(want, raw any) bool {
	if b, ok := want.(bool); ok {
		switch r := raw.(type) {
		case bool:
			return r == b
		case string:
			p, err := strconv.ParseBool(r)
			return err == nil && p == b
		}
	}
	return false
}

// ignoredWarning is the one warning an ignored key adds.
func ignoredWarning(src, key, why string) string {
	return fmt.Sprintf("%s: %s: accepted but has no effect in Consulate (%s)", src, key, why)
}

// dedupe returns ws without repeats, in first-seen order.
func dedupe(ws []string) []string {
	seen := make(map[string]bool, len(ws))
	out := ws[:0:0]
	for _, w := range ws {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// IgnoredKeys lists every Consul key Consulate accepts without effect, as
// dotted paths from the top level ("dns_config.use_cache"); keys of
// service and check definitions are given under "service." and "check.".
func IgnoredKeys() []string {
	paths := map[reflect.Type]string{
		reflect.TypeOf(Config{}):       "",
		reflect.TypeOf(Connect{}):      "connect",
		reflect.TypeOf(Addresses{}):    "addresses",
		reflect.TypeOf(Ports{}):        "ports",
		reflect.TypeOf(DNSConfig{}):    "dns_config",
		reflect.TypeOf(Performance{}):  "performance",
		reflect.TypeOf(Limits{}):       "limits",
		reflect.TypeOf(UI{}):           "ui_config",
		reflect.TypeOf(ACL{}):          "acl",
		reflect.TypeOf(ACLTokens{}):    "acl.tokens",
		reflect.TypeOf(RaftLogStore{}): "raft_logstore",
		reflect.TypeOf(ServiceDef{}):   "service",
		reflect.TypeOf(CheckDef{}):     "check",
	}
	var out []string
	for t, keys := range ignoredKeys {
		p, ok := paths[t]
		if !ok {
			panic(fmt.Sprintf("config: no path for %v", t))
		}
		for k := range keys {
			out = append(out, joinPath(p, k))
		}
	}
	sort.Strings(out)
	return out
}
