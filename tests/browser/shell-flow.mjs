#!/usr/bin/env node
// The shell as a new user meets it, in a real browser (Debian's Chromium, driven by
// playwright-core), against the real server with real grains:
//
//   node tests/browser/shell-flow.mjs <sandstorm-binary> <notes.spk> [<chat.spk>]
//
// first start (the setup link is printed; the login page says where to find it) -> admin
// setup in the browser -> install notes.spk by upload in the Apps page (progress, result) ->
// create a Notes grain -> write a note inside the sandboxed iframe -> reload: still there ->
// share a view-only link that needs no login -> a second browser context opens it: can read,
// cannot write -> revoke -> the open session ends and reopening the link shows a friendly
// error. Then the Apps page shows a server error for a bad upload, the trash round trip, the
// admin page with an invite link, the 404 page, no console errors or CSP violations in the
// shell, and SIGTERM exits 0. With chat.spk: a WebSocket chat across two tabs.
//
// The server runs with an empty demo-apps directory, so the upload is a real first install,
// and with the shell UI of this source tree (--ui-dir).
//
// Exit codes: 0 pass, 1 fail, 77 skipped (only when /usr/bin/chromium is missing).
// Screenshots of every page go to $SCREENSHOT_DIR (default /tmp/shell-screens).

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
const uiDir = path.resolve(here, '..', '..', 'shell-ui');
let [binaryArg, notesSpkArg, chatSpkArg] = process.argv.slice(2);
// The older registration passed <sandstorm> <shell-ui-dir> <demo-apps-dir> <extra.spk>: take the
// demo apps' notes.spk and chat.spk from there, so both forms run the same flow.
if (process.argv.length === 6 && existsSync(path.join(process.argv[4], 'notes.spk'))) {
  notesSpkArg = path.join(process.argv[4], 'notes.spk');
  chatSpkArg = existsSync(path.join(process.argv[4], 'chat.spk')) ? path.join(process.argv[4], 'chat.spk') : undefined;
}
if (!binaryArg || !notesSpkArg) {
  console.log('usage: node shell-flow.mjs <sandstorm> <notes.spk> [<chat.spk>]');
  process.exit(1);
}
if (!existsSync(CHROMIUM)) { console.log(`SKIPPED: ${CHROMIUM} is missing (apt-get install chromium)`); process.exit(77); }
const playwrightDir = path.join(here, 'node_modules', 'playwright-core');
if (!existsSync(path.join(playwrightDir, 'package.json'))) {
  console.log(`FAIL - ${playwrightDir} is missing: run scripts/install-deps.sh (or cd tests/browser && npm ci)`);
  process.exit(1);
}
for (const file of [binaryArg, notesSpkArg, chatSpkArg].filter(Boolean)) {
  if (!existsSync(file)) { console.log(`FAIL - ${file} does not exist (build it first)`); process.exit(1); }
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

// The step being run, so a timeout says where it happened.
let step = 'start';
const stepLog = (name) => { step = name; log(`# ${name}`); };

let server = null;
let serverExit = null;
let serverOutput = '';
let browser = null;
let tmpDir = null;

function killServerHard() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  try { process.kill(-server.pid, 'SIGKILL'); } catch { /* gone */ }
}
async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  killServerHard();
  if (tmpDir) await fs.rm(tmpDir, { recursive: true, force: true }).catch(() => {});
}
const overallTimer = setTimeout(() => {
  log(`FAIL - overall time limit of ${OVERALL_TIMEOUT_MS / 1000} s exceeded during: ${step}`);
  log(`# server output:\n${serverOutput.slice(-4000)}`);
  killServerHard();
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

async function startServer() {
  tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sandstorm-flow-'));
  await fs.chmod(tmpDir, 0o711);  // grains run as their own uid and must reach their storage
  const noDemoApps = path.join(tmpDir, 'no-demo-apps');
  await fs.mkdir(noDemoApps);
  // A grain port range of our own (tests run in parallel).
  const first = 23000 + (process.pid % 1500) * 4;
  const args = ['run', '--port', '0', '--data-dir', path.join(tmpDir, 'data'), '--ui-dir', uiDir,
    '--demo-apps', noDemoApps, '--grain-ports', `${first}-${first + 3}`];
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
      const url = /Sandstorm is running at (http:\/\/[^\s/]+)\//.exec(text);
      const setup = /(http:\/\/\S+\/#\/setup\/[0-9A-Za-z_-]+)/.exec(text);
      if (url && setup) { clearTimeout(timer); resolve({ base: url[1], setupLink: setup[1] }); }
    });
  });
}

