#!/usr/bin/env node
// The documented TLS front (docs/nginx-example.conf) in a real browser: real Debian nginx with a
// self-signed wildcard certificate for *.sandstorm.test, the daemon in wildcard-host mode behind
// it, and Debian's Chromium (playwright-core) resolving every *.sandstorm.test name to loopback:
//
//   node tests/browser/nginx-wildcard.mjs <sandstorm> <nginx-example.conf> <notes.spk> <chat.spk>
//
// `nginx -t` accepts the example (only ports, names and certificate paths changed) -> plain
// http redirects to https -> admin setup at https://sandstorm.sandstorm.test:<port>/ -> a Notes
// grain opens at https://grain-<port>.sandstorm.test:<port>/ and a note is written and read
// back -> a Chat grain in two tabs: a message typed in one arrives in the other over a
// WebSocket that nginx upgraded (its access log shows the 101) -> SIGTERM exits 0.
//
// Exit codes: 0 pass, 1 fail, 77 skipped (nginx, openssl or Chromium missing, not root).

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CHROMIUM = '/usr/bin/chromium';
const NGINX = '/usr/sbin/nginx';
const DOMAIN = 'sandstorm.test';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  `--host-resolver-rules=MAP *.${DOMAIN} 127.0.0.1`, '--ignore-certificate-errors'];
const OVERALL_TIMEOUT_MS = 100_000;
const STARTUP_TIMEOUT_MS = 30_000;

const here = path.dirname(fileURLToPath(import.meta.url));
const uiDir = path.resolve(here, '..', '..', 'shell-ui');
const [binaryArg, exampleArg, notesSpk, chatSpk] = process.argv.slice(2);
if (!binaryArg || !exampleArg || !notesSpk || !chatSpk) {
  console.log('usage: node nginx-wildcard.mjs <sandstorm> <nginx-example.conf> <notes.spk> <chat.spk>');
  process.exit(1);
}
const skip = (why) => { console.log(`SKIPPED: ${why}`); process.exit(77); };
if (!existsSync(CHROMIUM)) skip(`${CHROMIUM} is missing (apt-get install chromium)`);
if (!existsSync(NGINX)) skip(`${NGINX} is missing (apt-get install nginx-light)`);
if (spawnSync('openssl', ['version']).status !== 0) skip('openssl is missing');
if (process.getuid() !== 0) skip('grains need root');
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
let nginxStarted = false;
function stopNginx() {
  if (!nginxStarted) return;
  try { process.kill(Number(readFileSync(path.join(tmpDir, 'nginx.pid'), 'utf8')), 'SIGTERM'); } catch { /* gone */ }
  nginxStarted = false;
}
function killServerHard() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  try { process.kill(-server.pid, 'SIGKILL'); } catch { /* gone */ }
}
const overallTimer = setTimeout(() => {
  log(`FAIL - overall time limit of ${OVERALL_TIMEOUT_MS / 1000} s exceeded during: ${step}`);
  log(`# server output:\n${serverOutput.slice(-4000)}`);
  killServerHard();
  stopNginx();
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

// `count` consecutive loopback ports that are free right now (below the ephemeral range).
async function freePorts(count) {
  const tryListen = (port) => new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(null));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
  for (let attempt = 0; attempt < 200; attempt++) {
    const first = 20000 + Math.floor(Math.random() * 12000);
    const held = [];
    for (let p = first; p < first + count; p++) {
      const s = await tryListen(p);
      if (!s) break;
      held.push(s);
    }
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    if (held.length === count) return Array.from({ length: count }, (_, i) => first + i);
  }
  throw new Error('no free ports');
}

function foregroundVerb() {
  const r = spawnSync(binaryArg, ['run', '--help'], { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0 ? 'run' : 'start';
}

// The example with only what a test must change: names, ports, certificate paths. Each
// replacement must match, so a changed example fails here instead of testing something else.
function siteConf(example, { https, plain, shell, grainPorts }) {
  const edits = [
    [/example\.com/g, DOMAIN],
    [/example\\\.com/g, DOMAIN.replace('.', '\\.')],
    [/\/etc\/ssl\/sandstorm\/fullchain\.pem/g, path.join(tmpDir, 'cert.pem')],
    [/\/etc\/ssl\/sandstorm\/privkey\.pem/g, path.join(tmpDir, 'key.pem')],
    [/listen 443 ssl http2;/g, `listen 127.0.0.1:${https} ssl http2;`],
    [/listen \[::\]:443 ssl http2;/g, ''],
    [/listen 80;/g, `listen 127.0.0.1:${plain};`],
    [/listen \[::\]:80;/g, ''],
    [/127\.0\.0\.1:6080/g, `127.0.0.1:${shell}`],
    [/70\[0-9\]\[0-9\]/g, `(?:${grainPorts.join('|')})`],
  ];
  let conf = example;
  for (const [pattern, replacement] of edits) {
    if (!pattern.test(conf)) throw new Error(`docs/nginx-example.conf no longer contains ${pattern}`);
    conf = conf.replace(pattern, replacement);
  }
  return conf;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

async function startServer(shellPort, grainPorts, demoDir) {
  const args = [foregroundVerb(), '--port', String(shellPort), '--data-dir', path.join(tmpDir, 'data'),
    '--ui-dir', uiDir, '--demo-apps', demoDir, '--grain-ports', `${grainPorts[0]}-${grainPorts[1]}`,
    '--wildcard-host', `*.${DOMAIN}`];
  log(`# starting: ${binaryArg} ${args.join(' ')}`);
  server = spawn(path.resolve(binaryArg), args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const exited = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));
  server.stderr.setEncoding('utf8');
  server.stderr.on('data', (c) => { serverOutput += c; });
  server.stdout.setEncoding('utf8');
  return await new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('server did not print its setup link in time')), STARTUP_TIMEOUT_MS);
    exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`server exited early (code ${code}, signal ${signal})`)); });
    server.stdout.on('data', (chunk) => {
      text += chunk;
      serverOutput += chunk;
      const setup = /#\/setup\/([0-9A-Za-z_-]+)/.exec(text);
      if (setup) { clearTimeout(timer); resolve(setup[1]); }
    });
  });
}

