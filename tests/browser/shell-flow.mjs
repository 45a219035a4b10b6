#!/usr/bin/env node
// The shell as a new user meets it, in a real browser (Debian's Chromium, driven by
// playwright-core), against the real server with real grains:
//
//   node tests/browser/shell-flow.mjs <sandstorm-binary> <shell-ui-dir> <demo-apps-dir> <extra.spk>
//
// first start (setup link printed) -> admin setup in the browser -> install an app by upload
// (progress, result) -> create a Notes grain -> write a note inside the sandboxed iframe ->
// reload: still there -> share a view-only link (no login) -> a second browser context opens
// it: can read, cannot write -> revoke -> the link and the open session stop working. Plus the
// 404 page, no console errors or CSP violations in the shell, and SIGTERM exits 0.
//
// Exit codes: 0 pass, 1 fail, 77 skipped (no Chromium, no playwright-core, or not root: grains
// need root). SCREENSHOT_DIR=<dir> saves a screenshot of every page.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const OVERALL_TIMEOUT_MS = 150_000;
const STARTUP_TIMEOUT_MS = 30_000;
const SHUTDOWN_TIMEOUT_MS = 15_000;

const here = path.dirname(fileURLToPath(import.meta.url));
const [binaryArg, uiDirArg, demoArg, extraSpkArg] = process.argv.slice(2);
if (!binaryArg || !uiDirArg || !demoArg || !extraSpkArg) {
  console.log('usage: node shell-flow.mjs <sandstorm> <shell-ui-dir> <demo-apps-dir> <extra.spk>');
  process.exit(1);
}
if (!existsSync(CHROMIUM)) { console.log(`SKIPPED: ${CHROMIUM} is missing (apt-get install chromium)`); process.exit(77); }
const playwrightDir = path.join(here, 'node_modules', 'playwright-core');
if (!existsSync(path.join(playwrightDir, 'package.json'))) {
  console.log(`SKIPPED: ${playwrightDir} is missing (cd tests/browser && npm ci)`);
  process.exit(77);
}
if (process.getuid && process.getuid() !== 0) {
  console.log('SKIPPED: grains need root (sandbox uid mapping and cgroups); CI runs as root');
  process.exit(77);
}
const { chromium } = await import(pathToFileURL(path.join(playwrightDir, 'index.mjs')).href);

const failures = [];
const log = (line) => console.log(line);
function check(ok, description, detail = '') {
  if (ok) log(`ok   - ${description}`);
  else { log(`FAIL - ${description}${detail ? `: ${detail}` : ''}`); failures.push(description); }
  return ok;
}
class Fatal extends Error {}

let server = null;
let serverExit = null;
let serverOutput = '';
let browser = null;
let dataDir = null;

function killServerHard() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  try { process.kill(-server.pid, 'SIGKILL'); } catch { /* gone */ }
}
async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  killServerHard();
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true }).catch(() => {});
}
const overallTimer = setTimeout(() => {
  log(`FAIL - overall time limit of ${OVERALL_TIMEOUT_MS / 1000} s exceeded`);
  log(`# server output:\n${serverOutput.slice(-4000)}`);
  killServerHard();
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

async function startServer() {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sandstorm-flow-'));
  await fs.chmod(dataDir, 0o711);  // grains run as their own uid and must reach their storage
  // A grain port range of our own (tests run in parallel).
  const first = 23000 + (process.pid % 1500) * 4;
  const args = ['start', '--port', '0', '--data-dir', path.join(dataDir, 'data'), '--ui-dir', path.resolve(uiDirArg),
    '--demo-apps', path.resolve(demoArg), '--grain-ports', `${first}-${first + 3}`];
  log(`# starting: ${binaryArg} ${args.join(' ')}`);
  server = spawn(path.resolve(binaryArg), args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  serverExit = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));
  server.stderr.setEncoding('utf8');
  server.stderr.on('data', (c) => { serverOutput += c; });
  server.stdout.setEncoding('utf8');
  return await new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Fatal('server did not print its URL and setup link in time')), STARTUP_TIMEOUT_MS);
    serverExit.then(({ code, signal }) => { clearTimeout(timer); reject(new Fatal(`server exited early (code ${code}, signal ${signal})`)); });
    server.stdout.on('data', (chunk) => {
      text += chunk;
      serverOutput += chunk;
      const url = /Sandstorm is running at (http:\/\/127\.0\.0\.1:\d+)\//.exec(text);
      const setup = /(http:\/\/\S+\/#\/setup\/[0-9a-f]+)/.exec(text);
      if (url && setup) { clearTimeout(timer); resolve({ base: url[1], setupLink: setup[1] }); }
    });
  });
}

