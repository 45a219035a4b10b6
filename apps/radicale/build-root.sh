#!/bin/bash
# build-root.sh <root-dir> <binaries-list>
# Lays out the Radicale grain's file tree from the installed Debian packages (radicale and its
# python3 dependencies, python3.11): nothing here is committed, the build assembles it.
#   <root-dir>/usr/lib/python3.11/...          the stdlib minus what a server never imports
#   <root-dir>/usr/lib/python3/dist-packages/  radicale, vobject, dateutil, defusedxml, passlib, six
#   <root-dir>/usr/share/zoneinfo/             tzdata (dateutil/zoneinfo resolve TZIDs with it)
#   <root-dir>/opt/radicale/                   our launcher and Radicale's config (this directory)
# Every .py is precompiled with unchecked-hash .pyc: the package is read-only in the grain (no
# .pyc can be written there), and unchecked hashes make Python trust them without comparing
# source mtimes, so a cold start never recompiles.
# <binaries-list> gets one host ELF file per line (the interpreter and the stdlib's extension
# modules): the caller packs them with `spk pack --include-binary`, which also brings their
# shared libraries and the ELF interpreter.
# Exits 2 with a message naming the missing Debian package if something is not installed.
set -euo pipefail
root=$1 list=$2
here=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3.11   # never `python3` from PATH: it may be another build (pyenv)
STDLIB=/usr/lib/python3.11
DIST=/usr/lib/python3/dist-packages
DEBS=(python3-radicale python3-vobject python3-dateutil python3-defusedxml python3-passlib
      python3-six)

[ -x "$PY" ] && [ -f "$STDLIB/os.py" ] || { echo "build-root.sh: $PY is missing (apt-get install python3.11)" >&2; exit 2; }
for d in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q "install ok installed" \
    || { echo "build-root.sh: Debian package $d is missing (apt-get install python3-radicale)" >&2; exit 2; }
done

rm -rf "$root.tmp"
mkdir -p "$root.tmp/usr/lib" "$root.tmp$DIST" "$root.tmp/usr/share" "$root.tmp/opt/radicale"

# The stdlib without tests, build files, GUI/dev tools and the host's bytecode. lib-dynload is
# left to --include-binary (its .so files need their libraries too). sitecustomize.py is a link
# into the host's /etc.
tar -C /usr/lib -cf - \
  --exclude='python3.11/test' --exclude='python3.11/*/test' --exclude='python3.11/*/tests' \
  --exclude='python3.11/idlelib' --exclude='python3.11/tkinter' --exclude='python3.11/turtledemo' \
  --exclude='python3.11/turtle.py' --exclude='python3.11/ensurepip' --exclude='python3.11/lib2to3' \
  --exclude='python3.11/pydoc_data' --exclude='python3.11/distutils' \
  --exclude='python3.11/config-3.11-*' --exclude='python3.11/lib-dynload' \
  --exclude='python3.11/site-packages' --exclude='python3.11/dist-packages' \
  --exclude='python3.11/sitecustomize.py' --exclude='__pycache__' python3.11 \
  | tar -C "$root.tmp/usr/lib" -xf -

# Radicale and its dependencies: the files of their Debian packages under dist-packages, without
# their test suites (passlib's alone is 2 MB).
for d in "${DEBS[@]}"; do
  dpkg-query -L "$d" | grep "^$DIST/." | grep -v -e __pycache__ -e '/tests\(/\|$\)' | while read -r f; do
    if [ -d "$f" ]; then mkdir -p "$root.tmp$f"; else cp -P "$f" "$root.tmp$f"; fi
  done
done

# Time zones (no 'right/' leap-second copies, no 'posix/' duplicates).
tar -C /usr/share -cf - --exclude='zoneinfo/right' --exclude='zoneinfo/posix' zoneinfo \
  | tar -C "$root.tmp/usr/share" -xf -

cp "$here/launch.py" "$here/config" "$root.tmp/opt/radicale/"

"$PY" -m compileall -q -j 0 --invalidation-mode unchecked-hash -s "$root.tmp" -p / \
  "$root.tmp/usr/lib/python3.11" "$root.tmp$DIST" "$root.tmp/opt/radicale" > /dev/null

# The interpreter and the extension modules a server may load. Left out: test modules, curses,
# readline, dbm, nis, audio (and their libraries).
{
  echo "$PY"
  for so in "$STDLIB"/lib-dynload/*.so; do
    case "${so##*/}" in
      _test*|xxlimited*|_ctypes_test*|_xxtestfuzz*|_curses*|readline*|_dbm*|nis*|ossaudiodev*) ;;
      *) echo "$so" ;;
    esac
  done
} > "$list.tmp"

rm -rf "$root"
mv "$root.tmp" "$root"
mv "$list.tmp" "$list"
