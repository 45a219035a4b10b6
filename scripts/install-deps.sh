#!/usr/bin/env bash
# Installs everything Sandstorm needs to build, run and test, from Debian 12 packages and npm.
# Safe to re-run: apt skips what is installed; npm ci reuses its cache.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config
  # libraries
  capnproto libcapnp-dev liburing-dev libseccomp-dev libcap-dev libsodium-dev libzstd-dev zstd
  liblzma-dev libsqlite3-dev catch2 node-llhttp
  # tests: a real browser, curl (node and npm: see below); apps run in sandbox tests;
  # xz for building Sandstorm-format packages independently
  chromium curl busybox-static python3 xz-utils
  # fault-injection tests (tests/fault): strace -e inject; prlimit and unshare are util-linux
  strace util-linux
  # grains: per-grain disk images (mkfs.ext4)
  e2fsprogs
  # benchmarks: the sandbox comparison
  bubblewrap
  # benchmarks (perf/run)
  wrk nginx-light openssl
  # the systemd unit test (systemd-analyze verify; nothing is started)
  systemd
  # demo app (apps/static-site): busybox httpd
  busybox-static
  # real app packaged from Debian (apps/radicale): Radicale on python3.11. The library package,
  # not `radicale`, which would also install and start a system Radicale service.
  python3-radicale
  # real app packaged from Debian (apps/fossil): Fossil 2.21, one binary (node and npm for
  # apps/tiddlywiki: see below)
  fossil
)

# Node.js may already come from elsewhere (e.g. NodeSource's nodejs, which bundles npm and
# conflicts with Debian's npm package): only ask apt when the commands are missing.
command -v node >/dev/null || PACKAGES+=(nodejs)
command -v npm >/dev/null || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Packages such as nginx-light come with a service that Debian starts on install. We only need
# their binaries (benchmarks and tests start their own instances on loopback ports), so services
# are kept from starting during the install (policy-rc.d, the Debian way) and left disabled.
POLICY=/usr/sbin/policy-rc.d
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  own_policy=""
  if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    own_policy=1
  fi
  status=0
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" || status=$?
  [ -z "$own_policy" ] || $SUDO rm -f "$POLICY"
  [ "$status" -eq 0 ] || exit "$status"
  if [ -d /run/systemd/system ]; then
    for p in "${missing[@]}"; do
      case "$p" in nginx*) $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true ;; esac
    done
  fi
fi

# The /metrics test needs only promtool from the prometheus package; installing the package
# would enable a Prometheus server on port 9090. Take the one binary out of the .deb instead.
if ! command -v promtool >/dev/null; then
  echo "install-deps: extracting promtool from Debian's prometheus package"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -q prometheus >/dev/null 2>&1) ||
    { $SUDO apt-get update -q && (cd "$work" && apt-get download -q prometheus); }
  dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
  $SUDO install -m 755 "$work/root/usr/bin/promtool" /usr/local/bin/promtool
  rm -rf "$work"
  trap - EXIT
fi

# Browser tests drive Debian's Chromium with playwright-core (no browser download).
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "install-deps: npm ci in tests/browser"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
