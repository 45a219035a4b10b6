#!/usr/bin/env node
// End-to-end test of the shell UI in a real browser (Debian's Chromium).
//
//   node tests/browser/shell-page.mjs <path-to-sandstorm-binary> <path-to-shell-ui-dir>
//
// Starts `<binary> start --port 0 --listen 127.0.0.1 --data-dir <tmp> --ui-dir <dir>`,
// waits for "Sandstorm is running at http://127.0.0.1:<port>/", loads the page in
// headless Chromium and checks it, checks the 404 page, then stops the server with
// SIGTERM and expects exit code 0.
//
// Exit codes: 0 pass, 1 fail, 77 skipped (no /usr/bin/chromium or no playwright-core).
// Env: SCREENSHOT_DIR=<dir> saves PNG screenshots there.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const OVERALL_TIMEOUT_MS = 60_000;
const STARTUP_TIMEOUT_MS = 15_000;
const SHUTDOWN_TIMEOUT_MS = 10_000;
const URL_LINE = /^Sandstorm is running at (http:\/\/127\.0\.0\.1:([0-9]{1,5})\/)$/;

const here = path.dirname(fileURLToPath(import.meta.url));

let finished = false;
function finish(code, message) {
  if (finished) return;
  finished = true;
  if (message) console.log(message);
  if (code === 0) console.log('1 passed, 0 failed');
  else if (code === 1) console.log('0 passed, 1 failed');
  process.exit(code);
}

// ---- Arguments and skip conditions --------------------------------------

const [binaryArg, uiDirArg] = process.argv.slice(2);
if (!binaryArg || !uiDirArg) {
  console.log('usage: node shell-page.mjs <path-to-sandstorm-binary> <path-to-shell-ui-dir>');
  finish(1, 'FAIL: missing arguments');
}
if (!existsSync(CHROMIUM)) {
  console.log(`SKIPPED: ${CHROMIUM} does not exist (apt-get install chromium)`);
  process.exit(77);
}
const playwrightDir = path.join(here, 'node_modules', 'playwright-core');
if (!existsSync(path.join(playwrightDir, 'package.json'))) {
  console.log(`SKIPPED: ${playwrightDir} is missing (cd tests/browser && npm ci)`);
  process.exit(77);
}
const binary = path.resolve(binaryArg);
const uiDir = path.resolve(uiDirArg);
for (const [what, p] of [['binary', binary], ['ui dir', uiDir]]) {
  if (!existsSync(p)) finish(1, `FAIL: ${what} not found: ${p}`);
}

const { chromium } = await import(pathToFileURL(path.join(playwrightDir, 'index.mjs')).href);

// ---- Bookkeeping ---------------------------------------------------------

const failures = [];
const log = (line) => console.log(line);
function check(ok, description, detail = '') {
  if (ok) log(`ok   - ${description}`);
  else {
    log(`FAIL - ${description}${detail ? `: ${detail}` : ''}`);
    failures.push(description);
  }
  return ok;
}
class Fatal extends Error {}
const fatal = (msg) => { throw new Fatal(msg); };

let server = null; // ChildProcess
let serverExit = null; // Promise<{code, signal}>
let serverStderr = '';
let browser = null;
let dataDir = null;

function killServerHard() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  try { process.kill(-server.pid, 'SIGKILL'); } catch { /* group gone */ }
  try { server.kill('SIGKILL'); } catch { /* already gone */ }
}

async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  killServerHard();
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true }).catch(() => {});
}

const overallTimer = setTimeout(() => {
  log(`FAIL - overall time limit of ${OVERALL_TIMEOUT_MS / 1000} s exceeded; killing everything`);
  if (serverStderr) log(`server stderr:\n${serverStderr.trimEnd()}`);
  killServerHard();
  // Close the browser in the background but do not wait for it for long.
  const closing = browser ? browser.close().catch(() => {}) : Promise.resolve();
  Promise.race([closing, new Promise((r) => setTimeout(r, 2000))]).finally(() => {
    if (dataDir) fs.rm(dataDir, { recursive: true, force: true }).catch(() => {});
    finish(1);
  });
}, OVERALL_TIMEOUT_MS);

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { cleanup().finally(() => finish(1, `FAIL: interrupted by ${sig}`)); });
}

// ---- Server --------------------------------------------------------------

