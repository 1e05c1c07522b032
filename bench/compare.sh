#!/usr/bin/env bash
# compare.sh BIN_A BIN_B: runs two Consul-compatible binaries (Consulate or
# HashiCorp Consul) through the same workloads on the same loopback
# topology, one after the other, and prints each figure for A and B with
# B/A. Only flags, config keys and HTTP endpoints both understand are used.
#
#   bash bench/compare.sh /tmp/consul-1.16.6 /tmp/consulate
#   DUR=3 NET=127.0.7 PROFILE_DIR=/tmp/prof bash bench/compare.sh A B
#
# Per binary:
#   1. `agent -dev`: time from exec to a leader (median of DEV_RUNS); then,
#      on that agent with 50 instances of web, dnsperf for
#      `web.service.consul SRV` and `bench.node.consul A`, next to a bare
#      miekg/dns server (bench/baredns) measured in the same minute.
#   2. Two datacenters: dc1 = servers NET.11-13 + client NET.14, dc2 =
#      servers NET.21-23, WAN-joined (-retry-join-wan). 50 instances of web
#      in each DC. Through the client: health ?passing (32 connections, next
#      to a bare net/http server from bench/loadgen), KV PUT with 1 writer
#      (p50) and 64 writers, DNS SRV local and cross-DC, catalog read p50
#      local and ?dc=dc2. Then the RSS of the dc1 servers (the largest) and
#      of the client.
#
# Every agent has its own address in NET.x (default 127.0.7.x), so the
# default ports (8300-8302, 8500, 8600) serve for all. Each figure runs for
# DUR seconds (default 5); the whole run stops after MAX_SECONDS (600).
# PROFILE_DIR, when set, receives CPU profiles (pprof, .pb.gz) of the hot
# paths: the client during the health reads, the dc1 leader during the 64
# KV writers, the dev agent during the DNS SRV run. It also sets
# enable_debug on the cluster's agents (-dev has it already), which a
# binary that does not know the key refuses.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 BIN_A BIN_B" >&2; exit 2; }
BIN_A=$(realpath "$1")
BIN_B=$(realpath "$2")
NET=${NET:-127.0.7}
DUR=${DUR:-5}
DEV_RUNS=${DEV_RUNS:-3}
MAX_SECONDS=${MAX_SECONDS:-600}
PROFILE_DIR=${PROFILE_DIR:-}
. bench/lib.sh
need_dnsperf
tmp=$(mktemp -d)
AGENTS=()
PROFS=()
cleanup() {
  trap - EXIT INT TERM
  local p
  for p in $(jobs -p); do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
( for _ in $(seq 1 "$MAX_SECONDS"); do sleep 1; done; echo "compare.sh: ${MAX_SECONDS}s passed, stopping" >&2; kill -TERM $$ ) &
go build -o "$tmp/loadgen" ./bench/loadgen
go build -o "$tmp/baredns" ./bench/baredns
[ -z "$PROFILE_DIR" ] || mkdir -p "$PROFILE_DIR"
echo "web.service.consul SRV" >"$tmp/srv.txt"
echo "web.service.dc2.consul SRV" >"$tmp/srv-dc2.txt"
echo "bench.node.consul A" >"$tmp/node.txt"

ms() { date +%s%3N; }
# agent TAG BIN NAME IP args...: starts an agent in the background.
agent() {
  local tag=$1 bin=$2 name=$3 ip=$4; shift 4
  "$bin" agent -node "$name" -bind "$ip" -client "$ip" -log-level warn \
    -config-file "$tmp/common.json" "$@" >>"$tmp/$tag-$name.log" 2>&1 &
  AGENTS+=($!)
  eval "PID_${name//-/_}=$!"
}
# stop_agents: kills the agents started so far (their data is thrown away).
stop_agents() {
  local p
  for p in "${AGENTS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${AGENTS[@]}"; do wait "$p" 2>/dev/null || true; done
  AGENTS=()
}
# profile URL FILE SECONDS: a CPU profile in the background, when asked for.
profile() {
  [ -n "$PROFILE_DIR" ] || return 0
  curl -sf -m $(( $3 + 10 )) -o "$PROFILE_DIR/$2" "$1/debug/pprof/profile?seconds=$3" &
  PROFS+=($!)
}
# put TAG KEY VALUE: records a figure.
put() { echo "$2 $3" >>"$tmp/res.$1"; echo "  $2 = $3"; }

run_binary() { # TAG BIN
  local tag=$1 bin=$2 i t0 l times=() dev=$NET.31
  echo "=== $tag: $bin"
  "$bin" version 2>/dev/null | head -1 || true
  echo '{"disable_update_check": true, "retry_interval": "1s", "retry_interval_wan": "1s"}' >"$tmp/common.json"

  # 1. agent -dev
  for i in $(seq 1 "$DEV_RUNS"); do
    t0=$(ms)
    agent "$tag" "$bin" bench "$dev" -dev
    l=""
    for _ in $(seq 1 2000); do
      case "$(curl -s -m 0.2 "http://$dev:8500/v1/status/leader" || true)" in *:8300*) l=$(( $(ms) - t0 )); break;; esac
      sleep 0.005
    done
    [ -n "$l" ] || { echo "$tag: -dev agent never had a leader; log:" >&2; tail -20 "$tmp/$tag-bench.log" >&2; exit 1; }
    times+=("$l")
    [ "$i" = "$DEV_RUNS" ] || stop_agents
  done
  put "$tag" dev_leader_ms "$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
  register_web "$dev"
  "$tmp/baredns" -listen "$NET.42:8600" -max 2m >/dev/null &
  local bare_pid=$!
  sleep 0.3
  put "$tag" dns_bare_qps "$(dnsperf_qps "$NET.42" "$tmp/node.txt" "$DUR")"
  kill "$bare_pid"; wait "$bare_pid" 2>/dev/null || true
  profile "http://$dev:8500" "$tag-dns-srv-dev.pb.gz" $(( DUR > 2 ? DUR - 1 : 1 ))
  put "$tag" dns_srv_qps "$(dnsperf_qps "$dev" "$tmp/srv.txt" "$DUR")"
  put "$tag" dns_node_qps "$(dnsperf_qps "$dev" "$tmp/node.txt" "$DUR")"
  stop_agents

  # 2. two datacenters
  [ -z "$PROFILE_DIR" ] || echo '{"disable_update_check": true, "retry_interval": "1s", "retry_interval_wan": "1s", "enable_debug": true}' >"$tmp/common.json"
  t0=$(ms)
  for i in 1 2 3; do
    agent "$tag" "$bin" "dc1-s$i" "$NET.1$i" -server -datacenter dc1 -bootstrap-expect 3 -data-dir "$tmp/$tag/dc1-s$i" -retry-join "$NET.11"
    agent "$tag" "$bin" "dc2-s$i" "$NET.2$i" -server -datacenter dc2 -bootstrap-expect 3 -data-dir "$tmp/$tag/dc2-s$i" -retry-join "$NET.21" -retry-join-wan "$NET.11"
  done
  agent "$tag" "$bin" dc1-c1 "$NET.14" -datacenter dc1 -data-dir "$tmp/$tag/dc1-c1" -retry-join "$NET.11"
  wait_leader "$NET.11" 60 && wait_leader "$NET.21" 60 && wait_leader "$NET.14" 60 ||
    { echo "$tag: no leader in 60 s; logs in $tmp" >&2; tail -5 "$tmp/$tag-dc1-s1.log" >&2; exit 1; }
  put "$tag" cold_start_ms $(( $(ms) - t0 ))
  register_web "$NET.11"
  register_web "$NET.21"
  local CL=http://$NET.14:8500 ok=""
  for _ in $(seq 1 300); do
    curl -sf -m 1 "$CL/v1/catalog/service/web?dc=dc2" | grep -q web-node-50 && { ok=1; break; }
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "$tag: dc2 not reachable from dc1's client in 30 s" >&2; exit 1; }

  "$tmp/loadgen" -mode bare -listen "$NET.41:8080" >/dev/null &
  local bare_http=$!
  sleep 0.3
  put "$tag" bare_http_rps "$("$tmp/loadgen" -mode get -url "http://$NET.41:8080/" -c 32 -d "${DUR}s" | lg rate)"
  kill "$bare_http"; wait "$bare_http" 2>/dev/null || true
  profile "$CL" "$tag-health-client.pb.gz" $(( DUR > 2 ? DUR - 1 : 1 ))
  put "$tag" health_rps "$("$tmp/loadgen" -mode get -url "$CL/v1/health/service/web?passing" -c 32 -d "${DUR}s" | lg rate)"
  put "$tag" kv1_p50_us "$("$tmp/loadgen" -mode put -url "$CL/v1/kv/bench-1" -c 1 -d "${DUR}s" | lg p50)"
  local leader
  leader=$(curl -sf "$CL/v1/status/leader" | tr -d '"' | cut -d: -f1)
  profile "http://$leader:8500" "$tag-kv-put-leader.pb.gz" $(( DUR > 2 ? DUR - 1 : 1 ))
  put "$tag" kv64_rps "$("$tmp/loadgen" -mode put -url "$CL/v1/kv/bench-64" -c 64 -d "${DUR}s" | lg rate)"
  put "$tag" cdns_local_qps "$(dnsperf_qps "$NET.14" "$tmp/srv.txt" "$DUR")"
  put "$tag" cdns_dc2_qps "$(dnsperf_qps "$NET.14" "$tmp/srv-dc2.txt" "$DUR")"
  put "$tag" cat_local_p50_us "$("$tmp/loadgen" -mode get -url "$CL/v1/catalog/service/web" -c 1 -d "${DUR}s" | lg p50)"
  put "$tag" cat_dc2_p50_us "$("$tmp/loadgen" -mode get -url "$CL/v1/catalog/service/web?dc=dc2" -c 1 -d "${DUR}s" | lg p50)"
  local s max=0 r
  for s in 1 2 3; do
    eval "r=\$(rss_mb \$PID_dc1_s$s)"
    max=$(awk -v a="$max" -v b="$r" 'BEGIN {print (b > a) ? b : a}')
  done
  put "$tag" rss_server_mb "$max"
  put "$tag" rss_client_mb "$(rss_mb "$PID_dc1_c1")"
  # Where the resident memory is: anonymous (Go heap, stacks) and file
  # (the binary's text and, on servers, raft.db's mapped pages).
  local p
  for s in dc1_s1 dc1_s2 dc1_s3 dc1_c1; do
    eval "p=\$PID_$s"
    echo "  $s: $(grep -E '^Rss(Anon|File)' "/proc/$p/status" | tr -s ' \t\n' ' ')"
  done
  # Counted after the RSS, on a server: the listing is large and would
  # grow the client's heap.
  put "$tag" kv_keys "$(curl -sf "http://$NET.12:8500/v1/kv/?keys&stale" | tr ',' '\n' | grep -c bench || true)"
  if [ -n "$PROFILE_DIR" ]; then
    curl -sf -m 10 -o "$PROFILE_DIR/$tag-heap-leader.pb.gz" "http://$leader:8500/debug/pprof/heap" || true
    curl -sf -m 10 -o "$PROFILE_DIR/$tag-heap-client.pb.gz" "$CL/debug/pprof/heap" || true
  fi
  for p in "${PROFS[@]}"; do wait "$p" || echo "  (a profile failed: no /debug/pprof on this binary?)"; done
  PROFS=()
  stop_agents
}

