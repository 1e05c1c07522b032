# Shared pieces of the bench scripts; source it after cd to the repo root.

# wait_leader IP: waits (up to 10 s) until the agent on IP:8500 names a leader.
wait_leader() {
  local i
  for i in $(seq 1 100); do
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