async function startServer() {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sandstorm-browser-test-'));
  const args = ['start', '--port', '0', '--listen', '127.0.0.1', '--data-dir', dataDir, '--ui-dir', uiDir];
  log(`# starting: ${binary} ${args.join(' ')}`);
  // Own process group, so a hard kill also reaches anything the server spawned.
  server = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  serverExit = new Promise((resolve) => {
    server.on('exit', (code, signal) => resolve({ code, signal }));
  });
  server.stderr.setEncoding('utf8');
  server.stderr.on('data', (chunk) => { serverStderr += chunk; });
  server.stdout.setEncoding('utf8');

  return await new Promise((resolve, reject) => {
    let buffered = '';
    let found = false;
    const timer = setTimeout(() => {
      reject(new Fatal(`server did not print its URL line within ${STARTUP_TIMEOUT_MS / 1000} s`));
    }, STARTUP_TIMEOUT_MS);
    server.on('error', (err) => { clearTimeout(timer); reject(new Fatal(`cannot spawn server: ${err.message}`)); });
    serverExit.then(({ code, signal }) => {
      if (found) return;
      clearTimeout(timer);
      reject(new Fatal(`server exited before listening (code ${code}, signal ${signal})`));
    });
    server.stdout.on('data', (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).replace(/\r$/, '');
        buffered = buffered.slice(nl + 1);
        if (found) { log(`# server stdout: ${line}`); continue; }
        const m = URL_LINE.exec(line);
        if (m && Number(m[2]) > 0 && Number(m[2]) < 65536) {
          found = true;
          clearTimeout(timer);
          resolve(m[1]);
        } else {
          log(`# server stdout (before URL line): ${line}`);
        }
      }
    });
  });
}

async function stopServer() {
  if (server.exitCode !== null || server.signalCode !== null) {
    check(false, 'server still running at the end of the test', 'it had already exited');
    return;
  }
  const t0 = Date.now();
  server.kill('SIGTERM');
  const result = await Promise.race([
    serverExit,
    new Promise((r) => setTimeout(() => r(null), SHUTDOWN_TIMEOUT_MS)),
  ]);
  if (!result) {
    check(false, `server exits within ${SHUTDOWN_TIMEOUT_MS / 1000} s of SIGTERM`, 'still running; killing it');
    killServerHard();
    return;
  }
  check(result.code === 0 && result.signal === null,
    `server exits with code 0 after SIGTERM (${Date.now() - t0} ms)`,
    `code ${result.code}, signal ${result.signal}`);
}

// ---- Browser checks ------------------------------------------------------

function watchPage(page, expected) {
  // expected: Set of absolute URLs that may legitimately answer 404.
  const problems = [];
  page.on('console', (msg) => {
    const type = msg.type();
    const textValue = msg.text();
    const url = msg.location()?.url || '';
    const isCsp = /Content[- ]Security[- ]Policy/i.test(textValue);
    if (isCsp) { problems.push(`CSP violation: ${textValue}`); return; }
    if (type !== 'error') return;
    // Chromium logs every non-2xx subresource as an error; tolerate the expected ones.
    if (/^Failed to load resource: the server responded with a status of 404/.test(textValue) && expected.has(url)) return;
    problems.push(`console error: ${textValue}${url ? ` (${url})` : ''}`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught exception: ${err.message}`));
  page.on('requestfailed', (req) => {
    problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400 && !(res.status() === 404 && expected.has(res.url()))) {
      problems.push(`HTTP ${res.status()} for ${res.url()}`);
    }
  });
  return problems;
}

// Records securitypolicyviolation events from inside the page (init scripts are not subject to CSP).
const CSP_RECORDER = `
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') +
      (e.sourceFile ? ' in ' + e.sourceFile + ':' + e.lineNumber : ''));
  });
`;

async function checkMainPage(context, baseUrl, screenshotDir) {
  const page = await context.newPage();
  await page.addInitScript(CSP_RECORDER);
  const problems = watchPage(page, new Set([new URL('/api/status', baseUrl).href]));

  const response = await page.goto(baseUrl, { waitUntil: 'load', timeout: 10_000 });
  check(response?.status() === 200, 'GET / answers 200', `got ${response?.status()}`);
  const csp = response ? (await response.allHeaders())['content-security-policy'] || '' : '';
  check(/script-src 'self'/.test(csp) && /style-src 'self'/.test(csp),
    'GET / carries the strict Content-Security-Policy header', csp ? `got "${csp}"` : 'header missing');

  const ready = await page.waitForSelector('body[data-shell="ready"]', { timeout: 8000 })
    .then(() => true, () => false);
  check(ready, 'app.js ran (body[data-shell="ready"])');

  const title = await page.title();
  check(title.includes('Sandstorm'), 'page title contains "Sandstorm"', `title is "${title}"`);

  const h1 = page.getByRole('heading', { level: 1 });
  check(await h1.count() === 1 && await h1.isVisible(), 'a single <h1> heading is visible');
  const brand = page.getByRole('banner').getByText('Sandstorm', { exact: true });
  check(await brand.isVisible().catch(() => false), 'header shows the product name "Sandstorm"');

  const logoOk = await page.evaluate(() => {
    const img = document.querySelector('header img');
    return !img || (img.complete && img.naturalWidth > 0);
  });
  check(logoOk, 'header logo image loaded (served with a usable image type)');

  for (const text of ['No apps installed yet', 'No grains yet']) {
    const loc = page.getByText(text, { exact: true });
    check(await loc.count() === 1 && await loc.isVisible(), `empty state "${text}" is visible`);
  }
  check(await page.getByText('.spk', { exact: false }).first().isVisible(), 'apps empty state mentions .spk packages');

  // Landmarks and navigation.
  for (const role of ['banner', 'navigation', 'main', 'contentinfo']) {
    check(await page.getByRole(role).count() >= 1, `landmark "${role}" present`);
  }
  // Sections that are not built yet must be disabled ("coming soon") or omitted, never dead links.
  const admin = page.getByRole('navigation').getByText('Admin', { exact: true });
  const adminIsDead = (await admin.count()) === 0 || await admin.first().evaluate((el) => {
    const interactive = el.closest('a, button');
    if (interactive?.tagName === 'BUTTON') return interactive.disabled;
    if (interactive?.hasAttribute('href')) return false;
    return el.closest('[aria-disabled="true"]') !== null;
  });
  check(adminIsDead, 'unbuilt "Admin" nav item is marked disabled rather than a dead link');

  // Stylesheet applied: body margin is 0 (browser default 8px) and background is painted.
  const styles = await page.evaluate(() => {
    const cs = getComputedStyle(document.body);
    return { margin: cs.marginTop, bg: cs.backgroundColor, font: cs.fontFamily };
  });
  check(styles.margin === '0px' && styles.bg !== 'rgba(0, 0, 0, 0)',
    'style.css applied (body margin 0, background painted)', JSON.stringify(styles));

  // Keyboard: first Tab lands on the skip link, which is then visible.
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.activeElement?.textContent?.trim() || '');
  check(/skip to main content/i.test(focused), 'first Tab focuses the "Skip to main content" link', `focused "${focused}"`);
  await page.keyboard.press('Escape');
  await page.evaluate(() => document.activeElement?.blur());

  const violations = await page.evaluate(() => window.__cspViolations || []);
  problems.push(...violations.map((v) => `CSP violation: ${v}`));

  if (screenshotDir) {
    await page.screenshot({ path: path.join(screenshotDir, 'shell-page.png') });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(screenshotDir, 'shell-page-mobile.png') });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: path.join(screenshotDir, 'shell-page-dark.png') });
    await page.emulateMedia({ colorScheme: 'light' });
    log(`# screenshots saved in ${screenshotDir}`);
  }

  check(problems.length === 0, 'no console errors, page errors, failed requests or CSP violations on /',
    problems.join('\n       '));
  await page.close();
}

