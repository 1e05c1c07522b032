# Common settings of every agent in the datacenter, in the layout of
# Consul's deployment guide (/etc/consul.d/consul.hcl), with keys from
# Consul's documentation examples.
datacenter = "dc1"
data_dir   = "/opt/consul"
log_level  = "INFO"
log_json   = false
encrypt    = "PKQ3iXoo4Kz44MGRvnyVBwFpT/RIwU7KZDobnN6b0yM="
encrypt_verify_incoming = true
encrypt_verify_outgoing = true

primary_datacenter = "dc1"

tls {
  defaults {
    ca_file         = "/etc/consul.d/certs/consul-agent-ca.pem"
    cert_file       = "/etc/consul.d/certs/dc1-server-consul-0.pem"
    key_file        = "/etc/consul.d/certs/dc1-server-consul-0-key.pem"
    verify_incoming = true
    verify_outgoing = true
  }
  internal_rpc {
    verify_server_hostname = true
  }
  https {
    verify_incoming = false
  }
}

acl {
  enabled                  = true
  default_policy           = "deny"
  down_policy              = "extend-cache"
  enable_token_persistence = true
  tokens {
    initial_management = "9f7e3a52-6a1c-4c5e-9d4b-2f1a0c3e8b71"
    agent              = "9f7e3a52-6a1c-4c5e-9d4b-2f1a0c3e8b71"
  }
}

performance {
  raft_multiplier  = 1
  leave_drain_time = "1s"
  rpc_hold_timeout = "7s"
}

limits {
  http_max_conns_per_client = 400
  rpc_max_conns_per_client  = 200
  rpc_handshake_timeout     = "5s"
  https_handshake_timeout   = "5s"
  rpc_rate                  = 1000
  rpc_max_burst             = 2000
  kv_max_value_size         = 524288
  txn_max_req_len           = 524288
  request_limits {
    mode       = "permissive"
    read_rate  = 5000
    write_rate = 1000
  }
}

recursors = ["127.0.0.53"]

dns_config {
  allow_stale        = true
  max_stale          = "87600h"
  node_ttl           = "30s"
  service_ttl {
    "*" = "10s"
  }
  enable_truncate    = true
  only_passing       = true
  udp_answer_limit   = 3
  a_record_limit     = 3
  recursor_strategy  = "sequential"
  recursor_timeout   = "2s"
  disable_compression = false
  enable_additional_node_meta_txt = false
  use_cache          = true
  cache_max_age      = "10s"
  soa {
    min_ttl = 60
    refresh = 3600
  }
}

node_meta {
  rack = "r1"
}

session_ttl_min    = "10s"
default_query_time = "300s"
max_query_time     = "600s"
disable_update_check = true
enable_local_script_checks = true
check_output_max_size = 4096
leave_on_terminate = false
skip_leave_on_interrupt = true
reconnect_timeout = "72h"

log_file             = "/var/log/consul/"
log_rotate_duration  = "24h"
log_rotate_bytes     = 104857600
log_rotate_max_files = 10

disable_remote_exec = true

http_config {
  response_headers {
    "Access-Control-Allow-Origin" = "*"
    "X-Frame-Options"             = "DENY"
  }
  allow_write_http_from = ["127.0.0.0/8", "10.0.0.0/8"]
  use_cache             = true
  max_header_bytes      = 1048576
}

telemetry {
  prometheus_retention_time = "60s"
  disable_hostname          = true
  metrics_prefix            = "consul"
  filter_default            = true
  prefix_filter             = ["+consul.raft.apply", "-consul.http"]
  statsd_address            = "127.0.0.1:8125"
  dogstatsd_addr            = "127.0.0.1:8126"
  dogstatsd_tags            = ["env:prod"]
}
