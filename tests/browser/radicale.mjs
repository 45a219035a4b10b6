#!/usr/bin/env node
// Radicale (a real third-party app, apps/radicale/) through the whole shell in a real browser
// (Debian's Chromium via playwright-core), against the real server with a real grain:
//
//   node tests/browser/radicale.mjs <sandstorm-binary> <radicale.spk>
//
// admin setup -> install radicale.spk by upload -> create a grain -> in Radicale's own web UI
// inside the sandboxed iframe, create an address book -> from the grain's origin, CalDAV
// MKCALENDAR + PUT of an event and CardDAV PUT of a contact (fetch, as a DAV client would) ->
// the grain is stopped for idleness (--idle-timeout 2): the usage API says so and its
// processes are gone -> the first request after the stop cold-starts it (timed: first byte)
// -> reload: the address book is listed by the web UI, the event and contact read back.
//
// Exit codes: 0 pass, 1 fail, 77 skipped (Chromium or the spk missing: the reason is printed).

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const OVERALL_TIMEOUT_MS = 120_000;
const STARTUP_TIMEOUT_MS = 30_000;
const IDLE_TIMEOUT_S = 2;             // the server's --idle-timeout: short, so the test waits little
const IDLE_STOP_WAIT_MS = 20_000;     // how long we wait for the idle stop to happen

const here = path.dirname(fileURLToPath(import.meta.url));
const uiDir = path.resolve(here, '..', '..', 'shell-ui');
const [binaryArg, spkArg] = process.argv.slice(2);
if (!binaryArg || !spkArg) { console.log('usage: node radicale.mjs <sandstorm> <radicale.spk>'); process.exit(1); }
if (!existsSync(CHROMIUM)) { console.log(`SKIPPED: ${CHROMIUM} is missing (apt-get install chromium)`); process.exit(77); }
if (!existsSync(spkArg)) {
  console.log(`SKIPPED: ${spkArg} was not built (Debian python3-radicale missing: scripts/install-deps.sh)`);
  process.exit(77);
}
if (process.getuid() !== 0) { console.log('SKIPPED: grains need root'); process.exit(77); }
const playwrightDir = path.join(here, 'node_modules', 'playwright-core');
if (!existsSync(path.join(playwrightDir, 'package.json'))) {
  console.log(`FAIL - ${playwrightDir} is missing: run scripts/install-deps.sh`);
  process.exit(1);
}
const { chromium } = await import(pathToFileURL(path.join(playwrightDir, 'index.mjs')).href);

const failures = [];
const log = (line) => console.log(line);
function check(ok, description, detail = '') {
  if (ok) log(`ok   - ${description}`);
  else { log(`FAIL - ${description}${detail ? `: ${detail}` : ''}`); failures.push(description); }
  return ok;
}
let step = 'start';
const stepLog = (name) => { step = name; log(`# ${name}`); };

