#!/usr/bin/env node
// Real third-party apps (apps/tiddlywiki, apps/fossil) through the whole shell in a real browser
// (Debian's Chromium via playwright-core), against the real server with real grains:
//
//   node tests/browser/real-apps.mjs <sandstorm-binary> tiddlywiki|fossil <app.spk>
//
// admin setup -> install the spk by upload -> create a grain -> change something in the app's
// own UI inside the sandboxed iframe (TiddlyWiki: a new tiddler, saved; Fossil: a new ticket)
// and check it is signed with the Sandstorm user -> the grain is stopped for idleness
// (--idle-timeout 2): the usage API says so and its processes are gone -> the first request
// after the stop cold-starts it (timed: first byte) -> reload: the change is still there in the
// app's UI -> no console errors or uncaught exceptions from the shell.
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
const OVERALL_TIMEOUT_MS = 90_000;
const STARTUP_TIMEOUT_MS = 30_000;
const IDLE_TIMEOUT_S = 2;             // the server's --idle-timeout: short, so the test waits little
const IDLE_STOP_WAIT_MS = 20_000;     // how long we wait for the idle stop to happen

const here = path.dirname(fileURLToPath(import.meta.url));
const uiDir = path.resolve(here, '..', '..', 'shell-ui');
const [binaryArg, appArg, spkArg] = process.argv.slice(2);

// What differs between the apps: the noun on the shell's "New ..." button, the grain's processes
// (to check they are gone after the idle stop), how to wait until the app's UI is up, the change
// made in it, a request that reads the change back (the timed cold start), and how the UI shows
// the change after a reload.
const APPS = {
  tiddlywiki: {
    noun: 'wiki',
    processes: /launch\.js|sandstorm-http-bridge/,
    ready: async (frame) => { await frame.locator('.tc-story-river').waitFor({ timeout: 30_000 }); },
    change: changeTiddlyWiki,
    readBack: (marker) => `/recipes/default/tiddlers/${encodeURIComponent(marker.title)}`,
    seen: (text, marker) => text.includes(marker.text),
    reopened: reopenedTiddlyWiki,
    viewer: viewerTiddlyWiki,
  },
  fossil: {
    noun: 'repository',
    processes: /busybox|fossil|sandstorm-http-bridge/,
    ready: async (frame) => { await frame.waitForURL(/\/cgi-bin\/fossil\/home/, { timeout: 30_000 }); },
    change: changeFossil,
    readBack: (marker) => `/cgi-bin/fossil/tktview/${marker.uuid}`,
    seen: (text, marker) => text.includes(marker.title),
    reopened: reopenedFossil,
    viewer: viewerFossil,
  },
};

if (!binaryArg || !APPS[appArg] || !spkArg) {
  console.log('usage: node real-apps.mjs <sandstorm> tiddlywiki|fossil <app.spk>');
  process.exit(1);
}
const app = APPS[appArg];
if (!existsSync(CHROMIUM)) { console.log(`SKIPPED: ${CHROMIUM} is missing (apt-get install chromium)`); process.exit(77); }
if (!existsSync(spkArg)) {
  console.log(`SKIPPED: ${spkArg} was not built (its packages are missing: scripts/install-deps.sh)`);
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
const stepLog = (name) => { step = name; log(`# ${appArg}: ${name}`); };

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

// The foreground verb was renamed from `start` to `run`: use whichever this binary has.
function foregroundVerb() {
  const r = spawnSync(binaryArg, ['run', '--help'], { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0 ? 'run' : 'start';
}

async function startServer() {
  tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), `sandstorm-${appArg}-`));
  await fs.chmod(tmpDir, 0o711);  // grains run as their own uid and must reach their storage
  const noDemoApps = path.join(tmpDir, 'no-demo-apps');
  await fs.mkdir(noDemoApps);
  // 15000-16999: no other test picks grain ports there, and it is below the ephemeral range.
  const first = 15000 + (process.pid % 1000) * 2;
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

// Processes below the server (grains are its descendants) that belong to the app or our bridge.
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
  return [...cmd.keys()].filter((pid) => below(pid) && app.processes.test(cmd.get(pid)));
}

async function grainFrame(page) {
  const handle = await page.waitForSelector('iframe.grain-frame', { timeout: 15_000 });
  const frame = await handle.contentFrame();
  await frame.waitForLoadState('load');
  return frame;
}

// ---- TiddlyWiki ----------------------------------------------------------------------------

