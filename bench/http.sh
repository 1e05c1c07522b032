#!/usr/bin/env bash
# HTTP load on a dev agent next to a bare net/http server (bench/loadgen),
# all on loopback, each run bounded by -d.
#   bash bench/http.sh           # 10 s per run
set -euo pipefail
cd "$(dirname "$0")/.."
D=${DURATION:-10s}
AGENT_IP=127.0.0.61
BARE=127.0.0.62:8080
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/consulate" ./cmd/consulate
go build -o "$tmp/loadgen" ./bench/loadgen
"$tmp/consulate" agent -dev -node bench -bind $AGENT_IP -client $AGENT_IP -log-level warn >"$tmp/agent.log" 2>&1 &
agent_pid=$!
"$tmp/loadgen" -mode bare -listen $BARE >/dev/null &
for i in $(seq 1 100); do
  curl -sf "http://$AGENT_IP:8500/v1/status/leader" | grep -q 8300 && break
  sleep 0.1
done
for i in $(seq 1 3); do
  curl -sf -X PUT "http://$AGENT_IP:8500/v1/catalog/register" -d "{
    \"Node\": \"web-node-$i\", \"Address\": \"10.1.0.$i\",
    \"Service\": {\"ID\": \"web-$i\", \"Service\": \"web\", \"Port\": 8080},
    \"Check\": {\"CheckID\": \"web-$i\", \"Name\": \"web\", \"ServiceID\": \"web-$i\", \"Status\": \"passing\"}}" >/dev/null
done
sleep 1
echo "idle RSS of the dev agent: $(awk '/VmRSS/ {print $2, $3}' /proc/$agent_pid/status)"
echo "bare net/http       $("$tmp/loadgen" -mode get -url "http://$BARE/" -c 32 -d "$D")"
echo "health ?passing     $("$tmp/loadgen" -mode get -url "http://$AGENT_IP:8500/v1/health/service/web?passing" -c 32 -d "$D")"
echo "KV PUT c=16         $("$tmp/loadgen" -mode put -url "http://$AGENT_IP:8500/v1/kv/bench" -c 16 -d "$D")"
echo "RSS after load: $(awk '/VmRSS/ {print $2, $3}' /proc/$agent_pid/status)"