async function checkNotFoundPage(context, baseUrl, screenshotDir) {
  const page = await context.newPage();
  await page.addInitScript(CSP_RECORDER);
  const missing = new URL(`/no/such/page-${process.pid}-${Date.now()}`, baseUrl).href;
  const problems = watchPage(page, new Set([missing]));

  const response = await page.goto(missing, { waitUntil: 'load', timeout: 10_000 });
  check(response?.status() === 404, 'a non-existent path answers 404', `got ${response?.status()}`);
  const heading = page.getByRole('heading', { name: 'Page not found' });
  check(await heading.isVisible().catch(() => false), '404 page shows "Page not found"');
  const home = page.locator('main a[href="/"]');
  check(await home.count() >= 1 && await home.first().isVisible(), '404 page links back to "/"');
  const margin = await page.evaluate(() => getComputedStyle(document.body).marginTop);
  check(margin === '0px', '404 page is styled by /style.css', `body margin ${margin}`);

  const violations = await page.evaluate(() => window.__cspViolations || []);
  problems.push(...violations.map((v) => `CSP violation: ${v}`));
  if (screenshotDir) await page.screenshot({ path: path.join(screenshotDir, 'shell-404.png') });
  check(problems.length === 0, 'no console errors, page errors or CSP violations on the 404 page',
    problems.join('\n       '));

  // The link back home works.
  await home.first().click();
  await page.waitForURL(new URL('/', baseUrl).href, { timeout: 5000 }).catch(() => {});
  check(page.url() === new URL('/', baseUrl).href, 'following the 404 page link returns to "/"', page.url());
  await page.close();
}

// ---- Main ----------------------------------------------------------------

let exitCode = 1;
try {
  const screenshotDir = process.env.SCREENSHOT_DIR ? path.resolve(process.env.SCREENSHOT_DIR) : '';
  if (screenshotDir) await fs.mkdir(screenshotDir, { recursive: true });

  const baseUrl = await startServer();
  check(true, `server is listening at ${baseUrl}`);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 20_000 });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  context.setDefaultTimeout(10_000);

  await checkMainPage(context, baseUrl, screenshotDir);
  await checkNotFoundPage(context, baseUrl, screenshotDir);

  await context.close();
  await browser.close();
  browser = null;

  await stopServer();
  exitCode = failures.length === 0 ? 0 : 1;
} catch (err) {
  log(`FAIL - ${err instanceof Fatal ? err.message : err.stack || err}`);
  failures.push(String(err.message || err));
  exitCode = 1;
} finally {
  if (exitCode !== 0 && serverStderr.trim()) log(`# server stderr:\n${serverStderr.trimEnd()}`);
  await cleanup();
  clearTimeout(overallTimer);
}
if (failures.length) log(`# ${failures.length} check(s) failed: ${failures.join('; ')}`);
finish(exitCode);