run_binary A "$BIN_A"
run_binary B "$BIN_B"

v() { awk -v k="$2" '$1 == k {print $2}' "$tmp/res.$1"; }
div() { awk -v a="$1" -v b="$2" -v p="${3:-2}" 'BEGIN {if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.*f\n", p, a / b}'; }
for t in A B; do
  {
    echo "health_bare $(div "$(v $t health_rps)" "$(v $t bare_http_rps)")"
    echo "dns_srv_bare $(div "$(v $t dns_srv_qps)" "$(v $t dns_bare_qps)")"
    echo "dns_node_bare $(div "$(v $t dns_node_qps)" "$(v $t dns_bare_qps)")"
    echo "cat_extra_us $(awk -v a="$(v $t cat_dc2_p50_us)" -v b="$(v $t cat_local_p50_us)" 'BEGIN {printf "%.0f\n", a - b}')"
  } >>"$tmp/res.$t"
done
echo
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')   nproc: $(nproc)   load: $(cut -d' ' -f1-3 /proc/loadavg)   DUR=${DUR}s"
echo "A = $BIN_A"
echo "B = $BIN_B"
printf '| %-58s | %12s | %12s | %6s |\n' figure A B B/A
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' $(seq 60))" "$(printf -- '-%.0s' $(seq 14))" "$(printf -- '-%.0s' $(seq 14))" "$(printf -- '-%.0s' $(seq 8))"
while IFS='|' read -r key label; do
  a=$(v A "$key"); b=$(v B "$key")
  printf '| %-58s | %12s | %12s | %6s |\n' "$label" "${a:--}" "${b:--}" "$(div "$b" "$a")"
