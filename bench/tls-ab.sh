#!/usr/bin/env bash
# TLS on vs off, side by side: two federations of the same build (dc1 = one
# server + one client, dc2 = one server, WAN-joined); the plaintext one on
# 127.0.4.x, the TLS one (verify_incoming, verify_outgoing,
# verify_server_hostname, certificates from `consulate tls`) on 127.0.5.x.
# Load alternates between them. Measures, through dc1's client: KV PUT p50
# with one writer, and GET /v1/catalog/service/web?dc=dc2 p50 with one
# client; then the TLS handshakes per second dc1's server sustains
# (bench/tlsdial, 8 dialers). Loopback only; bounded.
#   bash bench/tls-ab.sh
#   ROUNDS=4 DUR=5 BIN=/path/to/consulate bash bench/tls-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-4}
DUR=${DUR:-5}
. bench/lib.sh
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
build_bin "$tmp"
go build -o "$tmp/loadgen" ./bench/loadgen
go build -o "$tmp/tlsdial" ./bench/tlsdial
certs="$tmp/certs"; mkdir -p "$certs"
(cd "$certs" && "$BIN" tls ca create >/dev/null && "$BIN" tls cert create -server -dc dc1 >/dev/null &&
  "$BIN" tls cert create -client -dc dc1 >/dev/null && "$BIN" tls cert create -server -dc dc2 >/dev/null)
tlscfg() { # cert-name -> config file
  cat >"$tmp/$1.json" <<JSON
{"tls": {"defaults": {"ca_file": "$certs/consul-agent-ca.pem", "cert_file": "$certs/$1.pem",
  "key_file": "$certs/$1-key.pem", "verify_incoming": true, "verify_outgoing": true},
  "internal_rpc": {"verify_server_hostname": true}}}
JSON
  echo "$tmp/$1.json"
}
agent() { # name ip args...
  local name=$1 ip=$2; shift 2
  "$BIN" agent -node "$name" -bind "$ip" -client "$ip" -data-dir "$tmp/$name-$ip" -log-level err "$@" >"$tmp/$name-$ip.log" 2>&1 &
}
federation() { # net tls(0|1)
  local n=127.0.$1 s1=() c1=() s2=()
  if [ "$2" = 1 ]; then
    s1=(-config-file "$(tlscfg dc1-server-consul-0)"); c1=(-config-file "$(tlscfg dc1-client-consul-0)")
    s2=(-config-file "$(tlscfg dc2-server-consul-0)")
  fi
  agent s1 "$n.11" -server -bootstrap-expect 1 -datacenter dc1 "${s1[@]}"
  agent s1 "$n.21" -server -bootstrap-expect 1 -datacenter dc2 "${s2[@]}"
  wait_leader "$n.11"
  wait_leader "$n.21"
  agent c1 "$n.14" -datacenter dc1 -join "$n.11" "${c1[@]}"
  "$BIN" join -http-addr "http://$n.11:8500" -wan "$n.21" >/dev/null
  register_web "$n.21"
  for i in $(seq 1 100); do
    curl -sf "http://$n.14:8500/v1/catalog/service/web?dc=dc2" | grep -q web-50 && return 0
    sleep 0.1
  done
  echo "federation on $n.x did not come up" >&2; exit 1
}
p50us() { sed -E 's/.*p50=([0-9.]+)(µs|ms).*/\1 \2/' | awk '{v=$1; if ($2=="ms") v*=1000; print v}'; }
federation 4 0
federation 5 1
for round in $(seq 1 "$ROUNDS"); do
  for net in 4 5; do
    v=plain; [ $net = 5 ] && v=tls
    w=$("$tmp/loadgen" -mode put -url "http://127.0.$net.14:8500/v1/kv/ab-$round" -c 1 -d "${DUR}s" | p50us)
    echo "$round kv-put-p50-us $v $w"
    r=$("$tmp/loadgen" -mode get -url "http://127.0.$net.14:8500/v1/catalog/service/web?dc=dc2" -c 1 -d "${DUR}s" | p50us)
    echo "$round read-dc2-p50-us $v $r"
  done
done | tee "$tmp/runs.txt"
awk '{s[$2" "$3]+=$4; n[$2" "$3]++} END {for (k in s) printf "%-20s mean %7.0f µs over %d runs\n", k, s[k]/n[k], n[k]}' "$tmp/runs.txt" | sort
echo "--- TLS handshakes per second on dc1's server (8 dialers, ${DUR}s)"
"$tmp/tlsdial" -addr 127.0.5.11:8300 -ca "$certs/consul-agent-ca.pem" -cert "$certs/dc1-client-consul-0.pem" \
  -key "$certs/dc1-client-consul-0-key.pem" -c 8 -d "${DUR}s"
