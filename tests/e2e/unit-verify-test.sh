#!/usr/bin/env bash
# scripts/sandstorm.service.in, filled in as install.sh does, passes `systemd-analyze verify`
# (PID 1 need not be systemd). usage: unit-verify-test.sh <source dir> <sandstorm binary>
set -euo pipefail
SRC=$1 BIN=$2
if ! command -v systemd-analyze >/dev/null; then
  echo "skipped: systemd-analyze is missing (apt-get install systemd)"
  exit 77
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# An installation's shape: ExecStart must name an existing executable.
mkdir -p "$WORK/opt/sandstorm-test/bin" "$WORK/unit"
ln -s "$BIN" "$WORK/opt/sandstorm-test/bin/sandstorm"
ln -s sandstorm-test "$WORK/opt/latest"
touch "$WORK/opt/sandstorm.conf"
sed "s|@DIR@|$WORK/opt|g" "$SRC/scripts/sandstorm.service.in" >"$WORK/unit/sandstorm.service"
grep -q "ExecStart=$WORK/opt/latest/bin/sandstorm run --config $WORK/opt/sandstorm.conf" \
  "$WORK/unit/sandstorm.service"
out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$WORK/unit/sandstorm.service" 2>&1) || {
  echo "$out"; echo "FAIL: systemd-analyze verify"; exit 1; }
# verify exits 0 on some warnings: any line about our unit is a failure too.
if printf '%s\n' "$out" | grep -i "sandstorm.service"; then
  echo "FAIL: systemd-analyze verify warned about the unit"; exit 1
fi
echo "ok - systemd-analyze verify accepts the unit"
