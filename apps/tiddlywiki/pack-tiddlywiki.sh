#!/bin/bash
# pack-tiddlywiki.sh <sandstorm> <keyring> <pkgdef.in> <work-dir> <out.spk>
# Used by apps/CMakeLists.txt: installs TiddlyWiki 5.4.1 from npm (package-lock.json pins it by
# hash; the npm cache lives in <work-dir>, so rebuilds do not download again), then packs the
# host's node (whatever Debian's nodejs or NodeSource installed: its libraries come along) with
# the parts of TiddlyWiki a server with the "server" edition loads.
set -euo pipefail
sandstorm=$1 keyring=$2 template=$3 work=$4 out=$5
here=$(cd "$(dirname "$0")" && pwd)
node=$(command -v node || command -v nodejs || true)
[ -n "$node" ] || { echo "pack-tiddlywiki.sh: node is missing (apt-get install nodejs)" >&2; exit 2; }
command -v npm > /dev/null || { echo "pack-tiddlywiki.sh: npm is missing (apt-get install npm)" >&2; exit 2; }
node=$(readlink -f "$node")

mkdir -p "$work/npm"
cp "$here/package.json" "$here/package-lock.json" "$work/npm/"
(cd "$work/npm" && npm ci --cache "$work/npm-cache" --prefer-offline --no-audit --no-fund \
   --loglevel=error > /dev/null)
tw=$work/npm/node_modules/tiddlywiki
dest=/opt/tiddlywiki/node_modules/tiddlywiki
version=$(cd "$tw" && "$node" -p 'require("./package.json").version')
[ "$version" = 5.4.1 ] || { echo "pack-tiddlywiki.sh: npm installed tiddlywiki $version, not 5.4.1" >&2; exit 1; }

# What `--init server` and `--listen` read: boot, the core and core-server plugins, the server
# edition, and the plugins and themes the edition's tiddlywiki.info names. Left out: the other
# 60 MB (editions, languages, other plugins), which this wiki never loads.
files=(--file "$here/launch.js=/opt/tiddlywiki/launch.js")
for p in package.json tiddlywiki.js boot core core-server editions/server \
         plugins/tiddlywiki/tiddlyweb plugins/tiddlywiki/filesystem plugins/tiddlywiki/highlight \
         themes/tiddlywiki/vanilla themes/tiddlywiki/snowwhite; do
  files+=(--file "$tw/$p=$dest/$p")
done
"$here/../pack-host-app.sh" "$sandstorm" "$keyring" "$template" "$work" "$out" \
  --etc --binary "$node" "${files[@]}" --set NODE="$node"