async function grainFrame(page, expectText) {
  const handle = await page.waitForSelector('iframe.grain-frame', { timeout: 15_000 });
  const frame = await handle.contentFrame();
  await frame.waitForLoadState('load');
  if (expectText) await frame.getByText(expectText, { exact: false }).first().waitFor({ timeout: 15_000 });
  return frame;
}

let exitCode = 1;
try {
  tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sandstorm-nginx-'));
  await fs.chmod(tmpDir, 0o711);  // grains run as their own uid and must reach their storage
  const [https, plain, shell] = await freePorts(3);
  const grainPorts = await freePorts(2);

  stepLog('nginx with the example configuration');
  const cert = run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
    '-keyout', path.join(tmpDir, 'key.pem'), '-out', path.join(tmpDir, 'cert.pem'),
    '-subj', `/CN=*.${DOMAIN}`, '-addext', `subjectAltName=DNS:*.${DOMAIN},DNS:${DOMAIN}`]);
  if (!cert.ok) throw new Error(`openssl: ${cert.output}`);
  await fs.mkdir(path.join(tmpDir, 'logs'));
  const example = await fs.readFile(exampleArg, 'utf8');
  check(/proxy_set_header Upgrade \$http_upgrade/.test(example) && /proxy_set_header Connection \$connection_upgrade/.test(example),
    'the example forwards WebSocket upgrades');
  check(/proxy_read_timeout \S+/.test(example) && /client_max_body_size \S+/.test(example),
    'the example sets read timeouts and a body size limit');
  await fs.writeFile(path.join(tmpDir, 'site.conf'), siteConf(example, { https, plain, shell, grainPorts }));
  await fs.writeFile(path.join(tmpDir, 'nginx.conf'), [
    `pid ${tmpDir}/nginx.pid;`, `error_log ${tmpDir}/logs/error.log;`, 'events {}', 'http {',
    `  access_log ${tmpDir}/logs/access.log;`, `  include ${tmpDir}/site.conf;`, '}', ''].join('\n'));
  const nginxArgs = ['-p', tmpDir, '-c', path.join(tmpDir, 'nginx.conf')];
  const test = run(NGINX, ['-t', ...nginxArgs]);
  check(test.ok, 'nginx -t accepts the example configuration', test.output);
  const started = run(NGINX, nginxArgs);
  if (!started.ok) throw new Error(`nginx did not start: ${started.output}`);
  nginxStarted = true;

  const redirect = await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: plain, path: '/x', headers: { Host: `sandstorm.${DOMAIN}` } },
      (res) => { res.resume(); resolve(`${res.statusCode} ${res.headers.location}`); }).on('error', reject);
  });
  check(redirect === `301 https://sandstorm.${DOMAIN}/x`, 'plain http redirects to https', redirect);

  stepLog('server in wildcard-host mode');
  const demoDir = path.join(tmpDir, 'demo-apps');
  await fs.mkdir(demoDir);
  await fs.copyFile(notesSpk, path.join(demoDir, 'notes.spk'));
  await fs.copyFile(chatSpk, path.join(demoDir, 'chat.spk'));
  const token = await startServer(shell, grainPorts, demoDir);
  const base = `https://sandstorm.${DOMAIN}:${https}`;

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ignoreHTTPSErrors: true });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`uncaught exception: ${err.message}`));

  stepLog('setup over https');
  await page.goto(`${base}/#/setup/${token}`);
  await page.getByLabel('Administrator name').fill('alice');
  await page.getByLabel('Password', { exact: true }).fill('a long enough password');
  await page.getByLabel('Password again').fill('a long enough password');
  await page.getByRole('button', { name: 'Create the administrator account' }).click();
  await page.getByRole('heading', { name: 'Your grains', exact: true }).waitFor();
  const session = (await context.cookies()).find((c) => c.name === 'sandstorm-session');
  check(session && session.secure, 'the shell works over https through nginx; its login cookie is Secure');

  stepLog('notes grain on its own https host');
  await page.getByRole('button', { name: /New notebook/ }).click();
  let frame = await grainFrame(page, 'Notes');
  const origin = new URL(frame.url()).origin;
  check(new RegExp(`^https://grain-(${grainPorts.join('|')})\\.sandstorm\\.test:${https}$`).test(origin),
    'the grain opens on its own https grain-<port> host', origin);
  await frame.locator('textarea[name=text]').fill('written through nginx');
  await frame.getByRole('button', { name: 'Add note' }).click();
  await frame.getByText('written through nginx').first().waitFor();
  await page.reload();
  await grainFrame(page, 'written through nginx');
  check(true, 'a note written through the proxy is there after a reload');

  stepLog('chat grain: WebSocket through nginx');
  await page.goto(`${base}/#/grains`);
  await page.getByRole('button', { name: /New chat room/ }).click();
  const chatA = await grainFrame(page, 'Chat room');
  await chatA.getByText('connected', { exact: true }).waitFor();
  const tabB = await context.newPage();
  await tabB.goto(page.url());
  const chatB = await grainFrame(tabB, 'Chat room');
  await chatB.getByText('connected', { exact: true }).waitFor();
  await chatA.getByPlaceholder('Write a message').fill('hello through nginx');
  await chatA.getByPlaceholder('Write a message').press('Enter');
  await chatB.getByText('hello through nginx').waitFor();
  check(true, 'a chat message typed in one tab arrives in the other');
  const access = await fs.readFile(path.join(tmpDir, 'logs', 'access.log'), 'utf8');
  // nginx logs a WebSocket when it closes: reload both tabs' chats away first.
  await tabB.close();
  await page.goto(`${base}/#/grains`);
  await page.waitForTimeout(500);
  const accessAfter = await fs.readFile(path.join(tmpDir, 'logs', 'access.log'), 'utf8');
  check(/" 101 /.test(access + accessAfter), 'nginx switched protocols (101) for the WebSocket',
    accessAfter.split('\n').filter((l) => /GET/.test(l)).slice(-5).join(' | '));
  check(problems.length === 0, 'no uncaught exceptions in the shell', problems.join('; '));

  stepLog('stop');
  const exited = new Promise((resolve) => server.on('exit', (code) => resolve(code)));
  process.kill(server.pid, 'SIGTERM');
  check(await exited === 0, 'SIGTERM stops the server with exit code 0');
  exitCode = failures.length === 0 ? 0 : 1;
} catch (e) {
  log(`FAIL - ${step}: ${e.stack || e}`);
  log(`# server output:\n${serverOutput.slice(-4000)}`);
  if (tmpDir) {
    const err = await fs.readFile(path.join(tmpDir, 'logs', 'error.log'), 'utf8').catch(() => '');
    log(`# nginx error log:\n${err.slice(-2000)}`);
  }
}
clearTimeout(overallTimer);
if (browser) await browser.close().catch(() => {});
killServerHard();
stopNginx();
if (tmpDir) await fs.rm(tmpDir, { recursive: true, force: true }).catch(() => {});
log(`${failures.length === 0 && exitCode === 0 ? 'PASS' : 'FAIL'} (${failures.length} failed checks)`);
process.exit(exitCode);
