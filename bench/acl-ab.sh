#!/usr/bin/env bash
# ACLs on vs off, side by side: two clusters of the same build (one server
# and one client each, 50 instances of web registered); ACLs off on
# 127.0.6.x, on (default deny; the client's default token reads every
# service and node) on 127.0.7.x. Load alternates between them: health
# reads through the client (32 connections, loadgen) and DNS
# web.service.consul SRV through the client (dnsperf). Loopback only.
#   bash bench/acl-ab.sh
#   ROUNDS=4 DUR=5 BIN=/path/to/consulate bash bench/acl-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-4}
DUR=${DUR:-5}
. bench/lib.sh
need_dnsperf
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
build_bin "$tmp"
go build -o "$tmp/loadgen" ./bench/loadgen
cat >"$tmp/acl-server.hcl" <<HCL
acl {
  enabled = true
  default_policy = "deny"
  tokens { initial_management = "root-secret"  agent = "root-secret" }
}
HCL
agent() { # name ip args...
  local name=$1 ip=$2; shift 2
  "$BIN" agent -node "$name" -bind "$ip" -client "$ip" -data-dir "$tmp/$name-$ip" -log-level err "$@" >"$tmp/$name-$ip.log" 2>&1 &
}
cluster() { # net acl(0|1)
  local n=127.0.$1 extra=()
  [ "$2" = 1 ] && extra=(-config-file "$tmp/acl-server.hcl")
  agent s1 "$n.11" -server -bootstrap "${extra[@]}"
  wait_leader "$n.11"
  if [ "$2" = 1 ]; then
    for i in $(seq 1 100); do
      curl -sf -H "X-Consul-Token: root-secret" "http://$n.11:8500/v1/acl/token/self" >/dev/null && break; sleep 0.1
    done
    curl -sf -X PUT -H "X-Consul-Token: root-secret" "http://$n.11:8500/v1/acl/policy" \
      -d '{"Name": "read-all", "Rules": "service_prefix \"\" { policy = \"read\" }\nnode_prefix \"\" { policy = \"read\" }"}' >/dev/null
    curl -sf -X PUT -H "X-Consul-Token: root-secret" "http://$n.11:8500/v1/acl/token" \
      -d '{"SecretID": "6a1c7b0e-1d7f-4c1e-9c55-0a4b2c1d3e4f", "Policies": [{"Name": "read-all"}]}' >/dev/null
    cat >"$tmp/acl-client.hcl" <<HCL
acl {
  enabled = true
  default_policy = "deny"
  tokens { agent = "root-secret"  default = "6a1c7b0e-1d7f-4c1e-9c55-0a4b2c1d3e4f" }
}
HCL
    agent c1 "$n.14" -join "$n.11" -config-file "$tmp/acl-client.hcl"
  else
    agent c1 "$n.14" -join "$n.11"
  fi
  for i in $(seq 1 50); do
    curl -sf -X PUT -H "X-Consul-Token: root-secret" "http://$n.11:8500/v1/catalog/register" -d "{
      \"Node\": \"web-node-$i\", \"Address\": \"10.1.0.$i\",
      \"Service\": {\"ID\": \"web-$i\", \"Service\": \"web\", \"Port\": 8080},
      \"Check\": {\"CheckID\": \"web-$i\", \"Name\": \"web\", \"ServiceID\": \"web-$i\", \"Status\": \"passing\"}}" >/dev/null
  done
  for i in $(seq 1 100); do
    curl -sf "http://$n.14:8500/v1/health/service/web?passing" | grep -q web-50 && return 0
    sleep 0.1
  done
  echo "cluster on $n.x did not come up" >&2; exit 1
}
cluster 6 0
cluster 7 1
echo "web.service.consul SRV" >"$tmp/q.txt"
for round in $(seq 1 "$ROUNDS"); do
  for net in 6 7; do
    v=off; [ $net = 7 ] && v=on
    h=$("$tmp/loadgen" -mode get -url "http://127.0.$net.14:8500/v1/health/service/web?passing" -c 32 -d "${DUR}s" | sed -E 's/.*rate=([0-9.]+).*/\1/')
    echo "$round health-rps $v $h"
    q=$(dnsperf -s 127.0.$net.14 -p 8600 -d "$tmp/q.txt" -l "$DUR" -c 4 -Q 200000 -q 200 2>&1 | awk '/Queries per second/ {print $4}')
    echo "$round dns-qps $v $q"
  done
done | tee "$tmp/runs.txt"
awk '{s[$2" "$3]+=$4; n[$2" "$3]++} END {for (k in s) printf "%-14s mean %9.0f over %d runs\n", k, s[k]/n[k], n[k]}' "$tmp/runs.txt" | sort
