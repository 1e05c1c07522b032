#!/usr/bin/env bash
# Memory after many writes: one server (NET.71) and a client (NET.72), 64
# writers of distinct KV keys through the client for DUR seconds, then the
# server's and the client's RSS (anonymous / file-backed), raft.db's size
# and the number of raft snapshots taken.
#   bash bench/memwrite.sh                 # 40 s of writes
#   DUR=20 BIN=/path/to/consulate bash bench/memwrite.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
NET=${NET:-127.0.7}
DUR=${DUR:-40}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
build_bin "$tmp"
go build -o "$tmp/loadgen" ./bench/loadgen
"$BIN" agent -server -bootstrap-expect 1 -node s1 -bind "$NET.71" -client "$NET.71" -data-dir "$tmp/s1" -log-level warn >"$tmp/s1.log" 2>&1 &
server=$!
wait_leader "$NET.71" 30
"$BIN" agent -node c1 -bind "$NET.72" -client "$NET.72" -data-dir "$tmp/c1" -retry-join "$NET.71" -log-level warn >"$tmp/c1.log" 2>&1 &
client=$!
wait_leader "$NET.72" 30
"$tmp/loadgen" -mode put -url "http://$NET.72:8500/v1/kv/mem" -c 64 -d "${DUR}s"
sleep 5
mem() { grep -E '^Rss(Anon|File)' "/proc/$1/status" | awk '{printf "%s %.1f MB  ", $1, $2 / 1024}'; }
echo "server RSS $(rss_mb $server) MB ($(mem $server)) raft.db $(( $(stat -c %s "$tmp/s1/raft/raft.db") / 1048576 )) MB, snapshots $(ls "$tmp/s1/raft/snapshots" | wc -l)"
echo "client RSS $(rss_mb $client) MB ($(mem $client))"
