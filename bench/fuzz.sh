#!/usr/bin/env bash
# Runs every go-fuzz target for a while, one after another, and reports
# which found something. A crashing input is written by `go test` to the
# package's testdata/fuzz/FuzzX/ (commit it once fixed: it then runs as a
# seed under plain `go test ./...`).
#   bash bench/fuzz.sh                  # 60 s per target
#   FUZZTIME=10m bash bench/fuzz.sh FuzzRead FuzzCompile   # some, longer
# PARALLEL sets the fuzzing processes per target (default 1: the machine
# is shared). MINIMIZE bounds the minimization of each new input (go's
# default, 60 s, can eat a one-minute run whole on a slow target).
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-60s}
PARALLEL=${PARALLEL:-1}
MINIMIZE=${MINIMIZE:-5s}
targets=(
  "./httpapi/filter FuzzCompile"
  "./rpcmux FuzzRPCFrames"
  "./gossip FuzzGossipMessage"
  "./snapshot FuzzRead"
  "./catalog FuzzVerifySnapshot"
  "./config FuzzConfigJSON"
  "./config FuzzConfigHCL"
  "./httpapi FuzzServiceRegister"
  "./httpapi FuzzCheckRegister"
  "./httpapi FuzzKVPut"
  "./httpapi FuzzTxn"
  "./httpapi FuzzSessionCreate"
  "./httpapi FuzzPreparedQuery"
)
failed=()
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then
    continue
  fi
  echo "== $name ($pkg, $FUZZTIME)"
  log=$(mktemp)
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$MINIMIZE" \
    -parallel "$PARALLEL" "$pkg" >"$log" 2>&1
  rc=$?
  # The last progress line (executions, corpus size), then everything else.
  grep '^fuzz: elapsed' "$log" | tail -1
  grep -v '^fuzz: elapsed' "$log"
  rm -f "$log"
  if [ "$rc" -ne 0 ]; then
    failed+=("$name")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "FOUND: ${failed[*]}"
  exit 1
fi
echo "all targets ran clean"