function watch(page, allowed = () => false) {
  const problems = [];
  page.on('console', (msg) => {
    const t = msg.text();
    if (/Content[- ]Security[- ]Policy/i.test(t)) problems.push(`CSP: ${t}`);
    else if (msg.type() === 'error' && !allowed(t, msg.location()?.url || '')) problems.push(`console error: ${t}`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught exception: ${err.message}`));
  return problems;
}

let screenshotDir = '';
async function shot(page, name) {
  if (!screenshotDir) return;
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true }).catch(() => {});
}

// The grain's iframe: wait until it shows the app (not our start redirect or an error page).
async function grainFrame(page, expectText) {
  const handle = await page.waitForSelector('iframe.grain-frame', { timeout: 15_000 });
  const frame = await handle.contentFrame();
  await frame.waitForLoadState('load');
  if (expectText) await frame.getByText(expectText, { exact: false }).first().waitFor({ timeout: 15_000 });
  return frame;
}

let exitCode = 1;
try {
  screenshotDir = process.env.SCREENSHOT_DIR ? path.resolve(process.env.SCREENSHOT_DIR) : '';
  if (screenshotDir) await fs.mkdir(screenshotDir, { recursive: true });
  const { base, setupLink } = await startServer();
  check(true, `server at ${base}; first start printed a setup link`);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  const owner = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  owner.setDefaultTimeout(15_000);
  const page = await owner.newPage();
  // Expected errors: a 401 from /api/session probing is not used; none are expected in the shell.
  const problems = watch(page);

  // --- Before setup: the login page explains where the setup link is ---
  await page.goto(base + '/');
  await page.getByText('setup link', { exact: false }).first().waitFor();
  check(true, 'a fresh server explains how to create the first account');
  await shot(page, '01-first-start');

  // --- Setup ---
  await page.goto(setupLink);
  await page.getByLabel('Administrator name').fill('alice');
  await page.getByLabel('Password (at least 10 characters)').fill('a long enough password');
  await page.getByLabel('Password again').fill('a long enough password');
  await shot(page, '02-setup');
  await page.getByRole('button', { name: 'Create the administrator account' }).click();
  await page.getByRole('heading', { name: 'Your grains' }).waitFor();
  check(await page.getByText('alice').first().isVisible(), 'after setup the header shows the new administrator');
  const cookies = await owner.cookies();
  const session = cookies.find((c) => c.name === 'sandstorm-session');
  check(session && session.httpOnly && session.sameSite === 'Lax', 'the login cookie is HttpOnly and SameSite=Lax');
  check(await page.getByRole('button', { name: /New notebook/ }).isVisible(), 'the demo Notes app offers "New notebook"');
  await shot(page, '03-grains-empty');

  // --- Install an app by upload ---
  await page.getByRole('link', { name: 'Apps', exact: true }).click();
  await page.getByRole('heading', { name: 'Apps' }).waitFor();
  await page.setInputFiles('#spk-file', path.resolve(extraSpkArg));
  await page.getByText('is installed', { exact: false }).waitFor({ timeout: 30_000 });
  check(true, 'uploading an .spk installs it and says so');
  await shot(page, '04-apps');

  // --- Create a Notes grain and write in it ---
  await page.getByRole('link', { name: 'Grains', exact: true }).click();
  await page.getByRole('button', { name: /New notebook/ }).click();
  let frame = await grainFrame(page, 'Notes');
  check(true, 'a new grain opens in its iframe with the app');
  const frameUrl = new URL(frame.url());
  check(frameUrl.origin !== new URL(base).origin, 'the grain is served from its own origin', frameUrl.origin);
  const sandboxAttr = await page.getAttribute('iframe.grain-frame', 'sandbox');
  check(sandboxAttr && !sandboxAttr.includes('allow-top-navigation'), 'the grain iframe is sandboxed', sandboxAttr);
  await frame.locator('textarea[name=text]').fill('Buy milk and bread');
  await frame.getByRole('button', { name: 'Add note' }).click();
  await frame.getByText('Buy milk and bread').first().waitFor();
  await shot(page, '05-grain');

  // --- Reload: the note is still there ---
  await page.reload();
  frame = await grainFrame(page, 'Buy milk and bread');
  check(true, 'after a reload the note is still there');
  const grainUrl = page.url();

  // --- Share a view-only link that needs no login ---
  await page.getByRole('button', { name: 'Share' }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.getByLabel('Role').selectOption({ label: 'can view' });
  await dialog.getByLabel('Label').fill('for Bob');
  await dialog.getByRole('button', { name: 'Create link' }).click();
  const shareInput = dialog.getByLabel('Sharing link');
  await shareInput.waitFor();
  const shareUrl = await shareInput.inputValue();
  check(/#\/share\/[0-9a-f]{64}$/.test(shareUrl), 'creating a share link shows the link', shareUrl);
  await shot(page, '06-share-dialog');
  await dialog.getByRole('button', { name: 'Close' }).click();

  // --- A second browser (no account) opens it: can read, cannot write ---
  const visitor = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  visitor.setDefaultTimeout(15_000);
  const vpage = await visitor.newPage();
  await vpage.goto(shareUrl);
  let vframe = await grainFrame(vpage, 'Buy milk and bread');
  check(true, 'the shared link opens the grain for a visitor without an account');
  const visitorCookies = await visitor.cookies();
  check(!visitorCookies.some((c) => c.name === 'sandstorm-session'), 'the visitor has no login cookie');
  await vframe.locator('textarea[name=text]').fill('vandalism');
  await vframe.getByRole('button', { name: 'Add note' }).click();
  await vframe.waitForLoadState('load');
  await vframe.getByText('but not change it', { exact: false }).first().waitFor();
  check(true, 'a view-only visitor cannot add a note (the origin refuses the POST)');
  await shot(vpage, '07-visitor-refused');
  // The owner's grain still has exactly the one note.
  await page.goto(grainUrl);
  frame = await grainFrame(page, 'Buy milk and bread');
  check(await frame.getByText('vandalism').count() === 0, 'the refused write changed nothing');

  // --- Revoke: the link and the open session stop at once ---
  await page.getByRole('button', { name: 'Share' }).click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Revoke' }).click();
  await page.getByText('Link revoked', { exact: false }).waitFor();
  await page.locator('dialog[open]').getByRole('button', { name: 'Close' }).click();
  // The visitor's open grain session ended with the link: its next request is refused.
  await vframe.goto(new URL('/', vframe.url()).href);
  await vframe.getByText('session has ended', { exact: false }).first().waitFor();
  check(true, 'revoking ends the visitor\'s open session at once');
  await vpage.goto('about:blank');
  await vpage.goto(shareUrl);
  await vpage.getByText('does not work', { exact: false }).first().waitFor();
  check(true, 'a revoked link shows a friendly error');
  await shot(vpage, '08-revoked');

  // --- WebSocket chat across two tabs, through the grain origin ---
  await page.goto(base + '/#/grains');
  await page.getByRole('button', { name: /New chat room/ }).click();
  const chatA = await grainFrame(page, 'Chat room');
  await chatA.getByText('connected', { exact: true }).waitFor();
  const chatUrl = page.url();
  const tabB = await owner.newPage();
  await tabB.goto(chatUrl);
  const chatB = await grainFrame(tabB, 'Chat room');
  await chatB.getByText('connected', { exact: true }).waitFor();
  await chatA.getByPlaceholder('Write a message').fill('hello from tab A');
  await chatA.getByPlaceholder('Write a message').press('Enter');
  await chatB.getByText('hello from tab A').waitFor();
  check(true, 'a chat message typed in one tab appears in the other (WebSocket through the grain origin)');
  await chatB.getByPlaceholder('Write a message').fill('and back from tab B');
  await chatB.getByRole('button', { name: 'Send' }).click();
  await chatA.getByText('and back from tab B').waitFor();
  check(true, 'and the other way round');
  await shot(tabB, '09-chat');
  await tabB.close();

  check(problems.length === 0, 'no console errors, uncaught exceptions or CSP violations in the shell', problems.join(' | '));

  // --- 404 page ---
  const notFound = await page.goto(base + '/no/such/page');
  check(notFound?.status() === 404, 'an unknown path answers 404');
  await visitor.close();
  await owner.close();
  await browser.close();
  browser = null;

  // --- SIGTERM: clean exit ---
  server.kill('SIGTERM');
  const result = await Promise.race([serverExit, new Promise((r) => setTimeout(() => r(null), SHUTDOWN_TIMEOUT_MS))]);
  check(result && result.code === 0, 'the server exits 0 on SIGTERM', JSON.stringify(result));
  exitCode = failures.length === 0 ? 0 : 1;
} catch (err) {
  log(`FAIL - ${err instanceof Fatal ? err.message : err.stack || err}`);
  failures.push(String(err.message || err));
  exitCode = 1;
} finally {
  if (exitCode !== 0) log(`# server output (tail):\n${serverOutput.slice(-6000)}`);
  await cleanup();
  clearTimeout(overallTimer);
}
log(failures.length ? `0 passed, 1 failed (${failures.length} checks failed)` : '1 passed, 0 failed');
process.exit(exitCode);
