#!/usr/bin/env bash
# Two datacenters on loopback as in the README: dc1 = three servers
# (127.0.0.11-13) + a client (127.0.0.14), dc2 = three servers
# (127.0.0.21-23), joined over the WAN. Measures writes and reads through
# the client, cross-DC latency, DNS rates, elections and RSS.
#   bash bench/cluster.sh        # about 3 minutes
#   BIN=/path/to/consulate bash bench/cluster.sh   # measure another build
set -euo pipefail
cd "$(dirname "$0")/.."
D=${DURATION:-10s}
DNSD=${DNS_DURATION:-10}
tmp=$(mktemp -d)
declare -A PID
cleanup() { for p in "${PID[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
. bench/lib.sh
need_dnsperf
build_bin "$tmp"
go build -o "$tmp/loadgen" ./bench/loadgen
C="$BIN"
ms() { date +%s%3N; }
start() { # name ip args...
  local name=$1 ip=$2; shift 2
  "$C" agent -node "$name" -bind "$ip" -client "$ip" -data-dir "$tmp/$name" -log-level warn "$@" >"$tmp/$name.log" 2>&1 &
  PID[$name]=$!
}
leader() { curl -sf -m 1 "http://$1:8500/v1/status/leader" 2>/dev/null | tr -d '"'; }
wait_leader() { # ip [not-this-leader]
  for i in $(seq 1 600); do
    l=$(leader "$1" || true)
    if [ -n "$l" ] && [ "$l" != "${2:-}" ]; then echo "$l"; return 0; fi
    sleep 0.01
  done
  return 1
}
t0=$(ms)
for i in 1 2 3; do
  start dc1-s$i 127.0.0.1$i -server -datacenter dc1 -bootstrap-expect 3 -retry-join 127.0.0.11 -retry-interval 200ms
  start dc2-s$i 127.0.0.2$i -server -datacenter dc2 -bootstrap-expect 3 -retry-join 127.0.0.21 -retry-interval 200ms
done
start dc1-c1 127.0.0.14 -datacenter dc1 -retry-join 127.0.0.11 -retry-interval 200ms
wait_leader 127.0.0.11 >/dev/null; wait_leader 127.0.0.21 >/dev/null
echo "cold start until both datacenters have a leader: $(( $(ms) - t0 )) ms"
"$C" join -wan -http-addr 127.0.0.11:8500 127.0.0.21 >/dev/null
for dc in 1 2; do
  for i in 1 2 3; do
    curl -sf -X PUT "http://127.0.0.${dc}1:8500/v1/catalog/register" -d "{
      \"Node\": \"web-$dc-$i\", \"Address\": \"10.$dc.0.$i\",
      \"Service\": {\"ID\": \"web-$i\", \"Service\": \"web\", \"Port\": 8080},
      \"Check\": {\"CheckID\": \"web-$i\", \"Name\": \"web\", \"ServiceID\": \"web-$i\", \"Status\": \"passing\"}}" >/dev/null
  done
done
sleep 2
echo "--- idle RSS after start"
for n in dc1-s1 dc1-s2 dc1-s3 dc1-c1; do echo "$n $(awk '/VmRSS/ {print $2, $3}' /proc/${PID[$n]}/status)"; done
CL=http://127.0.0.14:8500
echo "--- KV PUT through the client agent (fsync on)"
for c in 1 16 64; do echo "writers=$c  $("$tmp/loadgen" -mode put -url "$CL/v1/kv/bench-$c" -c $c -d "$D")"; done
echo "--- /v1/health/service/web?passing through the client, 32 clients"
echo "default  $("$tmp/loadgen" -mode get -url "$CL/v1/health/service/web?passing" -c 32 -d "$D")"
echo "stale    $("$tmp/loadgen" -mode get -url "$CL/v1/health/service/web?passing&stale" -c 32 -d "$D")"
echo "--- /v1/catalog/service/web latency from the client, 1 client"
echo "local    $("$tmp/loadgen" -mode get -url "$CL/v1/catalog/service/web" -c 1 -d "$D")"
echo "dc=dc2   $("$tmp/loadgen" -mode get -url "$CL/v1/catalog/service/web?dc=dc2" -c 1 -d "$D")"
echo "--- DNS through the client (dnsperf, no EDNS)"
echo "web.service.consul SRV" >"$tmp/q1"; echo "web.service.dc2.consul SRV" >"$tmp/q2"
for q in q1 q2; do
  out=$(dnsperf -s 127.0.0.14 -p 8600 -d "$tmp/$q" -l "$DNSD" -c 4 -Q 200000 -q 200 2>&1)
  echo "$(cat "$tmp/$q")  $(echo "$out" | awk '/Queries per second/ {print $4}') q/s, lost $(echo "$out" | awk '/Queries lost/ {print $3}')"
done
echo "--- RSS after the load above"
for n in dc1-s1 dc1-s2 dc1-s3 dc1-c1; do echo "$n $(awk '/VmRSS/ {print $2, $3}' /proc/${PID[$n]}/status)"; done
echo "--- dc1 leader kill (kill -9) until a new leader answers, 5 times"
for round in 1 2 3 4 5; do
  old=$(leader 127.0.0.11 || leader 127.0.0.12 || leader 127.0.0.13)
  victim=""
  for i in 1 2 3; do [ "$old" = "127.0.0.1$i:8300" ] && victim=dc1-s$i; done
  k=$(ms); kill -9 "${PID[$victim]}"; wait "${PID[$victim]}" 2>/dev/null || true
  other=127.0.0.11; [ "$victim" = dc1-s1 ] && other=127.0.0.12
  new=$(wait_leader $other "$old")
  el=$(( $(ms) - k ))
  # time until a write through the client succeeds again
  until curl -sf -m 1 -X PUT "$CL/v1/kv/after-kill" -d x >/dev/null; do sleep 0.01; done
  wr=$(( $(ms) - k ))
  echo "round $round: killed $victim, new leader $new after $el ms, client write ok after $wr ms"
  ip=127.0.0.1${victim: -1}
  start "$victim" "$ip" -server -datacenter dc1 -bootstrap-expect 3 -retry-join 127.0.0.11 -retry-interval 200ms
  sleep 4
done
echo "--- dc2 leader kill: time until a cross-DC write from dc1's client succeeds"
old=$(leader 127.0.0.21)
for i in 1 2 3; do [ "$old" = "127.0.0.2$i:8300" ] && victim=dc2-s$i; done
k=$(ms); kill -9 "${PID[$victim]}"; wait "${PID[$victim]}" 2>/dev/null || true
until curl -sf -m 2 -X PUT "$CL/v1/kv/x-dc?dc=dc2" -d x >/dev/null; do sleep 0.01; done
echo "cross-DC write back after $(( $(ms) - k )) ms"
k=$(ms)
for i in $(seq 1 300); do
  "$C" members -wan -http-addr 127.0.0.11:8500 | grep "^$victim.dc2" | grep -q failed && break
  sleep 0.1
done
echo "killed dc2 server shown failed in members -wan after $(( $(ms) - k )) ms (after the write above)"
