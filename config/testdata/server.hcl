# A seed-style server: -server -bootstrap -syslog -ui ... as a file.
datacenter = "DC1"
node_name  = "consul-server01"
data_dir   = "/tmp/consulate-config-test"
server     = true
bootstrap  = true
enable_syslog = true
ui_config { enabled = true }
bind_addr   = "127.0.0.11"
client_addr = "127.0.0.11 127.0.0.1"
disable_host_node_id = true
ports {
  http = 8501
  dns  = -1
  grpc = -1
}
addresses { http = "127.0.0.11" }
retry_join     = ["127.0.0.12", "127.0.0.13"]
retry_interval = "5s"
reconnect_timeout = "8h"
encrypt = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
node_meta {
  rack = "r1"
}
dns_config {
  node_ttl = "10s"
  service_ttl {
    "*"  = "5s"
    "web" = "30s"
  }
  udp_answer_limit = 5
  soa { min_ttl = 60 }
}
recursors = ["127.0.0.53", "127.0.0.54:5353"]
gossip_lan { probe_interval = "200ms" }
performance { raft_multiplier = 5 }
limits {
  rpc_max_conns_per_client = 250
  rpc_handshake_timeout    = "2s"
}
services {
  id   = "api-1"
  name = "api"
  port = 9090
  meta { version = "2" }
  weights { passing = 10 }
  checks = [
    { name = "api ttl", ttl = "30s" },
    { id = "api-tcp", tcp = "127.0.0.1:9090", interval = "5s", timeout = "1s" },
  ]
}
services {
  name = "cache"
  enable_tag_override = true
}
check {
  name = "mem"
  args = ["/bin/true"]
  interval = "30s"
}
enable_local_script_checks = true
