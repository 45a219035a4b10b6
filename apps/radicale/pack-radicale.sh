#!/bin/bash
# pack-radicale.sh <sandstorm> <keyring> <pkgdef.in> <work-dir> <out.spk>
# Used by apps/CMakeLists.txt: assembles the file tree (build-root.sh) and packs it with the
# interpreter and extension modules as --include-binary (their shared libraries come along).
set -euo pipefail
sandstorm=$1 keyring=$2 template=$3 work=$4 out=$5
here=$(cd "$(dirname "$0")" && pwd)
"$here/build-root.sh" "$work/root" "$work/binaries"
args=()
while read -r bin; do args+=(--include-binary "$bin"); done < "$work/binaries"
"$here/../pack-app.sh" "$sandstorm" "$keyring" "$template" "$work/pkgdef.capnp" "$out" \
  RADICALE_ROOT="$work/root" -- "${args[@]}"
