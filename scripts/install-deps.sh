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
  # the /metrics test: promtool check metrics (package prometheus; its service is not needed)
  prometheus
  # demo app (apps/static-site): busybox httpd
  busybox-static
  # real app packaged from Debian (apps/radicale): Radicale on python3.11. The library package,
  # not `radicale`, which would also install and start a system Radicale service.
  python3-radicale
)

# Node.js may already come from elsewhere (e.g. NodeSource's nodejs, which bundles npm and
# conflicts with Debian's npm package): only ask apt when the commands are missing.
command -v node >/dev/null || PACKAGES+=(nodejs)
command -v npm >/dev/null || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Browser tests drive Debian's Chromium with playwright-core (no browser download).
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "install-deps: npm ci in tests/browser"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
