#!/usr/bin/env bash
# DNS flood: a dev agent answers 100,000 distinct made-up names (service,
# node, tagged, named-DC and RFC 2782 forms) over UDP while a real name
# (web.service.consul SRV, 50 instances) is measured alone and during the
# flood. RSS (/proc/PID/status VmRSS) and goroutines
# (consul.runtime.num_goroutines on /v1/agent/metrics) are read before the
# flood, right after it, and after SETTLE seconds. Loopback only; every run
# is bounded.
#   bash bench/dnsflood.sh
#   NAMES=100000 REPEAT=2 FLOOD_C=8 SETTLE=10 bash bench/dnsflood.sh
#   BIN=/path/to/other/consulate bash bench/dnsflood.sh   # compare a build
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
NAMES=${NAMES:-100000}
REPEAT=${REPEAT:-1}
SETTLE=${SETTLE:-10}
DURATION=${DURATION:-5s}
FLOOD_C=${FLOOD_C:-8}
AGENT_IP=${AGENT_IP:-127.0.0.61}
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
build_bin "$tmp"
go build -o "$tmp/dnsflood" ./bench/dnsflood
"$BIN" agent -dev -node bench -bind $AGENT_IP -client $AGENT_IP -log-level err >"$tmp/agent.log" 2>&1 &
pid=$!
wait_leader "$AGENT_IP"
register_web "$AGENT_IP"
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$pid/status; }
gauge() {
  curl -sf "http://$AGENT_IP:8500/v1/agent/metrics" |
    jq -r --arg n "$1" '[.Gauges[] | select(.Name == $n) | .Value][0] // "n/a"'
}
snap() { printf "%-24s RSS %6s MB   goroutines %5s   cache entries %s\n" "$1" "$(rss)" \
  "$(gauge consul.runtime.num_goroutines)" "$(gauge consul.cache.entries_count)"; }
# Warm up: the real name is cached, sockets and buffers exist.
"$tmp/dnsflood" -server $AGENT_IP:8600 -names 1 -d 2s -skip-alone >/dev/null
snap "before the flood"
"$tmp/dnsflood" -server $AGENT_IP:8600 -names "$NAMES" -repeat "$REPEAT" -flood-c "$FLOOD_C" -d "$DURATION"
snap "right after the flood"
sleep "$SETTLE"
snap "after ${SETTLE}s"
kill -0 $pid 2>/dev/null || { echo "agent died"; tail -20 "$tmp/agent.log"; exit 1; }
