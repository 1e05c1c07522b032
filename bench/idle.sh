#!/usr/bin/env bash
# Idle soak: two datacenters (3 + 3 servers) WAN-joined on loopback, left
# alone for IDLE seconds (default 600). Counts WAN failure reports and
# flaps: with nothing wrong there should be none.
#   bash bench/idle.sh            # 10 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE=${IDLE:-600}
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/consulate" ./cmd/consulate
for dc in 1 2; do
  for i in 1 2 3; do
    "$tmp/consulate" agent -server -datacenter dc$dc -bootstrap-expect 3 -retry-join 127.0.0.${dc}1 \
      -retry-interval 200ms -node dc$dc-s$i -bind 127.0.0.$dc$i -client 127.0.0.$dc$i \
      -data-dir "$tmp/dc$dc-s$i" >"$tmp/dc$dc-s$i.log" 2>&1 &
    pids+=($!)
  done
done
for i in $(seq 1 100); do
  curl -sf -m 1 http://127.0.0.11:8500/v1/status/leader | grep -q 8300 && curl -sf -m 1 http://127.0.0.21:8500/v1/status/leader | grep -q 8300 && break
  sleep 0.1
done
"$tmp/consulate" join -wan -http-addr 127.0.0.11:8500 127.0.0.21 >/dev/null
sleep 5
echo "WAN members alive at start: $("$tmp/consulate" members -wan -http-addr 127.0.0.11:8500 | grep -c ' alive ')"
sleep "$IDLE"
echo "after ${IDLE}s idle:"
echo "  WAN members alive: $("$tmp/consulate" members -wan -http-addr 127.0.0.11:8500 | grep -c ' alive ')"
echo "  'member failed' log lines (all servers, LAN+WAN): $(cat "$tmp"/*.log | grep -c 'member failed' || true)"
echo "  memberlist suspicions: $(cat "$tmp"/*.log | grep -c 'Suspect' || true)"
curl -s "http://127.0.0.11:8500/v1/agent/metrics?format=prometheus" | grep -E '^consul_serf_member_(flap|failed)' | sed 's/^/  /'