async function changeTiddlyWiki(frame) {
  const marker = { title: `Grain note ${process.pid}`, text: `Saved through the shell at ${Date.now()}` };
  await frame.locator('button[aria-label="new tiddler"]').first().click();
  const editor = frame.locator('.tc-tiddler-edit-frame').first();
  await editor.locator('input.tc-titlebar').fill(marker.title);
  // The body editor is TiddlyWiki's "framed" editor: a textarea in an iframe of its own.
  await editor.frameLocator('iframe.tc-edit-texteditor-body').locator('textarea').fill(marker.text);
  await editor.locator('button[aria-label="Confirm changes to this tiddler"]').click();
  await frame.locator('.tc-tiddler-view-frame').filter({ hasText: marker.text }).first().waitFor();
  // The browser's syncer PUTs the tiddler (about 1 s later); the server writes it to /var/wiki.
  const url = `/recipes/default/tiddlers/${encodeURIComponent(marker.title)}`;
  const saved = await frame.evaluate(async (u) => {
    for (let i = 0; i < 100; i++) {
      const r = await fetch(u);
      if (r.status === 200) return r.json();
      await new Promise((res) => setTimeout(res, 100));
    }
    return null;
  }, url);
  check(saved && saved.text === marker.text, 'the new tiddler was saved through TiddlyWiki\'s HTTP API', JSON.stringify(saved));
  check(saved && saved.modifier === 'alice', 'it is signed with the Sandstorm user\'s name (authenticated-user-header)',
    saved && saved.modifier);
  const status = await frame.evaluate(async () => (await fetch('/status')).json());
  check(status.username === 'alice' && status.read_only === false, 'TiddlyWiki sees alice as a writer', JSON.stringify(status));
  return marker;
}

async function reopenedTiddlyWiki(frame, marker) {
  // Through the UI: the sidebar search finds the tiddler, and opening it shows the text.
  await frame.locator('.tc-sidebar-search input[type=search]').first().fill(marker.title);
  await frame.locator('.tc-search-results a').filter({ hasText: marker.title }).first().click();
  await frame.locator('.tc-tiddler-view-frame').filter({ hasText: marker.text }).first().waitFor();
  check(true, 'after reopening, the sidebar search finds the tiddler and it shows the saved text');
}

// A viewer (the pkgdef's "viewer" role, no "edit" permission) is anonymous to TiddlyWiki, which
// then reports read_only and refuses writes.
async function viewerTiddlyWiki(frame, marker) {
  return frame.evaluate(async (title) => {
    const status = await (await fetch('/status')).json();
    const read = (await fetch(`/recipes/default/tiddlers/${encodeURIComponent(title)}`)).status;
    const write = (await fetch('/recipes/default/tiddlers/Vandal', { method: 'PUT',
      headers: { 'X-Requested-With': 'TiddlyWiki', 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: 'Vandal', text: 'x' }) })).status;
    const ok = status.read_only === true && read === 200 && (write === 401 || write === 403);
    return { ok, detail: JSON.stringify({ status, read, write }) };
  }, marker.title);
}

// ---- Fossil --------------------------------------------------------------------------------

const fossilUrl = (frame, page) => new URL(`/cgi-bin/fossil/${page}`, frame.url()).href;

async function changeFossil(frame) {
  const marker = { title: `Grain ticket ${process.pid}` };
  const header = await frame.locator('body').innerText();
  const login = /\b(alice-[0-9a-f]{6})\b/.exec(header);
  check(login !== null, 'Fossil shows the Sandstorm user logged in as alice-<id> (REMOTE_USER)', header.slice(0, 300));
  await frame.goto(fossilUrl(frame, 'tktnew'));
  await frame.locator('input[name=title]').fill(marker.title);
  await frame.locator('textarea[name=icomment]').fill('Filed in a grain; it must outlive an idle stop.');
  // Fossil's default ticket form offers Submit only after a Preview.
  await frame.locator('input[type=submit][name=preview]').click();
  await frame.locator('input[type=submit][name=submit]').click();
  await frame.waitForURL(/\/tktview/);
  marker.uuid = /\/tktview\/([0-9a-f]+)/.exec(frame.url())?.[1] ?? /name=([0-9a-f]+)/.exec(frame.url())?.[1];
  const page = await frame.locator('body').innerText();
  check(page.includes(marker.title) && marker.uuid, 'the new ticket is filed and shown', frame.url());
  await frame.goto(fossilUrl(frame, 'timeline?y=t'));
  const timeline = await frame.locator('body').innerText();
  check(login !== null && timeline.includes(login[1]) && timeline.includes(marker.title),
    'the timeline attributes the ticket to the Sandstorm user', timeline.slice(0, 400));
  return marker;
}

