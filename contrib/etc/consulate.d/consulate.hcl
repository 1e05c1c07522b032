# /etc/consulate.d/consulate.hcl: settings every agent of the datacenter
# shares. The agent loads every .hcl and .json file of /etc/consulate.d/ in
# name order; copy server.hcl.example or client.hcl.example to a .hcl file
# beside this one to choose the role.

datacenter = "dc1"
data_dir   = "/var/lib/consulate"

# Generate one key per cluster with `consulate keygen`; every agent needs
# the same one.
# encrypt = "…"

log_level = "INFO"

# Logs go to the journal through stderr (the systemd unit), which is
# enough on its own: with journald forwarding to syslog, turning on
# enable_syslog as well would write every line twice. For a file of their
# own, as the seed guide keeps in /var/log/consul/, either turn syslog on
# where stderr does not reach the journal (or the journal does not forward
# to rsyslog) and install rsyslog.d/consulate.conf, which routes facility
# local0 to /var/log/consulate/consulate.log ...
# enable_syslog   = true
# syslog_facility = "LOCAL0"
# ... or let the agent write and rotate the file itself:
# log_file             = "/var/log/consulate/"
# log_rotate_duration  = "24h"
# log_rotate_bytes     = 104857600
# log_rotate_max_files = 10

# HTTP API and DNS listen here; use a private address to reach them from
# other hosts.
client_addr = "127.0.0.1"

# The cluster address: a go-sockaddr template picking the first private
# IPv4 address, or a literal address.
bind_addr = "{{ GetPrivateIP }}"
