#!/usr/bin/env bash
# Installs Sandstorm on Debian/Ubuntu, or updates an installation (`sandstorm update` runs this).
#
#   scripts/install.sh [--dir DIR] [--offline BUNDLE] [--port N] [--no-user] [--no-symlinks]
#                      [--no-systemd]
#   install.sh --update BUNDLE --dir DIR
#
# Layout: DIR/sandstorm-<version>/ (one per installed version), DIR/latest -> the current one,
# DIR/sandstorm.conf (written only if absent), DIR/var (the data, 0711: not listable). Re-running never
# touches the config or the data. Outside DIR it writes only /usr/local/bin/sandstorm (unless
# --no-symlinks), the unit /etc/systemd/system/sandstorm.service (when systemd runs) and the
# service user (SERVER_USER, unless --no-user).
#
# Exit codes: 0 done, 1 failed (nothing half-done is left: an update that fails changes
# nothing), 2 bad usage.
set -euo pipefail

DIR=/opt/sandstorm
BUNDLE=
UPDATE=
PORT=6080
MAKE_USER=1
SYMLINKS=1
SYSTEMD=auto
UNIT=/etc/systemd/system/sandstorm.service

say() { echo "install.sh: $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR=${2:?--dir needs a directory}; shift 2 ;;
    --offline) BUNDLE=${2:?--offline needs a bundle file}; shift 2 ;;
    --update) UPDATE=1; BUNDLE=${2:?--update needs a bundle file}; shift 2 ;;
    --port) PORT=${2:?--port needs a number}; shift 2 ;;
    --no-user) MAKE_USER=0; shift ;;
    --no-symlinks) SYMLINKS=0; shift ;;
    --no-systemd) SYSTEMD=0; shift ;;
    -h|--help) usage ;;
    *) echo "install.sh: unknown option $1" >&2; usage ;;
  esac
