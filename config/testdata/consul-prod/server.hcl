# Server settings (/etc/consul.d/server.hcl in Consul's deployment guide).
server           = true
bootstrap_expect = 3
client_addr      = "0.0.0.0"
raft_protocol    = 3

ui_config {
  enabled          = true
  metrics_provider = "prometheus"
  metrics_proxy {
    base_url = "http://prometheus.service.consul:9090"
  }
  dashboard_url_templates {
    service = "https://grafana.example.com/d/lDlaj-NGz/service-overview?orgId=1&var-service={{Service.Name}}&var-dc={{Datacenter}}"
  }
}

connect {
  enabled = true
}

auto_encrypt {
  allow_tls = true
}

autopilot {
  cleanup_dead_servers      = true
  last_contact_threshold    = "200ms"
  max_trailing_logs         = 250
  min_quorum                = 3
  server_stabilization_time = "10s"
  redundancy_zone_tag       = "zone"
  disable_upgrade_migration = false
  upgrade_version_tag       = "build"
}

addresses {
  grpc = "127.0.0.1"
}

ports {
  grpc     = 8502
  grpc_tls = 8503
}

raft_snapshot_threshold = 16384
raft_snapshot_interval  = "30s"

watches = [
  {
    type    = "checks"
    handler = "/usr/local/bin/health-check-handler.sh"
  }
]