done <<'EOF'
health_rps|health ?passing via client, 32 conns (req/s)
bare_http_rps|bare net/http, 32 conns (req/s)
health_bare|health ?passing / bare net/http
kv1_p50_us|KV PUT via client, 1 writer, p50 (us)
kv64_rps|KV PUT via client, 64 writers (/s)
dns_srv_qps|DNS web.service.consul SRV, 50 inst., -dev (q/s)
dns_node_qps|DNS bench.node.consul A, -dev (q/s)
dns_bare_qps|bare miekg/dns (q/s)
dns_srv_bare|DNS SRV / bare miekg/dns
dns_node_bare|DNS node A / bare miekg/dns
dev_leader_ms|agent -dev: leader after start (ms, median)
cold_start_ms|cluster cold start to leaders (ms)
cdns_local_qps|client DNS web.service.consul SRV (q/s)
cdns_dc2_qps|client DNS web.service.dc2.consul SRV (q/s)
cat_local_p50_us|catalog read via client, local, p50 (us)
cat_dc2_p50_us|catalog read via client, ?dc=dc2, p50 (us)
cat_extra_us|cross-DC catalog read, extra p50 over local (us)
kv_keys|KV keys written (bench-*)
rss_server_mb|RSS after workloads, largest dc1 server (MB)
rss_client_mb|RSS after workloads, dc1 client (MB)
EOF