async function reopenedFossil(frame, marker) {
  await frame.goto(fossilUrl(frame, 'rptview?rn=1'));
  await frame.getByText(marker.title).first().waitFor();
  check(true, 'after reopening, Fossil\'s "All Tickets" report lists the ticket');
}

// A viewer is Fossil's "nobody": reads tickets, cannot file one (tktnew sends it to the login).
async function viewerFossil(frame, marker) {
  return frame.evaluate(async (uuid) => {
    const read = await fetch(`/cgi-bin/fossil/tktview/${uuid}`);
    const form = await fetch('/cgi-bin/fossil/tktnew', { redirect: 'manual' });
    const text = await read.text();
    const ok = read.status === 200 && text.includes('Grain ticket') && !/Logout/.test(text) &&
      (form.type === 'opaqueredirect' || form.status === 302);
    return { ok, detail: JSON.stringify({ read: read.status, tktnew: form.status, type: form.type }) };
  }, marker.uuid);
}

// ---- the flow ------------------------------------------------------------------------------

let exitCode = 1;
try {
  stepLog('server start');
  const { base, setupLink } = await startServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems = [];
  const shellOrigin = new URL(base).origin;
  page.on('console', (msg) => {
    // Only the shell's own messages count: the app's (in the grain origin) are the app's.
    if (!(msg.location().url || '').startsWith(shellOrigin)) return;
    const t = msg.text();
    if (/Content[- ]Security[- ]Policy/i.test(t)) problems.push(`CSP: ${t}`);
    else if (msg.type() === 'error' && !/Failed to load resource/.test(t)) problems.push(`console error: ${t}`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught exception: ${err.message}`));

  stepLog('admin setup');
  await page.goto(setupLink);
  await page.getByLabel('Administrator name').fill('alice');
  await page.getByLabel('Password', { exact: true }).fill('a long enough password');
  await page.getByLabel('Password again').fill('a long enough password');
  await page.getByRole('button', { name: 'Create the administrator account' }).click();
  await page.getByRole('heading', { name: 'Your grains', exact: true }).waitFor();

  stepLog(`install ${path.basename(spkArg)}`);
  await page.getByRole('link', { name: 'Apps', exact: true }).click();
  const started = Date.now();
  await page.setInputFiles('#spk-file', path.resolve(spkArg));
  await page.locator('.upload-status').getByText('is installed', { exact: false }).waitFor({ timeout: 60_000 });
  const { size } = await fs.stat(spkArg);
  check(true, `${path.basename(spkArg)} (${(size / 1048576).toFixed(1)} MiB) uploads and installs in ${Date.now() - started} ms`);

  stepLog('create a grain');
  await page.getByRole('link', { name: 'Grains', exact: true }).click();
  const created = Date.now();
  await page.getByRole('button', { name: new RegExp(`New ${app.noun}`) }).click();
  let frame = await grainFrame(page);
  await app.ready(frame);
  check(true, `the app's UI is up in the grain iframe ${Date.now() - created} ms after "New ${app.noun}" (first start)`);
  const grainId = decodeURIComponent(new URL(page.url()).hash.split('/').pop());

  stepLog('change something in the app');
  const marker = await app.change(frame);

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
  await app.ready(vframe);  // Fossil's index page redirects: evaluate after that
  const seen = await app.viewer(vframe, marker);
  check(seen.ok, 'a viewer (anonymous view-only link) reads the change but cannot write', seen.detail);
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
  check(left.length === 0, 'no app or bridge process is left', left.join(' '));

  stepLog('cold start');
  const cold = await frame.evaluate(async (url) => {
    const t0 = performance.now();
    const r = await fetch(url);
    const firstByte = performance.now() - t0;
    return { status: r.status, firstByte, text: await r.text() };
  }, app.readBack(marker));
  check(cold.status === 200 && app.seen(cold.text, marker),
    `the first request after the idle stop starts the grain and reads the change back (first byte ${cold.firstByte.toFixed(0)} ms)`,
    `${cold.status} ${cold.text.slice(0, 200)}`);
  log(`# ${appArg} cold start, first byte after idle stop: ${cold.firstByte.toFixed(0)} ms`);

  stepLog('reopen');
  await page.reload();
  frame = await grainFrame(page);
  await app.ready(frame);
  await app.reopened(frame, marker);
  check(problems.length === 0, 'no console errors, CSP violations or uncaught exceptions in the shell', problems.join('; '));

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
