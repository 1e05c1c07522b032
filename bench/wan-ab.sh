#!/usr/bin/env bash
# Cross-datacenter A/B: two builds side by side, each as its own federation
# (dc1 = one server + one client, dc2 = one server, WAN-joined; the old
# build on 127.0.2.x, the new on 127.0.3.x), load alternating between them so
# that load from elsewhere on the machine hits both alike. Measures, through
# dc1's client: DNS web.service.dc2.consul SRV (dnsperf) and
# GET /v1/catalog/service/web?dc=dc2 with one client (loadgen).
# Loopback only; bounded.
#   OLD=/tmp/consulate-before NEW=/tmp/consulate-after bash bench/wan-ab.sh
#   ROUNDS=4 DUR=5 OLD=... NEW=... bash bench/wan-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OLD:?set OLD to the baseline binary}" "${NEW:?set NEW to the binary to compare}"
ROUNDS=${ROUNDS:-4}
DUR=${DUR:-5}
. bench/lib.sh
need_dnsperf
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/loadgen" ./bench/loadgen
agent() { # bin name ip args...
  local bin=$1 name=$2 ip=$3; shift 3
  "$bin" agent -node "$name" -bind "$ip" -client "$ip" -data-dir "$tmp/$name-$ip" -log-level err "$@" >"$tmp/$name-$ip.log" 2>&1 &
}
federation() { # bin net (2 or 3)
  local bin=$1 n=127.0.$2
  agent "$bin" s1 "$n.11" -server -bootstrap-expect 1 -datacenter dc1
  agent "$bin" s1 "$n.21" -server -bootstrap-expect 1 -datacenter dc2
  wait_leader "$n.11"
  wait_leader "$n.21"
  agent "$bin" c1 "$n.14" -datacenter dc1 -join "$n.11"
  "$bin" join -http-addr "http://$n.11:8500" -wan "$n.21" >/dev/null
  register_web "$n.21"
  for i in $(seq 1 100); do
    curl -sf "http://$n.14:8500/v1/catalog/service/web?dc=dc2" | grep -q web-50 && return 0
    sleep 0.1
  done
  echo "federation on $n.x did not come up" >&2; exit 1
}
federation "$OLD" 2
federation "$NEW" 3
echo "web.service.dc2.consul SRV" >"$tmp/q.txt"
for round in $(seq 1 "$ROUNDS"); do
  for net in 2 3; do
    v=old; [ $net = 3 ] && v=new
    q=$(dnsperf -s 127.0.$net.14 -p 8600 -d "$tmp/q.txt" -l "$DUR" -c 4 -Q 200000 -q 200 2>&1 | awk '/Queries per second/ {print $4}')
    echo "$round dns-dc2-qps $v $q"
    p50=$("$tmp/loadgen" -mode get -url "http://127.0.$net.14:8500/v1/catalog/service/web?dc=dc2" -c 1 -d "${DUR}s" | sed -E 's/.*p50=([0-9.]+)(µs|ms).*/\1 \2/' | awk '{v=$1; if ($2=="ms") v*=1000; print v}')
    echo "$round read-dc2-p50-us $v $p50"
  done
done | tee "$tmp/runs.txt"
awk '{s[$2" "$3]+=$4; n[$2" "$3]++} END {for (k in s) printf "%-22s mean %9.0f over %d runs\n", k, s[k]/n[k], n[k]}' "$tmp/runs.txt" | sort
