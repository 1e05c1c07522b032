# Shared pieces of the bench scripts; source it after cd to the repo root.

# wait_leader IP [SECONDS]: waits (up to SECONDS, default 10) until the
# agent on IP:8500 names a leader.
wait_leader() {
  local i
  for i in $(seq 1 $(( ${2:-10} * 10 ))); do
    curl -sf "http://$1:8500/v1/status/leader" | grep -q 8300 && return 0
    sleep 0.1
  done
  return 1
}

# register_web IP: 50 instances of web on 50 catalog nodes, all passing.
register_web() {
  local i
  for i in $(seq 1 50); do
    curl -sf -X PUT "http://$1:8500/v1/catalog/register" -d "{
      \"Node\": \"web-node-$i\", \"Address\": \"10.1.0.$i\",
      \"Service\": {\"ID\": \"web-$i\", \"Service\": \"web\", \"Port\": 8080},
      \"Check\": {\"CheckID\": \"web-$i\", \"Name\": \"web\", \"ServiceID\": \"web-$i\", \"Status\": \"passing\"}}" >/dev/null
  done
}

# build_bin DIR: sets BIN to a fresh build of consulate in DIR, unless the
# caller named one to compare (BIN=/path/to/consulate).
build_bin() {
  if [ -z "${BIN:-}" ]; then
    go build -o "$1/consulate" ./cmd/consulate
    BIN="$1/consulate"
  fi
}

# need_dnsperf: installs dnsperf (Debian package) when it is missing.
need_dnsperf() {
  command -v dnsperf >/dev/null || { apt-get update -qq && apt-get install -y -qq dnsperf >/dev/null; }
}

# dnsperf_qps SERVER QUERYFILE SECONDS: the queries per second dnsperf
# reaches against SERVER:8600 (4 clients, 200 queries in flight, no EDNS).
dnsperf_qps() {
  dnsperf -s "$1" -p 8600 -d "$2" -l "$3" -c 4 -Q 200000 -q 200 2>&1 | awk '/Queries per second/ {printf "%.0f\n", $4}'
}

# rss_mb PID: the process's resident set (VmRSS) in MB.
rss_mb() {
  awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status" 2>/dev/null
}

# lg FIELD: reads a bench/loadgen result line on stdin and prints FIELD:
# rate (requests per second) or p50/p99 (in µs).
lg() {
  awk -v f="$1" '{
    for (i = 1; i <= NF; i++) {
      n = index($i, "="); if (n == 0 || substr($i, 1, n - 1) != f) continue
      v = substr($i, n + 1)
      if (f == "rate") { sub("/s", "", v); print v + 0 }
      else if (v ~ /µs$/) { sub("µs", "", v); print v + 0 }
      else if (v ~ /ms$/) { sub("ms", "", v); print v * 1000 }
      else if (v ~ /ns$/) { sub("ns", "", v); print v / 1000 }
      else if (v ~ /s$/) { sub("s", "", v); print v * 1000000 }
      exit
    }
  }'
}