function watch(page) {
  const problems = [];
  page.on('console', (msg) => {
    const t = msg.text();
    if (/Content[- ]Security[- ]Policy/i.test(t)) problems.push(`CSP: ${t}`);
    // A failed API call logs "Failed to load resource: ... 4xx": expected where we provoke one.
    else if (msg.type() === 'error' && !/Failed to load resource/.test(t)) problems.push(`console error: ${t}`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught exception: ${err.message}`));
  return problems;
}

const screenshotDir = path.resolve(process.env.SCREENSHOT_DIR || '/tmp/shell-screens');
async function shot(page, name) {
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: false }).catch(() => {});
}

// The grain's iframe: wait until it shows the app (not our start redirect or an error page).
async function grainFrame(page, expectText) {
  const handle = await page.waitForSelector('iframe.grain-frame', { timeout: 15_000 });
  const frame = await handle.contentFrame();
  await frame.waitForLoadState('load');
  if (expectText) await frame.getByText(expectText, { exact: false }).first().waitFor({ timeout: 15_000 });
  return frame;
}

async function uploadSpk(page, file, expect) {
  await page.setInputFiles('#spk-file', path.resolve(file));
  await page.locator('.upload-status').getByText(expect, { exact: false }).waitFor({ timeout: 30_000 });
}

let exitCode = 1;
try {
  await fs.mkdir(screenshotDir, { recursive: true });
  stepLog('server start');
  const { base, setupLink } = await startServer();
  check(true, `server at ${base}; first start printed a setup link`);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  const owner = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  owner.setDefaultTimeout(15_000);
  const page = await owner.newPage();
  const problems = watch(page);

  // --- Before setup: the login page explains where the setup link is ---
  stepLog('first start page');
  await page.goto(base + '/');
  await page.getByText('Open the setup link printed in the server\'s console').waitFor();
  check(true, 'a fresh server says to open the setup link printed in the console');
  await shot(page, '01-first-start');

  // --- Setup ---
  stepLog('admin setup');
  await page.goto(setupLink);
  await page.getByLabel('Administrator name').fill('alice');
  await page.getByLabel('Password', { exact: true }).fill('a long enough password');
  await page.getByLabel('Password again').fill('a different password!');
  await page.getByRole('button', { name: 'Create the administrator account' }).click();
  await page.getByText('The two passwords differ').waitFor();
  check(true, 'different passwords are caught before anything is sent');
  await page.getByLabel('Password again').fill('a long enough password');
  await shot(page, '02-setup');
  await page.getByRole('button', { name: 'Create the administrator account' }).click();
  await page.getByRole('heading', { name: 'Your grains', exact: true }).waitFor();
  check(await page.locator('[data-user-name]').textContent() === 'alice' && await page.getByText('alice').isVisible(), 'after setup the header shows the new administrator');
  const cookies = await owner.cookies();
  const session = cookies.find((c) => c.name === 'sandstorm-session');
  check(session && session.httpOnly && session.sameSite === 'Lax', 'the login cookie is HttpOnly and SameSite=Lax');
  check(await page.getByText('No grains yet').isVisible(), 'the grain list starts with an empty state');
  check(await page.getByRole('link', { name: 'Admin', exact: true }).isVisible(), 'the administrator sees the Admin tab');
  await shot(page, '03-grains-empty');

  // --- Install notes.spk by upload ---
  stepLog('install by upload');
  await page.getByRole('link', { name: 'Apps', exact: true }).click();
  await page.getByRole('heading', { name: 'Apps', exact: true }).waitFor();
  check(await page.getByText('No apps installed yet').isVisible(), 'the app list starts with an empty state');
  // A progress event the page sees proves the upload is an XHR with progress, not a form post.
  await page.evaluate(() => {
    window.__uploadProgress = [];
    document.addEventListener('change', () => {
      const bar = document.querySelector('.progress-row progress');
      new MutationObserver(() => window.__uploadProgress.push(bar.getAttribute('value'))).observe(bar, { attributes: true, attributeFilter: ['value'] });
    }, { capture: true, once: true });
  });
  await shot(page, '04-apps-empty');
  await uploadSpk(page, notesSpkArg, 'is installed');
  check(true, 'uploading notes.spk installs it and says so');
  const progressSeen = await page.evaluate(() => window.__uploadProgress);
  check(Array.isArray(progressSeen) && progressSeen.includes('100'), 'the upload showed a progress bar up to 100%', JSON.stringify(progressSeen));
  check(await page.locator('.app-item').filter({ hasText: 'Notes' }).count() === 1, 'Notes is listed');
  const appId = await page.locator('.app-item code').first().getAttribute('title');
  check(/^[0-9a-z]{20,}$/.test(appId || ''), 'the app ID is shown shortened with the full ID as a title', appId);
  // The same file again: already installed.
  await uploadSpk(page, notesSpkArg, 'was already installed');
  check(true, 'uploading the same package again says it is already installed');
  // A file that is not a package: the server's reason is shown where the user looks.
  const junk = path.join(tmpDir, 'not-a-package.spk');
  await fs.writeFile(junk, 'this is not an spk file, only text\n'.repeat(100));
  await page.setInputFiles('#spk-file', junk);
  const uploadError = page.locator('.upload .error-box');
  await uploadError.waitFor();
  const uploadErrorText = await uploadError.textContent();
  check(/not-a-package\.spk was not installed\. \S/.test(uploadErrorText || ''), 'a bad package shows the server\'s error next to the upload', uploadErrorText);
  await shot(page, '05-apps-error');
  if (chatSpkArg) {
    await uploadSpk(page, chatSpkArg, 'is installed');
    check(await uploadError.isHidden(), 'a successful upload clears the previous error');
  }
  await shot(page, '06-apps');

  // --- Create a Notes grain and write in it ---
  stepLog('create a grain and add a note');
  await page.getByRole('link', { name: 'Grains', exact: true }).click();
  await page.getByRole('button', { name: /New notebook/ }).click();
  let frame = await grainFrame(page, 'Notes');
  check(true, 'a new grain opens in its iframe with the app');
  const frameUrl = new URL(frame.url());
  check(frameUrl.origin !== new URL(base).origin, 'the grain is served from its own origin', frameUrl.origin);
  const sandboxAttr = await page.getAttribute('iframe.grain-frame', 'sandbox');
  check(sandboxAttr === 'allow-scripts allow-forms allow-same-origin allow-popups allow-popups-to-escape-sandbox allow-downloads allow-modals',
    'the grain iframe has the intended sandbox', sandboxAttr);
  check(await page.locator('.grain-app').textContent() === 'Notes', 'the title bar names the app');
  await frame.locator('textarea[name=text]').fill('Buy milk and bread');
  await frame.getByRole('button', { name: 'Add note' }).click();
  await frame.getByText('Buy milk and bread').first().waitFor();
  // Rename from the title bar.
  const titleInput = page.getByLabel('Grain name', { exact: false });
  await titleInput.fill('Shopping');
  await titleInput.press('Enter');
  await page.getByText('Renamed.').waitFor();
  check(await page.title() === 'Shopping · Sandstorm', 'renaming in the title bar renames the grain', await page.title());
  // The log and usage panel.
  await page.getByText('Log & usage').click();
  await page.locator('.usage dt').first().waitFor();
  check(await page.locator('.usage').getByText('running').count() >= 1, 'the details panel shows the grain\'s state');
  await shot(page, '07-grain-details');
  await page.keyboard.press('Escape');
  check(!(await page.locator('details.grain-details').getAttribute('open')), 'Escape closes the details panel');
  await shot(page, '08-grain');

  // --- Reload: the note is still there ---
  stepLog('reload');
  await page.reload();
  frame = await grainFrame(page, 'Buy milk and bread');
  check(true, 'after a reload the note is still there');
  const grainUrl = page.url();

  // --- Share a view-only link that needs no login ---
  stepLog('share');
  await page.getByRole('button', { name: 'Share' }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.getByText('No links yet').waitFor();
  check(true, 'the share dialog says nobody else has access yet');
  await dialog.getByLabel('Role').selectOption({ label: 'can view' });
  await dialog.getByLabel('Label').fill('for Bob');
  check(await dialog.getByLabel('Anyone with the link can open it', { exact: false }).isChecked(), 'no-login access is on by default');
  await dialog.getByRole('button', { name: 'Create link' }).click();
  const shareInput = dialog.getByLabel('Sharing link');
  await shareInput.waitFor();
  const shareUrl = await shareInput.inputValue();
  check(/#\/share\/[0-9a-f]{32,}$/.test(shareUrl), 'creating a share link shows the link', shareUrl);
  await dialog.locator('.share-item').getByText('for Bob').waitFor();
  check(true, 'the new link is listed under "Who has access"');
  await shot(page, '09-share-dialog');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  check(true, 'Escape closes the share dialog');

  // --- A second browser (no account) opens it: can read, cannot write ---
  stepLog('visitor');
  const visitor = await browser.newContext({ viewport: { width: 1024, height: 720 } });
  visitor.setDefaultTimeout(15_000);
  const vpage = await visitor.newPage();
  const vproblems = watch(vpage);
  await vpage.goto(shareUrl);
  const vframe = await grainFrame(vpage, 'Buy milk and bread');
  check(true, 'the shared link opens the grain for a visitor without an account');
  check(await vpage.locator('.role-badge').textContent() === 'can view', 'the visitor sees their role');
  check(await vpage.getByRole('button', { name: 'Share' }).count() === 0 && await vpage.locator('input.grain-title').count() === 0,
    'a visitor cannot rename or share');
  const visitorCookies = await visitor.cookies();
  check(!visitorCookies.some((c) => c.name === 'sandstorm-session'), 'the visitor has no login cookie');
  await shot(vpage, '10-visitor');
  await vframe.locator('textarea[name=text]').fill('vandalism');
  await vframe.getByRole('button', { name: 'Add note' }).click();
  await vframe.waitForLoadState('load');
  await vframe.getByText('not change it', { exact: false }).first().waitFor();
  check(true, 'a view-only visitor cannot add a note (the write is refused)');
  await shot(vpage, '11-visitor-refused');
  await page.goto(grainUrl);
  frame = await grainFrame(page, 'Buy milk and bread');
  check(await frame.getByText('vandalism').count() === 0, 'the refused write changed nothing');

  // --- Revoke: the link and the open session stop at once ---
  stepLog('revoke');
  await page.getByRole('button', { name: 'Share' }).click();
  await page.locator('dialog[open]').getByRole('button', { name: /^Revoke/ }).click();
  await page.getByText('Link revoked', { exact: false }).waitFor();
  // The toast is in the top layer: above the modal dialog's backdrop, so it can be read.
  check(await page.evaluate(() => document.querySelector('[data-toast]').matches(':popover-open')), 'messages show above an open dialog');
  await page.waitForTimeout(300);  // the toast fades in
  await shot(page, '12a-revoked-in-dialog');
  await page.locator('dialog[open]').getByText('No links yet').waitFor();
  await page.locator('dialog[open]').getByRole('button', { name: 'Close' }).click();
  await vframe.goto(new URL('/', vframe.url()).href);
  await vframe.getByText('session has ended', { exact: false }).first().waitFor();
  check(true, 'revoking ends the visitor\'s open session at once');
  await vpage.goto('about:blank');
  await vpage.goto(shareUrl);
  await vpage.getByRole('heading', { name: 'This link does not work', exact: true }).waitFor();
  check(await vpage.getByText('revoked', { exact: false }).isVisible(), 'reopening a revoked link shows a friendly error');
  await shot(vpage, '12-revoked');
  check(vproblems.length === 0, 'no console errors or CSP violations for the visitor', vproblems.join(' | '));
  await visitor.close();

  // --- WebSocket chat across two tabs, through the grain origin ---
  if (chatSpkArg) {
    stepLog('chat');
    await page.goto(base + '/#/grains');
    await page.getByRole('button', { name: /New chat room/ }).click();
    const chatA = await grainFrame(page, 'Chat room');
    await chatA.getByText('connected', { exact: true }).waitFor();
    const tabB = await owner.newPage();
    await tabB.goto(page.url());
    const chatB = await grainFrame(tabB, 'Chat room');
    await chatB.getByText('connected', { exact: true }).waitFor();
    await chatA.getByPlaceholder('Write a message').fill('hello from tab A');
    await chatA.getByPlaceholder('Write a message').press('Enter');
    await chatB.getByText('hello from tab A').waitFor();
    check(true, 'a chat message typed in one tab appears in the other (WebSocket through the grain origin)');
    await tabB.close();
  }

  // --- Grain list, rename dialog, trash and restore ---
  stepLog('grain list and trash');
  await page.goto(base + '/#/grains');
  const row = page.locator('.grain-list .item').filter({ hasText: 'Shopping' });
  await row.waitFor();
  check(await row.getByText('Notes').count() >= 1, 'the grain list shows the grain with its app');
  await shot(page, '13-grains');
  await row.getByRole('button', { name: 'Rename Shopping' }).click();
  const rename = page.locator('dialog[open]');
  await rename.getByLabel('Name').fill('Groceries');
  await rename.getByLabel('Name').press('Enter');
  await page.locator('.grain-list .item').filter({ hasText: 'Groceries' }).waitFor();
  check(true, 'renaming from the list works through a dialog');
  await page.getByRole('button', { name: 'Move Groceries to the trash' }).click();
  await page.getByText('moved to the trash', { exact: false }).waitFor();
  await page.getByRole('link', { name: /^Trash/ }).click();
  await page.getByRole('heading', { name: 'Trash', exact: true }).waitFor();
  await shot(page, '14-trash');
  await page.getByRole('button', { name: 'Restore Groceries' }).click();
  await page.getByText('is back in your grains', { exact: false }).waitFor();
  check(true, 'a trashed grain can be restored');

  // --- Admin: status, people, an invite link ---
  stepLog('admin');
  await page.getByRole('link', { name: 'Admin', exact: true }).click();
  await page.getByRole('heading', { name: 'Administration', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Create an invite link' }).click();
  await page.getByLabel('Invite link', { exact: true }).waitFor();
  await page.waitForFunction(() => document.querySelector('[aria-label="Invite link"]')?.value);
  const inviteUrl = await page.getByLabel('Invite link', { exact: true }).inputValue();
  check(/#\/invite\/\S+$/.test(inviteUrl), 'an admin can create an invite link', inviteUrl);
  await shot(page, '15-admin');

  // --- Dark mode and a phone-sized window, for the screenshots ---
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(base + '/#/apps');
  await page.getByRole('heading', { name: 'Apps', exact: true }).waitFor();
  await shot(page, '16-apps-dark');
  await page.setViewportSize({ width: 390, height: 800 });
  await page.goto(base + '/#/grains');
  await page.getByRole('heading', { name: 'Your grains', exact: true }).waitFor();
  await shot(page, '17-grains-phone-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.goto(grainUrl);
  await grainFrame(page, 'Buy milk and bread');
  await shot(page, '18-grain-phone');

  // --- Log out: back to the login page ---
  stepLog('log out');
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.getByLabel('Account menu').click();
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await page.getByRole('heading', { name: 'Log in', exact: true }).waitFor();
  check(true, 'logging out shows the login page');
  await shot(page, '19-login');
  await page.getByLabel('User name').fill('alice');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('.form-error').waitFor();
  check(true, 'a wrong password shows an error');

  check(problems.length === 0, 'no console errors, uncaught exceptions or CSP violations in the shell', problems.join(' | '));

  // --- 404 page ---
  const notFound = await page.goto(base + '/no/such/page');
  check(notFound?.status() === 404, 'an unknown path answers 404');
  await owner.close();
  await browser.close();
  browser = null;

  // --- SIGTERM: clean exit ---
  stepLog('shutdown');
  server.kill('SIGTERM');
  const result = await Promise.race([serverExit, new Promise((r) => setTimeout(() => r(null), SHUTDOWN_TIMEOUT_MS))]);
  check(result && result.code === 0, 'the server exits 0 on SIGTERM', JSON.stringify(result));
  exitCode = failures.length === 0 ? 0 : 1;
} catch (err) {
  log(`FAIL - during "${step}": ${err instanceof Fatal ? err.message : err.stack || err}`);
  failures.push(String(err.message || err));
  exitCode = 1;
} finally {
  if (exitCode !== 0) log(`# server output (tail):\n${serverOutput.slice(-6000)}`);
  await cleanup();
  clearTimeout(overallTimer);
}
log(`# screenshots: ${screenshotDir}`);
log(failures.length ? `0 passed, 1 failed (${failures.length} checks failed)` : '1 passed, 0 failed');
process.exit(exitCode);
