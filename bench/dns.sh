#!/usr/bin/env bash
# DNS load: dnsperf against a dev agent with 50 instances of "web", next
# to a bare miekg/dns server. Loopback only; every run is bounded (-l).
#   bash bench/dns.sh            # 10 s per run
#   DURATION=30 bash bench/dns.sh
#   BIN=/path/to/other/consulate bash bench/dns.sh   # compare a build
#   AGENT_IP=127.0.6.1 BARE_IP=127.0.6.3 bash bench/dns.sh   # other addresses
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${DURATION:-10}
AGENT_IP=${AGENT_IP:-127.0.0.61}
BARE_IP=${BARE_IP:-127.0.0.63}
need_dnsperf
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
build_bin "$tmp"
go build -o "$tmp/baredns" ./bench/baredns
"$BIN" agent -dev -node bench -bind $AGENT_IP -client $AGENT_IP -log-level warn >"$tmp/agent.log" 2>&1 &
"$tmp/baredns" -listen $BARE_IP:8600 >/dev/null &
wait_leader "$AGENT_IP"
register_web "$AGENT_IP"
echo "web.service.consul SRV" >"$tmp/srv.txt"
echo "bench.node.consul A" >"$tmp/node.txt"
run() { # name server file
  local out
  out=$(dnsperf -s "$2" -p 8600 -d "$3" -l "$DURATION" -c 4 -Q 200000 -q 200 2>&1)
  local qps lost
  qps=$(echo "$out" | awk '/Queries per second/ {print $4}')
  lost=$(echo "$out" | awk '/Queries lost/ {print $3}')
  printf "%-28s %10s q/s   lost %s\n" "$1" "$qps" "$lost"
  echo "$qps" >"$tmp/$1.qps"
}
run bare-miekg $BARE_IP "$tmp/node.txt"
run node-A $AGENT_IP "$tmp/node.txt"
run web-SRV-50 $AGENT_IP "$tmp/srv.txt"
bare=$(cat "$tmp/bare-miekg.qps")
for n in node-A web-SRV-50; do
  awk -v a="$(cat "$tmp/$n.qps")" -v b="$bare" -v n="$n" 'BEGIN {printf "%-28s %.0f%% of bare\n", n, 100*a/b}'
done
