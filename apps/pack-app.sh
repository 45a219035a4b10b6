#!/bin/sh
# pack-app.sh <sandstorm> <keyring> <pkgdef.in> <pkgdef.out> <out.spk> [VAR=value ...] [-- pack options]
# Used by apps/CMakeLists.txt: makes the app's signing key on first use (kept in the build
# directory, so rebuilds keep the app ID), fills @APP_ID@ and @VAR@ into the pkgdef, and packs.
set -eu
sandstorm=$1 keyring=$2 template=$3 pkgdef=$4 out=$5
shift 5
if [ ! -s "$keyring" ]; then "$sandstorm" spk keygen -k "$keyring" > /dev/null; fi
appid=$("$sandstorm" spk listkeys -k "$keyring" | head -n 1)
script="s|@APP_ID@|$appid|g"
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  script="$script;s|@${1%%=*}@|${1#*=}|g"
  shift
done
[ $# -gt 0 ] && shift
sed "$script" "$template" > "$pkgdef.tmp" && mv "$pkgdef.tmp" "$pkgdef"
"$sandstorm" spk pack -k "$keyring" "$@" "$pkgdef" "$out" > /dev/null
