#!/bin/bash
# Wildcard-host mode through real Debian nginx with TLS (docs/nginx-example.conf, a self-signed
# *.example.com certificate): setup, create a notes grain, open it at
# https://grain-<port>.example.com, its session cookie is Secure, its CSP names the shell's
# https origin, a note is written and read back through the proxy.
#   wildcard-nginx-test.sh <sandstorm> <nginx-example.conf>
# Exit 77 = skipped (with the reason printed).
set -euo pipefail
SANDSTORM=$1 EXAMPLE=$2
NGINX=/usr/sbin/nginx
[ -x "$NGINX" ] || { echo "SKIPPED: $NGINX is missing (apt-get install nginx-light)"; exit 77; }
command -v openssl >/dev/null || { echo "SKIPPED: openssl is missing"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIPPED: grains need root"; exit 77; }

work=$(mktemp -d /tmp/ss-wildcard-XXXXXX)
chmod 711 "$work"
base=$((30000 + $$ % 2000 * 4))
https=$base http=$((base + 1)) shell=$((base + 2)) grain=7050
cleanup() {
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL - $*"; echo "# server output:"; tail -20 "$work/out" || true; exit 1; }

mkdir -p "$work/logs" "$work/conf"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 1 \
  -subj "/CN=*.example.com" -addext "subjectAltName=DNS:*.example.com" 2>/dev/null
sed -e "s|/etc/ssl/sandstorm/fullchain.pem|$work/cert.pem|; s|/etc/ssl/sandstorm/privkey.pem|$work/key.pem|" \
    -e "s|listen 443|listen 127.0.0.1:$https|; s|listen \[::\]:443 ssl http2;||" \
    -e "s|listen 80;|listen 127.0.0.1:$http;|; s|listen \[::\]:80;||" \
    -e "s|127.0.0.1:6080|127.0.0.1:$shell|; s|70\[0-9\]\[0-9\]|7050|" "$EXAMPLE" > "$work/conf/site.conf"
printf 'pid %s/nginx.pid;\nerror_log %s/logs/error.log;\nevents {}\nhttp {\n access_log off;\n include %s/conf/site.conf;\n}\n' \
  "$work" "$work" "$work" > "$work/conf/nginx.conf"
"$NGINX" -p "$work" -c "$work/conf/nginx.conf" || fail "nginx refused the example configuration"

"$SANDSTORM" run --port "$shell" --data-dir "$work/data" --grain-ports "$grain-$grain" \
  --wildcard-host '*.example.com' > "$work/out" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q "#/setup/" "$work/out" && break; sleep 0.1; done
token=$(grep -o "#/setup/[0-9A-Za-z_-]*" "$work/out" | cut -d/ -f3)
[ -n "$token" ] || fail "no setup link printed"

S="https://sandstorm.example.com:$https"
R=(--resolve "sandstorm.example.com:$https:127.0.0.1" --resolve "grain-$grain.example.com:$https:127.0.0.1"
   --cacert "$work/cert.pem" -s --max-time 20)
J='Content-Type: application/json'
json() { python3 -c "import json,sys; print($1)"; }

curl "${R[@]}" -c "$work/jar" -H "$J" -H "Origin: $S" \
  -d "{\"token\":\"$token\",\"name\":\"admin\",\"password\":\"0123456789ab\"}" "$S/api/setup" | grep -q '"admin"' \
  || fail "setup through the proxy"
grep -q "sandstorm-session" "$work/jar" || fail "no session cookie"
grep "sandstorm-session" "$work/jar" | grep -q TRUE || fail "session cookie is not Secure behind https"
csrf=$(curl "${R[@]}" -b "$work/jar" "$S/api/session" | json "json.load(sys.stdin)['csrf']")
app=$(curl "${R[@]}" -b "$work/jar" "$S/api/apps" | json "[a['appId'] for a in json.load(sys.stdin) if a['title']=='Notes'][0]")
grainId=$(curl "${R[@]}" -b "$work/jar" -H "$J" -H "X-CSRF-Token: $csrf" -H "Origin: $S" \
  -d "{\"appId\":\"$app\",\"actionIndex\":0}" "$S/api/grains" | json "json.load(sys.stdin)['grain']['id']")
url=$(curl "${R[@]}" -b "$work/jar" -H "$J" -H "X-CSRF-Token: $csrf" -H "Origin: $S" -d '{}' \
  "$S/api/grains/$grainId/open" | json "json.load(sys.stdin)['url']")
case "$url" in
  "https://grain-$grain.example.com:$https/.sandstorm/start?"*) echo "ok   - grain URL is its own https origin: ${url%%\?*}" ;;
  *) fail "unexpected grain URL $url" ;;
esac
start=$(curl "${R[@]}" -c "$work/gjar" -D - -o /dev/null "$url")
echo "$start" | grep -qi "^set-cookie: sandstorm-grain-$grain=.*Secure" || fail "grain cookie not Secure: $start"
page=$(curl "${R[@]}" -b "$work/gjar" -D - "https://grain-$grain.example.com:$https/")
echo "$page" | grep -qi "content-security-policy: frame-ancestors $S" || fail "CSP does not name the shell: $page"
echo "$page" | grep -q "<h1>Notes</h1>" || fail "the app did not answer through the proxy"
curl "${R[@]}" -b "$work/gjar" -o /dev/null -d "text=through+nginx" "https://grain-$grain.example.com:$https/add"
curl "${R[@]}" -b "$work/gjar" "https://grain-$grain.example.com:$https/" | grep -q "through nginx" \
  || fail "the note did not persist"
# Without the grain's cookie, the proxy path is refused by the origin.
code=$(curl "${R[@]}" -o /dev/null -w '%{http_code}' "https://grain-$grain.example.com:$https/")
[ "$code" = 403 ] || fail "a request without a grain session got $code"
echo "ok   - wildcard mode through nginx + TLS: setup, grain origin, Secure cookies, CSP, writes"
echo "1 passed, 0 failed"
