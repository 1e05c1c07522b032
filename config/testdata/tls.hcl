# A TLS server as Consul 1.16 documents it: defaults, then per protocol.
datacenter = "dc1"
node_name  = "tls-server"
data_dir   = "/tmp/consulate-config-test"
server     = true
bind_addr  = "127.0.0.11"
client_addr = "127.0.0.11"
addresses { https = "127.0.0.12" }
ports {
  https = 8501
}
encrypt_verify_incoming = false
tls {
  defaults {
    ca_file   = "/etc/consul.d/consul-agent-ca.pem"
    cert_file = "/etc/consul.d/dc1-server-consul-0.pem"
    key_file  = "/etc/consul.d/dc1-server-consul-0-key.pem"
    verify_incoming = true
    verify_outgoing = true
    tls_min_version = "TLSv1_2"
    tls_cipher_suites = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
  }
  internal_rpc {
    verify_server_hostname = true
  }
  https {
    verify_incoming = false
    tls_min_version = "TLSv1_3"
    tls_cipher_suites = ""
  }
}
auto_encrypt {
  allow_tls = true
}
limits {
  http_max_conns_per_client = 50
  rpc_rate = 12.5
  rpc_max_burst = 20
  request_limits {
    mode = "enforcing"
    read_rate = 1000
    write_rate = 100.5
  }
}
