#!/bin/bash
# pack-host-app.sh: package programs installed on this host (Debian or npm) as an .spk.
#
#   pack-host-app.sh <sandstorm> <keyring> <pkgdef.in> <work-dir> <out.spk> [options]
#     --binary PATH         a host ELF executable, packed at PATH with every shared library and the
#                           ELF interpreter ldd finds for it (`spk pack --include-binary`)
#     --file SRC[=DEST]     a host file or directory copied into the package at DEST (default:
#                           the same path); symlinks inside are followed
#     --etc                 the small /etc a grain's libc reads: nsswitch.conf (files only),
#                           passwd and group naming the grain's uid/gid 1000, hosts (localhost),
#                           localtime (UTC)
#     --certs               /etc/ssl/certs/ca-certificates.crt (only for apps that make TLS
#                           clients; grains have no network, so most do not)
#     --set VAR=VALUE       replace @VAR@ in the pkgdef (as pack-app.sh)
#
# The staging root is <work-dir>/root, rebuilt from scratch each time (built beside and renamed,
# so a failed run leaves the previous root alone); the pkgdef's sourceMap names it as @ROOT@.
# Files the app itself brings (scripts, configs) go in with --file too. The pkgdef is written
# to <work-dir>/pkgdef.capnp and packed by pack-app.sh, which keeps the signing key in <keyring>
# (created on first use, never committed: see apps/CMakeLists.txt).
#
# Why /etc is generated rather than copied: the host's nsswitch.conf may name modules (systemd,
# sss) whose libraries are not in the package, its passwd lists host accounts that mean nothing
# in a grain, and its localtime is a symlink into a zoneinfo tree the package would not have.
set -euo pipefail
usage() { echo "usage: pack-host-app.sh <sandstorm> <keyring> <pkgdef.in> <work-dir> <out.spk> [--binary PATH] [--file SRC[=DEST]] [--etc] [--certs] [--set VAR=VALUE]" >&2; exit 2; }
[ $# -ge 5 ] || usage
sandstorm=$1 keyring=$2 template=$3 work=$4 out=$5
shift 5
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
work=$(cd "$work" && pwd)   # absolute: the pkgdef in <work> names the root, relative paths would resolve there
root=$work/root
stage=$work/root.tmp
rm -rf "$stage"
mkdir -p "$stage"

# copy SRC DEST: a regular file or a directory tree into the stage, symlinks resolved.
copy() {
  local src=$1 dest=$2
  [ -e "$src" ] || { echo "pack-host-app.sh: $src does not exist" >&2; exit 1; }
  case "$dest" in /*) ;; *) echo "pack-host-app.sh: $dest must be an absolute path" >&2; exit 2 ;; esac
  mkdir -p "$stage$(dirname "$dest")"
  if [ -d "$src" ]; then
    mkdir -p "$stage$dest"
    cp -RL "$src/." "$stage$dest/"
  else
    cp -L "$src" "$stage$dest"
  fi
}

write_etc() {
  mkdir -p "$stage/etc"
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\nservices: files\nprotocols: files\n' \
    > "$stage/etc/nsswitch.conf"
  printf 'grain:x:1000:1000:grain:/var:/nonexistent\n' > "$stage/etc/passwd"
  printf 'grain:x:1000:\n' > "$stage/etc/group"
  printf '127.0.0.1 localhost\n::1 localhost\n' > "$stage/etc/hosts"
  local utc=/usr/share/zoneinfo/Etc/UTC
  [ -f "$utc" ] || { echo "pack-host-app.sh: $utc is missing (apt-get install tzdata)" >&2; exit 1; }
  cp -L "$utc" "$stage/etc/localtime"
}

binaries=()
sets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) [ $# -ge 2 ] || usage
              [ -x "$2" ] || { echo "pack-host-app.sh: $2 is not an executable" >&2; exit 1; }
              binaries+=(--include-binary "$2"); shift 2 ;;
    --file) [ $# -ge 2 ] || usage
            case "$2" in *=*) copy "${2%%=*}" "${2#*=}" ;; *) copy "$2" "$2" ;; esac; shift 2 ;;
    --etc) write_etc; shift ;;
    --certs) copy /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt; shift ;;
    --set) [ $# -ge 2 ] || usage; sets+=("$2"); shift 2 ;;
    *) echo "pack-host-app.sh: unknown option $1" >&2; usage ;;
  esac
done

rm -rf "$root"
mv "$stage" "$root"
"$here/pack-app.sh" "$sandstorm" "$keyring" "$template" "$work/pkgdef.capnp" "$out" \
  ROOT="$root" "${sets[@]}" -- "${binaries[@]}"