let server = null;
let serverOutput = '';
let browser = null;
let tmpDir = null;
function killServerHard() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  try { process.kill(-server.pid, 'SIGKILL'); } catch { /* gone */ }
}
const overallTimer = setTimeout(() => {
  log(`FAIL - overall time limit of ${OVERALL_TIMEOUT_MS / 1000} s exceeded during: ${step}`);
  log(`# server output:\n${serverOutput.slice(-4000)}`);
  killServerHard();
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

// The foreground verb is being renamed from `start` to `run`: use whichever this binary has.
function foregroundVerb() {
  const r = spawnSync(binaryArg, ['run', '--help'], { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0 ? 'run' : 'start';
}

async function startServer() {
  tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sandstorm-radicale-'));
  await fs.chmod(tmpDir, 0o711);  // grains run as their own uid and must reach their storage
  const noDemoApps = path.join(tmpDir, 'no-demo-apps');
  await fs.mkdir(noDemoApps);
  const first = 26000 + (process.pid % 1500) * 2;
  const args = [foregroundVerb(), '--port', '0', '--data-dir', path.join(tmpDir, 'data'), '--ui-dir', uiDir,
    '--demo-apps', noDemoApps, '--grain-ports', `${first}-${first + 1}`, '--idle-timeout', String(IDLE_TIMEOUT_S)];
  log(`# starting: ${binaryArg} ${args.join(' ')}`);
  server = spawn(path.resolve(binaryArg), args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const exited = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));
  server.stderr.setEncoding('utf8');
  server.stderr.on('data', (c) => { serverOutput += c; });
  server.stdout.setEncoding('utf8');
  return await new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('server did not print its URL and setup link in time')), STARTUP_TIMEOUT_MS);
    exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`server exited early (code ${code}, signal ${signal})`)); });
    server.stdout.on('data', (chunk) => {
      text += chunk;
      serverOutput += chunk;
      const url = /Sandstorm is running at (http:\/\/[^\s/]+)\//.exec(text);
      const setup = /(http:\/\/\S+\/#\/setup\/[0-9A-Za-z_-]+)/.exec(text);
      if (url && setup) { clearTimeout(timer); resolve({ base: url[1], setupLink: setup[1] }); }
    });
  });
}

// Processes below the server (grains are its descendants) running Radicale or our bridge.
function grainProcesses() {
  const parent = new Map();
  const cmd = new Map();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      parent.set(pid, stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      cmd.set(pid, readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
    } catch { /* exited meanwhile */ }
  }
  const below = (pid) => {
    for (let p = parent.get(pid), n = 0; p && p !== '0' && n < 64; p = parent.get(p), n++) {
      if (p === String(server.pid)) return true;
    }
    return false;
  };
  return [...cmd.keys()].filter((pid) => below(pid) && /launch\.py|sandstorm-http-bridge/.test(cmd.get(pid)));
}

async function grainFrame(page) {
  const handle = await page.waitForSelector('iframe.grain-frame', { timeout: 15_000 });
  const frame = await handle.contentFrame();
  await frame.waitForLoadState('load');
  return frame;
}

// Radicale's web UI asks for a user name (any: the grain's session decides who you are).
async function radicaleLogin(frame) {
  await frame.locator('#loginscene input[data-name=user]').waitFor({ timeout: 20_000 });
  await frame.locator('#loginscene input[data-name=user]').fill('me');
  await frame.locator('#loginscene input[data-name=password]').fill('unused');
  await frame.locator('#loginscene button[type=submit]').click();
  await frame.locator('#collectionsscene').waitFor({ state: 'visible' });
}

const EVENT = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//sandstorm test//EN', 'BEGIN:VEVENT',
  'UID:grain-test-1', 'DTSTAMP:20240101T000000Z', 'DTSTART:20240102T100000Z', 'DTEND:20240102T110000Z',
  'SUMMARY:Grain smoke event', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
const CONTACT = ['BEGIN:VCARD', 'VERSION:3.0', 'UID:ada-1', 'FN:Ada Lovelace', 'N:Lovelace;Ada;;;',
  'END:VCARD', ''].join('\r\n');