done
case "$PORT" in ''|*[!0-9]*) die "--port must be a number" ;; esac
case "$DIR" in /*) ;; *) DIR=$(pwd)/$DIR ;; esac
[ -n "$BUNDLE" ] && case "$BUNDLE" in /*) ;; *) BUNDLE=$(pwd)/$BUNDLE ;; esac

if [ "$SYSTEMD" = auto ]; then
  # systemd is the init system (PID 1) only if this directory exists (sd_booted()).
  if [ -d /run/systemd/system ]; then SYSTEMD=1; else SYSTEMD=0; fi
fi

check_host() {
  # What the grain sandbox needs, checked up front so a failure names the missing piece.
  [ "$(uname -s)" = Linux ] || die "Sandstorm needs Linux"
  local major minor
  IFS=. read -r major minor _ <<<"$(uname -r)"
  if [ "$major" -lt 5 ] || { [ "$major" -eq 5 ] && [ "${minor%%[!0-9]*}" -lt 19 ]; }; then
    die "Linux $(uname -r) is too old: Sandstorm needs 5.19 or newer (io_uring features)"
  fi
  local userns
  userns=$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 0)
  [ "$userns" -gt 0 ] || die "user namespaces are disabled (sysctl user.max_user_namespaces=0): grains need them"
  if [ "$(cat /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null || echo 1)" = 0 ] && [ "$(id -u)" != 0 ]; then
    die "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0)"
  fi
  unshare -U true 2>/dev/null || die "cannot create a user namespace here (a container or seccomp profile may forbid it): grains need them"
  [ -d /sys/fs/cgroup ] && grep -q cgroup /proc/mounts || die "no cgroup filesystem mounted at /sys/fs/cgroup: grain limits need it"
  if [ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" != 0 ]; then
    die "io_uring is disabled (sysctl kernel.io_uring_disabled): the server needs it"
  fi
}

bundle_version() {
  # The bundle's one top directory sandstorm-<version>/ and its VERSION file must agree.
  local list top
  list=$(tar --zstd -tf "$BUNDLE" 2>/dev/null) || die "$BUNDLE is not a readable .tar.zst bundle"
  top=$(printf '%s\n' "$list" | cut -d/ -f1 | sort -u)
  [ "$(printf '%s\n' "$top" | wc -l)" = 1 ] || die "$BUNDLE has more than one top directory"
  case "$top" in sandstorm-*) ;; *) die "$BUNDLE's top directory is $top, not sandstorm-<version>" ;; esac
  case "${top#sandstorm-}" in ''|*[!A-Za-z0-9.+_-]*) die "$BUNDLE has a bad version: $top" ;; esac
  if printf '%s\n' "$list" | grep -qE '(^/|(^|/)\.\.(/|$))'; then die "$BUNDLE has unsafe paths"; fi
  for f in VERSION bin/sandstorm bin/sandstorm-http-bridge share/sandstorm/shell-ui/index.html; do
    printf '%s\n' "$list" | grep -qx "$top/$f" || die "$BUNDLE lacks $f"
  done
  echo "${top#sandstorm-}"
}

unpack() {
  # Unpacks next to the installed versions, checks the result runs, then swaps `latest` with
  # one rename(). Until that rename nothing in use has changed.
  local version=$1 target=$DIR/sandstorm-$1 stage
  if [ -d "$target" ] && [ "$(cat "$target/VERSION" 2>/dev/null)" = "$version" ]; then
    say "sandstorm-$version is already unpacked"
  else
    stage=$(mktemp -d "$DIR/.unpack.XXXXXX")
    trap "rm -rf '$stage'" EXIT
    tar --zstd -C "$stage" --no-same-owner -xf "$BUNDLE" || die "cannot unpack $BUNDLE"
    [ "$(cat "$stage/sandstorm-$version/VERSION")" = "$version" ] || die "$BUNDLE: VERSION does not match its directory"
    local missing
    missing=$(ldd "$stage/sandstorm-$version/bin/sandstorm" 2>&1 | awk '/not found/ {print $1}' | tr '\n' ' ')
    [ -z "$missing" ] || die "libraries missing for this bundle: $missing(install them with apt-get; see scripts/install-deps.sh)"
    "$stage/sandstorm-$version/bin/sandstorm" --version >/dev/null || die "the bundle's sandstorm does not run here"
    rm -rf "$target"
    mv "$stage/sandstorm-$version" "$target"
    rm -rf "$stage"
    trap - EXIT
  fi
  ln -sfn "sandstorm-$version" "$DIR/.latest.tmp"
  mv -T "$DIR/.latest.tmp" "$DIR/latest"
  say "$DIR/latest -> sandstorm-$version"
}

conf_value() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$DIR/sandstorm.conf" | tail -1; }

under_systemd() {
  [ "$SYSTEMD" = 1 ] && [ -f "$UNIT" ]
}

restart_service() {
  if under_systemd; then
    systemctl restart sandstorm.service
    say "restarted sandstorm.service"
  else
    "$DIR/latest/bin/sandstorm" restart --config "$DIR/sandstorm.conf"
  fi
}

# ---- update ---------------------------------------------------------------------------------
if [ -n "$UPDATE" ]; then
  [ -f "$DIR/sandstorm.conf" ] && [ -L "$DIR/latest" ] || die "$DIR is not a Sandstorm installation (no sandstorm.conf or latest)"
  [ -f "$BUNDLE" ] || die "no such bundle: $BUNDLE"
  version=$(bundle_version) || exit 1
  previous=$(readlink "$DIR/latest")
  unpack "$version"
  restart_service || { say "the new version did not start: going back to $previous"
                       ln -sfn "$previous" "$DIR/.latest.tmp" && mv -T "$DIR/.latest.tmp" "$DIR/latest"
                       restart_service; exit 1; }
  say "updated to $version (was ${previous#sandstorm-}); data in $(conf_value DATA_DIR) untouched"
  exit 0
fi

# ---- install --------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "run as root (sudo): it creates a service user and a system service"
check_host

if [ -z "$BUNDLE" ]; then
  # From a source tree: build and bundle it.
  ROOT=$(cd "$(dirname "$0")/.." && pwd)
  [ -f "$ROOT/CMakeLists.txt" ] && [ -x "$ROOT/scripts/make-bundle" ] || die "pass --offline BUNDLE (no source tree here)"
  BUILD=${BUILD_DIR:-$ROOT/build}
  say "building from $ROOT into $BUILD"
  "$ROOT/scripts/install-deps.sh"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$BUILD"
  BUNDLE=$(mktemp --suffix=.tar.zst)
  "$ROOT/scripts/make-bundle" --build "$BUILD" "$BUNDLE"
fi
[ -f "$BUNDLE" ] || die "no such bundle: $BUNDLE"
version=$(bundle_version) || exit 1

mkdir -p "$DIR"
chmod 0755 "$DIR"
previous=$(readlink "$DIR/latest" 2>/dev/null || true)
unpack "$version"

if [ ! -f "$DIR/sandstorm.conf" ]; then
  cat >"$DIR/sandstorm.conf.tmp" <<CONF
# Sandstorm settings (KEY=VALUE; see README "Running as a service"). Read at start.
SERVER_USER=sandstorm
PORT=$PORT
BIND_IP=127.0.0.1
DATA_DIR=$DIR/var
# Uncomment to serve Prometheus /metrics and /api/health on a private address:
#METRICS_BIND=127.0.0.1:9116
# Logs go to the journal under systemd; json suits Loki/Vector:
#LOG_FORMAT=json
CONF
  chmod 0644 "$DIR/sandstorm.conf.tmp"
  mv "$DIR/sandstorm.conf.tmp" "$DIR/sandstorm.conf"
  say "wrote $DIR/sandstorm.conf"
else
  say "keeping $DIR/sandstorm.conf"
fi
DATA=$(conf_value DATA_DIR)
DATA=${DATA:-$DIR/var}
mkdir -p "$DATA"
# Grains run as their own uid and open their package and storage below DATA_DIR: every
# directory above it must be searchable by others (o+x), as /opt is.
d=$(dirname "$DATA")
while [ "$d" != / ]; do
  [ "$(( 0$(stat -c %a "$d") & 1 ))" = 1 ] || die "$d is not searchable by other users (chmod o+x $d): grains could not reach their data below it"
  d=$(dirname "$d")
done
# Traversable, not listable: grains run as their own uid and reach their storage below it.
chmod 0711 "$DATA"

USER_NAME=$(conf_value SERVER_USER)
if [ "$MAKE_USER" = 1 ] && [ -n "$USER_NAME" ] && ! getent passwd "$USER_NAME" >/dev/null; then
  useradd --system --user-group --home-dir "$DIR" --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
  say "created the service user $USER_NAME"
fi

if [ "$SYMLINKS" = 1 ]; then
  ln -sfn "$DIR/latest/bin/sandstorm" /usr/local/bin/sandstorm
  say "/usr/local/bin/sandstorm -> $DIR/latest/bin/sandstorm"
fi

CONF=$DIR/sandstorm.conf
if [ "$SYSTEMD" = 1 ]; then
  sed "s|@DIR@|$DIR|g" "$DIR/latest/share/sandstorm/sandstorm.service.in" >"$UNIT.tmp"
  mv "$UNIT.tmp" "$UNIT"
  systemctl daemon-reload
  systemctl enable sandstorm.service
  systemctl restart sandstorm.service
  say "sandstorm.service is enabled and running"
  "$DIR/latest/bin/sandstorm" status --config "$CONF" || true
  "$DIR/latest/bin/sandstorm" admin-token --config "$CONF" 2>/dev/null || say "an administrator account exists already"
else
  say "systemd is not running here: starting with \`sandstorm start\` (it will not start at boot)"
  if [ -n "$previous" ] && [ "$previous" != "sandstorm-$version" ] &&
     "$DIR/latest/bin/sandstorm" status --config "$CONF" >/dev/null 2>&1; then
    say "$previous is running: restarting it as sandstorm-$version"
    "$DIR/latest/bin/sandstorm" stop --config "$CONF"
  fi
  out=$("$DIR/latest/bin/sandstorm" start --config "$CONF")
  echo "$out"
  case "$out" in
    *"already running"*|*"#/setup/"*) ;;
    *) "$DIR/latest/bin/sandstorm" admin-token --config "$CONF" 2>/dev/null || say "an administrator account exists already" ;;
  esac
fi
