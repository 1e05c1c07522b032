#!/usr/bin/env bash
# How long `consulate agent -dev` takes from exec to a leader and to the
# first acknowledged KV write, over N runs (default 10).
#   bash bench/devstart.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10}
IP=${IP:-127.0.0.71}
BIN=$(mktemp -d)/consulate
go build -o "$BIN" ./cmd/consulate
for i in $(seq 1 "$N"); do
  start=$(date +%s%N)
  "$BIN" agent -dev -bind "$IP" -client "$IP" >/dev/null 2>&1 &
  pid=$!
  leader=0
  for _ in $(seq 1 1000); do
    now=$(date +%s%N)
    if [ "$leader" = 0 ]; then
      l=$(curl -s --max-time 0.2 "http://$IP:8500/v1/status/leader" || true)
      case "$l" in *:8300*) leader=$(( (now - start) / 1000000 ));; esac
    fi
    if [ "$leader" != 0 ] && curl -sf --max-time 0.5 -X PUT -d x "http://$IP:8500/v1/kv/devstart" >/dev/null; then
      write=$(( ($(date +%s%N) - start) / 1000000 ))
      break
    fi
    sleep 0.005
  done
  echo "run $i: leader ${leader} ms, first write ${write:-none} ms"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