let exitCode = 1;
try {
  stepLog('server start');
  const { base, setupLink } = await startServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`uncaught exception: ${err.message}`));

  stepLog('admin setup');
  await page.goto(setupLink);
  await page.getByLabel('Administrator name').fill('alice');
  await page.getByLabel('Password', { exact: true }).fill('a long enough password');
  await page.getByLabel('Password again').fill('a long enough password');
  await page.getByRole('button', { name: 'Create the administrator account' }).click();
  await page.getByRole('heading', { name: 'Your grains', exact: true }).waitFor();

  stepLog('install radicale.spk');
  await page.getByRole('link', { name: 'Apps', exact: true }).click();
  const started = Date.now();
  await page.setInputFiles('#spk-file', path.resolve(spkArg));
  await page.locator('.upload-status').getByText('is installed', { exact: false }).waitFor({ timeout: 60_000 });
  const { size } = await fs.stat(spkArg);
  check(true, `radicale.spk (${(size / 1048576).toFixed(1)} MiB) uploads and installs in ${Date.now() - started} ms`);

  stepLog('create a grain');
  await page.getByRole('link', { name: 'Grains', exact: true }).click();
  await page.getByRole('button', { name: /New calendar and address book/ }).click();
  let frame = await grainFrame(page);
  await radicaleLogin(frame);
  check(true, 'Radicale\'s web UI opens in the grain iframe and lists the collections');
  const grainId = decodeURIComponent(new URL(page.url()).hash.split('/').pop());

  stepLog('create an address book in the web UI');
  await frame.locator('#collectionsscene a[data-name=new]').click();
  const create = frame.locator('#createcollectionscene');
  await create.locator('input[data-name=displayname]').fill('Friends');
  await create.locator('input[data-name=description]').fill('made in a grain');
  await create.locator('select[data-name=type]').selectOption('ADDRESSBOOK');
  await create.locator('button[data-name=submit]').click();
  const listed = frame.locator('#collectionsscene article:not(.hidden)').filter({ hasText: 'Friends' });
  await listed.waitFor();
  const bookUrl = await listed.locator('a[data-name=url]').textContent();
  check(/\/grain\/[^/]+\/$/.test(new URL(bookUrl).pathname), 'the web UI created the address book under the grain\'s principal', bookUrl);

  stepLog('CalDAV and CardDAV from the grain origin');
  const dav = await frame.evaluate(async ({ event, contact, book }) => {
    const out = {};
    out.mkcalendar = (await fetch('/grain/work/', { method: 'MKCALENDAR' })).status;
    out.putEvent = (await fetch('/grain/work/grain-test-1.ics', { method: 'PUT', headers: { 'Content-Type': 'text/calendar' }, body: event })).status;
    out.putContact = (await fetch(new URL('ada-1.vcf', book).pathname, { method: 'PUT', headers: { 'Content-Type': 'text/vcard' }, body: contact })).status;
    const propfind = await fetch('/grain/', { method: 'PROPFIND', headers: { Depth: '1' } });
    out.propfind = propfind.status;
    out.listing = await propfind.text();
    // A client cannot pick another principal by sending Radicale's login header itself.
    out.spoof = (await fetch('/someone-else/', { method: 'PROPFIND', headers: { Depth: '0', 'X-Remote-User': 'someone-else' } })).status;
    return out;
  }, { event: EVENT, contact: CONTACT, book: bookUrl });
  check(dav.mkcalendar === 201, 'MKCALENDAR through the shell, the gateway and the bridge', dav.mkcalendar);
  check(dav.putEvent === 201, 'CalDAV PUT of an event', dav.putEvent);
  check(dav.putContact === 201, 'CardDAV PUT of a contact into the web UI\'s address book', dav.putContact);
  check(dav.propfind === 207 && dav.listing.includes('/grain/work/'), 'PROPFIND lists the new calendar', dav.propfind);
  check(dav.spoof === 403 || dav.spoof === 404, 'an X-Remote-User sent by the client is ignored', dav.spoof);

  stepLog('a view-only link');
  const share = await page.evaluate(async (id) => {
    const { csrf } = await (await fetch('/api/session')).json();
    const roles = await (await fetch(`/api/grains/${id}/roles`)).json();
    const viewer = roles.find((r) => r.title === 'viewer');
    const r = await fetch(`/api/grains/${id}/shares`, { method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify({ role: viewer.index, label: 'read-only', anonymous: true }) });
    return { roles: roles.map((x) => x.title), ...(await r.json()) };
  }, grainId);
  check(share.roles.join(',') === 'editor,viewer', 'the share dialog offers the pkgdef\'s roles', share.roles.join(','));
  const visitor = await browser.newContext();
  visitor.setDefaultTimeout(15_000);
  const vpage = await visitor.newPage();
  await vpage.goto(share.url);
  const vframe = await grainFrame(vpage);
  const seen = await vframe.evaluate(async (event) => ({
    read: (await fetch('/grain/work/grain-test-1.ics')).status,
    write: (await fetch('/grain/work/vandal.ics', { method: 'PUT', headers: { 'Content-Type': 'text/calendar' }, body: event })).status,
    remove: (await fetch('/grain/work/grain-test-1.ics', { method: 'DELETE' })).status,
  }), EVENT.replace('grain-test-1', 'vandal'));
  check(seen.read === 200 && seen.write === 403 && seen.remove === 403,
    'a viewer (anonymous link) can read the calendar but not write or delete', JSON.stringify(seen));
  await visitor.close();

  stepLog('idle stop');
  check(grainProcesses().length > 0, 'while in use the grain\'s processes run below the server');
  const usage = () => page.evaluate(async (id) => (await fetch(`/api/grains/${id}/usage`)).json(), grainId);
  const deadline = Date.now() + IDLE_STOP_WAIT_MS;
  let u = await usage();
  check(typeof u.running === 'boolean', `the usage API answers for grain ${grainId}`, JSON.stringify(u));
  while (u.running && Date.now() < deadline) { await page.waitForTimeout(250); u = await usage(); }
  check(u.running === false, `after ${IDLE_TIMEOUT_S} s without requests the grain is stopped`, JSON.stringify(u));
  let left = grainProcesses();
  for (let i = 0; i < 20 && left.length > 0; i++) { await page.waitForTimeout(100); left = grainProcesses(); }
  check(left.length === 0, 'no Radicale or bridge process is left', left.join(' '));

  stepLog('cold start');
  const cold = await frame.evaluate(async () => {
    const t0 = performance.now();
    const r = await fetch('/grain/work/grain-test-1.ics');
    const firstByte = performance.now() - t0;
    return { status: r.status, firstByte, text: await r.text() };
  });
  check(cold.status === 200 && cold.text.includes('SUMMARY:Grain smoke event'),
    `the first request after the idle stop starts the grain and reads the event back (first byte ${cold.firstByte.toFixed(0)} ms)`,
    `${cold.status} ${cold.text.slice(0, 200)}`);
  log(`# cold start, first byte after idle stop: ${cold.firstByte.toFixed(0)} ms`);

  stepLog('reopen');
  await page.reload();
  frame = await grainFrame(page);
  await radicaleLogin(frame);
  await frame.locator('#collectionsscene article:not(.hidden)').filter({ hasText: 'Friends' }).waitFor();
  check(true, 'after reopening, the web UI still lists the address book');
  const card = await frame.evaluate(async (book) => (await fetch(new URL('ada-1.vcf', book).pathname)).text(), bookUrl);
  check(card.includes('FN:Ada Lovelace'), 'the contact is still there', card.slice(0, 200));
  check(problems.length === 0, 'no uncaught exceptions in the shell', problems.join('; '));

  stepLog('stop');
  const exited = new Promise((resolve) => server.on('exit', (code) => resolve(code)));
  process.kill(server.pid, 'SIGTERM');
  check(await exited === 0, 'SIGTERM stops the server with exit code 0');
  exitCode = failures.length === 0 ? 0 : 1;
} catch (e) {
  log(`FAIL - ${step}: ${e.stack || e}`);
  log(`# server output:\n${serverOutput.slice(-4000)}`);
}
clearTimeout(overallTimer);
if (browser) await browser.close().catch(() => {});
killServerHard();
if (tmpDir) await fs.rm(tmpDir, { recursive: true, force: true }).catch(() => {});
log(`${failures.length === 0 && exitCode === 0 ? 'PASS' : 'FAIL'} (${failures.length} failed checks)`);
process.exit(exitCode);
