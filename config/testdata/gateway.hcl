# A gateway-mode server of dc2 (issue 15): it reaches other datacenters
# only through its local gateways and joins dc1 through dc1's gateways.
datacenter = "dc2"
node_name  = "dc2-server1"
data_dir   = "/tmp/consulate-config-test"
server     = true
bootstrap  = true
bind_addr  = "127.0.33.11"

connect {
  enable_mesh_gateway_wan_federation = true
}

primary_gateways          = ["127.0.33.21:8443", "gw.dc1.example:8443"]
primary_gateways_interval = "10s"

# The same agent also runs a gateway (normally a client does).
gateway {
  enabled        = true
  port           = 8444
  peers          = ["127.0.33.31:8443"]
  probe_interval = "250ms"
}
