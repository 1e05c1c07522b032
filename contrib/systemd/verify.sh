#!/usr/bin/env bash
# Checks contrib/systemd/consulate.service with `systemd-analyze verify`
# against the real binary (installed to a temporary path that a copy of
# the unit points at). verify exits 0 on many mistakes (an unknown key, a
# bad Type=), so any message naming the unit fails the check too.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/consulate" ./cmd/consulate
sed "s#/usr/bin/consulate#$tmp/consulate#g" contrib/systemd/consulate.service >"$tmp/consulate.service"
if ! out=$(systemd-analyze verify --man=no "$tmp/consulate.service" 2>&1); then
  printf '%s\n' "$out" >&2
  echo "systemd-analyze verify failed for contrib/systemd/consulate.service" >&2
  exit 1
fi
if grep -F "consulate.service" <<<"$out" >&2; then
  echo "systemd-analyze verify reported problems in contrib/systemd/consulate.service" >&2
  exit 1
fi
echo "systemd-analyze verify: contrib/systemd/consulate.service is valid"
