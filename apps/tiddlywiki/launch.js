// TiddlyWiki 5.4.1 in a Sandstorm grain, run as
//   /sandstorm-http-bridge 8000 -- <node> /opt/tiddlywiki/launch.js
// It makes the wiki folder on the first start, maps the Sandstorm session onto TiddlyWiki's
// trusted-header login, and serves the wiki on 127.0.0.1:8000 with the filesystem plugin, so
// every tiddler saved through the HTTP API is a file under /var/wiki/tiddlers.
'use strict';

const childProcess = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const TIDDLYWIKI = '/opt/tiddlywiki/node_modules/tiddlywiki';
const WIKI = '/var/wiki';
const PORT = '8000';
// TiddlyWiki reads the login name from this header (authenticated-user-header). It is ours:
// set below from the bridge's headers on every request, and any value the browser sent is
// dropped first, so nobody can name themselves.
const USER_HEADER = 'x-grain-tiddlywiki-user';

// The first start: `tiddlywiki <dir> --init server` into a fresh directory beside /var/wiki,
// renamed into place when complete, so a start killed halfway never leaves a folder that
// --init refuses ("Wiki folder is not empty") or that lacks the filesystem plugin.
function initWiki() {
  if (fs.existsSync(path.join(WIKI, 'tiddlywiki.info'))) return;
  const fresh = `${WIKI}.new`;
  fs.rmSync(fresh, { recursive: true, force: true });
  const started = Date.now();
  const r = childProcess.spawnSync(process.execPath,
    [path.join(TIDDLYWIKI, 'tiddlywiki.js'), fresh, '--init', 'server'], { stdio: 'inherit' });
  if (r.status !== 0) {
    throw new Error(`tiddlywiki --init server failed (${r.error || `exit ${r.status}`})`);
  }
  // A wiki folder without tiddlywiki.info (never written by us, but possible after a restore
  // of a broken backup) is kept aside rather than deleted.
  if (fs.existsSync(WIKI)) fs.renameSync(WIKI, `${WIKI}.without-info-${Date.now()}`);
  fs.renameSync(fresh, WIKI);
  console.log(`launch.js: made ${WIKI} from the server edition in ${Date.now() - started} ms`);
}

// X-Sandstorm-Username is the percent-encoded display name; TiddlyWiki decodes the header it
// trusts. Sessions with the "edit" permission log in under that name (the modifier field of
// what they save); the others stay anonymous, and writers=(authenticated) makes them readers:
// /status says read_only, and PUT/DELETE answer 401.
function mapIdentity(headers) {
  delete headers[USER_HEADER];
  const permissions = (headers['x-sandstorm-permissions'] || '').split(',');
  if (permissions.includes('edit')) {
    headers[USER_HEADER] = headers['x-sandstorm-username'] || 'Anonymous%20User';
  }
}

const createServer = http.createServer;
http.createServer = function (...args) {
  const i = args.findIndex((a) => typeof a === 'function');
  if (i >= 0) {
    const handler = args[i];
    args[i] = (request, response) => { mapIdentity(request.headers); handler(request, response); };
  }
  return createServer.apply(this, args);
};

initWiki();
const $tw = require(path.join(TIDDLYWIKI, 'boot', 'boot.js')).TiddlyWiki();
$tw.boot.argv = [WIKI, '--listen', 'host=127.0.0.1', `port=${PORT}`,
  `authenticated-user-header=${USER_HEADER}`, 'readers=(anon)', 'writers=(authenticated)'];
$tw.boot.boot();
