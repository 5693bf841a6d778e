// harness.mjs — starts a throwaway postern instance (setup, an accepted
// domain, an OrgAdmin mailbox, `run` and `console` on free loopback ports)
// and a headless Debian chromium driven by playwright-core, for the
// console's browser tests.
// Env: POSTERN_BIN (default build/postern of this repo), CHROMIUM
// (default /usr/bin/chromium), KEEP_INSTANCE=1 keeps the instance dir.
// Must never: download a browser, listen beyond loopback, wait without a
// bound, or leave a process running (stop() kills what start() spawned).

import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, chmodSync, rmSync, mkdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { request } from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(HERE, '..', '..');
export const BIN = process.env.POSTERN_BIN || join(REPO, 'build', 'postern');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const FQDN = 'mail.contoso.test';
export const DOMAIN = 'contoso.test';
export const ADMIN = 'alice';
export const ADMIN_PASSWORD = 'correct horse 1';
export const SCREENSHOTS = join(HERE, 'screenshots');

// A free TCP port on 127.0.0.1 (the kernel's choice for port 0).
export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls probe() until it is true, at most ms; throws with what on timeout.
export async function waitFor(what, probe, ms = 20000) {
  const end = Date.now() + ms;
  let last = null;
  while (Date.now() < end) {
    try {
      if (await probe()) return;
    } catch (e) {
      last = e;
    }
    await sleep(150);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (${last.message})` : ''}`);
}

function tcpOpen(port, host = '127.0.0.1') {
  return new Promise((ok) => {
    const s = connect({ port, host });
    s.setTimeout(1000);
    s.once('connect', () => { s.destroy(); ok(true); });
    s.once('error', () => ok(false));
    s.once('timeout', () => { s.destroy(); ok(false); });
  });
}

function httpsStatus(url) {
  return new Promise((ok, fail) => {
    const req = request(url, { rejectUnauthorized: false, timeout: 2000 }, (res) => { res.resume(); ok(res.statusCode); });
    req.once('error', fail);
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

// Runs `postern -D dir args...` (input on stdin); returns stdout, throws
// with stderr when the exit status is not 0.
export function posternIn(dir, args, { input = '', timeout = 30000 } = {}) {
  try {
    return execFileSync(BIN, ['-D', dir, ...args], { input, timeout, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    const err = new Error(`postern ${args.join(' ')} failed (${e.status}): ${e.stderr || e.message}`);
    err.stdout = e.stdout;
    err.stderr = e.stderr;
    throw err;
  }
}

// A new instance: setup, domain, admin. {dir, smtpPort, consolePort, postern(args, opts)}
export async function makeInstance(prefix = 'postern-browser-') {
  const dir = mkdtempSync(join('/tmp', prefix));
  chmodSync(dir, 0o755);
  const smtpPort = await freePort();
  const consolePort = await freePort();
  const postern = (args, opts) => posternIn(dir, args, opts);
  postern(['setup', '--fqdn', FQDN, '--bind', `127.0.0.1:${smtpPort}`]);
  postern(['New-AcceptedDomain', '-Name', DOMAIN, '-DomainName', DOMAIN]);
  postern(['New-Mailbox', '-Name', ADMIN, '-PrimarySmtpAddress', `${ADMIN}@${DOMAIN}`, '-Password', '-'], { input: `${ADMIN_PASSWORD}\n` });
  postern(['Set-TransportConfig', '-ConsoleBindings', `127.0.0.1:${consolePort}`]);
  return { dir, smtpPort, consolePort, postern };
}

// Every process start() spawned and not yet stopped: if this node process
// ends without stop() (a crash, a signal, a closed pipe), they get SIGTERM.
const live = new Set();
function killLive() {
  for (const c of live) {
    try { c.kill('SIGTERM'); } catch { /* already gone */ }
  }
}
process.once('exit', killLive);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { killLive(); process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1)); });
}

function startProcess(dir, args, logName) {
  const child = spawn(BIN, ['-D', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const log = [];
  child.stdout.on('data', (d) => log.push(d.toString()));
  child.stderr.on('data', (d) => log.push(d.toString()));
  child.exited = new Promise((r) => child.once('exit', (code, sig) => r({ code, sig })));
  child.logText = () => log.join('');
  child.logName = logName;
  return child;
}

async function stopProcess(child, ms = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const done = await Promise.race([child.exited, sleep(ms).then(() => null)]);
  if (!done) {
    child.kill('SIGKILL');
    await Promise.race([child.exited, sleep(2000)]);
  }
}

// The whole stage: instance + run + console + chromium.
// -> {page, browser, dir, base, smtpPort, postern(args, opts), signIn(), stop(), logs()}
export async function start({ admin = true } = {}) {
  const inst = await makeInstance();
  const procs = [];
  let browser = null;
  const h = {
    ...inst,
    base: `https://127.0.0.1:${inst.consolePort}`,
    logs: () => procs.map((p) => `--- ${p.logName}\n${p.logText()}`).join('\n'),
    async stop({ keep = !!process.env.KEEP_INSTANCE } = {}) {
      if (browser) await browser.close().catch(() => {});
      for (const p of procs.reverse()) await stopProcess(p);
      if (!keep) rmSync(inst.dir, { recursive: true, force: true });
    },
  };
  try {
    if (admin) inst.postern(['Add-ExchangeAdministrator', '-Identity', ADMIN, '-Role', 'OrgAdmin']);
    procs.push(startProcess(inst.dir, ['run'], 'run'));
    procs.push(startProcess(inst.dir, ['console'], 'console'));
    await waitFor('the SMTP listener', () => tcpOpen(inst.smtpPort));
    await waitFor('the console', async () => (await httpsStatus(`${h.base}/api/session`)) > 0);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
      timeout: 30000,
    });
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
    context.setDefaultTimeout(10000);
    h.browser = browser;
    h.page = await context.newPage();
    h.consoleErrors = [];
    h.page.on('console', (m) => { if (m.type() === 'error') h.consoleErrors.push(m.text()); });
    h.page.on('pageerror', (e) => h.consoleErrors.push(String(e)));
    h.signIn = async (user = ADMIN, password = ADMIN_PASSWORD) => {
      const page = h.page;
      await page.goto(`${h.base}/`);
      await page.getByLabel('User name').fill(user);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('Organization Configuration').waitFor();
    };
    h.shot = async (name, target) => {
      mkdirSync(SCREENSHOTS, { recursive: true });
      await (target || h.page).screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
    };
    return h;
  } catch (e) {
    const logs = h.logs();
    await h.stop();
    e.message += `\n${logs}`;
    throw e;
  }
}
