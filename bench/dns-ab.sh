#!/usr/bin/env bash
# DNS A/B: two builds side by side (dev agents on 127.0.0.64 and .65, 50
# instances of web each), dnsperf alternating between them so that load
# from elsewhere on the machine hits both alike. Loopback only; bounded.
#   OLD=/tmp/consulate-before NEW=/tmp/consulate-after bash bench/dns-ab.sh
#   ROUNDS=6 DUR=4 OLD=... NEW=... bash bench/dns-ab.sh
#   OLD_IP=127.0.6.4 NEW_IP=127.0.6.5 BARE_IP=127.0.6.3 ... # other addresses
# With BARE_IP set, a bare miekg/dns server (bench/baredns) runs there too
# and each round measures it as well (node A query), for the ratios.
set -euo pipefail
: "${OLD:?set OLD to the baseline binary}" "${NEW:?set NEW to the binary to compare}"
ROUNDS=${ROUNDS:-6}
DUR=${DUR:-4}
OLD_IP=${OLD_IP:-127.0.0.64}
NEW_IP=${NEW_IP:-127.0.0.65}
BARE_IP=${BARE_IP:-}
cd "$(dirname "$0")/.."
. bench/lib.sh
need_dnsperf
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
start() { # bin ip
  "$1" agent -dev -node bench -bind "$2" -client "$2" -log-level err >"$tmp/$2.log" 2>&1 &
  for i in $(seq 1 100); do curl -sf "http://$2:8500/v1/status/leader" | grep -q 8300 && break; sleep 0.1; done
  for i in $(seq 1 50); do
    curl -sf -X PUT "http://$2:8500/v1/catalog/register" -d "{
      \"Node\": \"web-node-$i\", \"Address\": \"10.1.0.$i\",
      \"Service\": {\"ID\": \"web-$i\", \"Service\": \"web\", \"Port\": 8080},
      \"Check\": {\"CheckID\": \"web-$i\", \"Name\": \"web\", \"ServiceID\": \"web-$i\", \"Status\": \"passing\"}}" >/dev/null
  done
}
start "$OLD" "$OLD_IP"
start "$NEW" "$NEW_IP"
if [ -n "$BARE_IP" ]; then
  (cd "$(dirname "$0")/.." && go build -o "$tmp/baredns" ./bench/baredns)
  "$tmp/baredns" -listen "$BARE_IP:8600" >/dev/null &
fi
echo "web.service.consul SRV" >"$tmp/srv.txt"
echo "bench.node.consul A" >"$tmp/node.txt"
for round in $(seq 1 "$ROUNDS"); do
  for f in srv node; do
    for ip in "$OLD_IP" "$NEW_IP" $BARE_IP; do
      [ "$ip" = "$BARE_IP" ] && [ $f = srv ] && continue
      q=$(dnsperf -s "$ip" -p 8600 -d "$tmp/$f.txt" -l "$DUR" -c 4 -Q 200000 -q 200 2>&1 | awk '/Queries per second/ {print $4}')
      v=old; [ "$ip" = "$NEW_IP" ] && v=new; [ "$ip" = "$BARE_IP" ] && v=bare
      echo "$round $f $v $q"
    done
  done
done | tee "$tmp/runs.txt"
awk '{s[$2" "$3]+=$4; n[$2" "$3]++} END {for (k in s) printf "%-9s mean %8.0f q/s over %d runs\n", k, s[k]/n[k], n[k]}' "$tmp/runs.txt" | sort
if [ -n "$BARE_IP" ]; then
  awk '{s[$2" "$3]+=$4; n[$2" "$3]++} END {b=s["node bare"]/n["node bare"]; for (k in s) if (k != "node bare") printf "%-9s %5.2fx bare\n", k, s[k]/n[k]/b}' "$tmp/runs.txt" | sort
fi
