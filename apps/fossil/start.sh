#!/bin/busybox sh
# The Fossil grain's command (behind /sandstorm-http-bridge 8000): creates the repository in
# /var on the first start, then serves it with busybox httpd, which runs Fossil as a CGI
# program per request (www/cgi-bin/fossil). Why not `fossil server`: it forks per request but
# gives the child the parent's environment, so it cannot map each request's Sandstorm user to
# REMOTE_USER; a CGI wrapper can.
#
# The repository is made beside and renamed into place, so a start killed halfway (an idle stop
# or a crash during `fossil init`) leaves no half-made repository: the next start makes it again.
set -eu
BB=/bin/busybox
REPO=/var/repo.fossil
FOSSIL=/usr/bin/fossil
if [ ! -f "$REPO" ]; then
  NEW=$REPO.new
  $BB rm -f "$NEW" "$NEW-journal"
  # The admin user "owner" gets a random password nobody is told: people come in through
  # REMOTE_USER (the CGI wrapper), never through Fossil's login form.
  "$FOSSIL" init --admin-user owner --project-name "Fossil grain" \
    --project-desc "A Fossil repository in a Sandstorm grain" "$NEW" > /dev/null
  # Visitors without the edit permission (view-only links, anonymous visitors) are Fossil's
  # "nobody" (not logged in): read wiki, tickets, timeline and code; write nothing. "anonymous"
  # (Fossil's captcha login) gets the same, so it cannot be used to gain rights.
  "$FOSSIL" user capabilities nobody ghjorz2 -R "$NEW" > /dev/null
  "$FOSSIL" user capabilities anonymous ghjorz2 -R "$NEW" > /dev/null
  "$FOSSIL" sqlite3 -R "$NEW" \
    "REPLACE INTO config(name,value,mtime) VALUES('remote_user_ok',1,strftime('%s','now'));" > /dev/null
  $BB mv "$NEW" "$REPO"
fi
$BB mkdir -p /var/fossil-users
exec $BB httpd -f -p 127.0.0.1:8000 -h /opt/fossil/www
